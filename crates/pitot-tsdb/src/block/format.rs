//! The block index: symbols, series with their chunk references, and postings.
//!
//! Layout of the `index` object (the whole buffer is zstd-compressed):
//!
//! ```text
//! "PTIX" u8 version (1)
//! uvarint symbol count, str*                       sorted, unique label names and values
//! uvarint series count                              series sorted by labels; series ID = position
//!   uvarint label count, (uvarint name symbol, uvarint value symbol)*
//!   uvarint chunk count,
//!     (varint min_t, uvarint max_t - min_t, uvarint offset delta, uvarint length)*
//! uvarint label name count                          sorted by name
//!   uvarint name symbol, uvarint value count        values sorted
//!     (uvarint value symbol, uvarint bitmap length, roaring bitmap bytes)*
//! ```
//!
//! Chunk offsets point into the block's `chunks` object, which is the concatenation of
//! chunk encodings (`pitot-chunkenc`); a series' chunks are adjacent and ascending in
//! time, so reading one series is one ranged read.

use std::collections::{BTreeMap, HashMap};

use pitot_core::{Label, Labels};
use roaring::RoaringBitmap;

use crate::varint::{put_str, put_uvarint, put_varint, Reader, Truncated};

const MAGIC: &[u8; 4] = b"PTIX";
const VERSION: u8 = 1;

/// Where one chunk of a series lives in the `chunks` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Oldest sample timestamp.
    pub min_t: i64,
    /// Newest sample timestamp.
    pub max_t: i64,
    /// Byte offset in `chunks`.
    pub offset: u64,
    /// Byte length.
    pub len: u32,
}

/// One series of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSeries {
    /// Its labels.
    pub labels: Labels,
    /// Its chunks, ascending and adjacent in `chunks`.
    pub chunks: Vec<ChunkMeta>,
}

/// A decoded block index, held in memory while the block is open.
#[derive(Debug, Default)]
pub struct BlockIndex {
    /// Series, sorted by labels; the position is the series ID.
    pub series: Vec<BlockSeries>,
    /// label name → sorted (value, series IDs).
    pub postings: HashMap<String, Vec<(String, RoaringBitmap)>>,
}

/// The index bytes do not decode.
#[derive(Debug, thiserror::Error)]
#[error("block index is corrupt: {0}")]
pub struct IndexError(pub String);

impl From<Truncated> for IndexError {
    fn from(_: Truncated) -> Self {
        IndexError("truncated".into())
    }
}

/// Encodes an index for `series` (which must be sorted by labels).
pub fn encode_index(series: &[BlockSeries]) -> Vec<u8> {
    let mut symbols: Vec<&str> = Vec::new();
    let mut postings: BTreeMap<&str, BTreeMap<&str, RoaringBitmap>> = BTreeMap::new();
    for (id, s) in series.iter().enumerate() {
        for label in &s.labels {
            symbols.push(&label.name);
            symbols.push(&label.value);
            postings
                .entry(&label.name)
                .or_default()
                .entry(&label.value)
                .or_default()
                .insert(id as u32);
        }
    }
    symbols.sort_unstable();
    symbols.dedup();
    let sym = |s: &str| symbols.binary_search(&s).expect("every label is a symbol") as u64;

    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    put_uvarint(&mut buf, symbols.len() as u64);
    for s in &symbols {
        put_str(&mut buf, s);
    }
    put_uvarint(&mut buf, series.len() as u64);
    for s in series {
        put_uvarint(&mut buf, s.labels.len() as u64);
        for label in &s.labels {
            put_uvarint(&mut buf, sym(&label.name));
            put_uvarint(&mut buf, sym(&label.value));
        }
        put_uvarint(&mut buf, s.chunks.len() as u64);
        let mut prev_end = 0u64;
        for c in &s.chunks {
            put_varint(&mut buf, c.min_t);
            put_uvarint(&mut buf, (c.max_t - c.min_t) as u64);
            put_uvarint(&mut buf, c.offset - prev_end.min(c.offset));
            put_uvarint(&mut buf, u64::from(c.len));
            prev_end = c.offset + u64::from(c.len);
        }
    }
    put_uvarint(&mut buf, postings.len() as u64);
    let mut bitmap = Vec::new();
    for (name, values) in &postings {
        put_uvarint(&mut buf, sym(name));
        put_uvarint(&mut buf, values.len() as u64);
        for (value, ids) in values {
            put_uvarint(&mut buf, sym(value));
            bitmap.clear();
            ids.serialize_into(&mut bitmap)
                .expect("writing to a Vec cannot fail");
            put_uvarint(&mut buf, bitmap.len() as u64);
            buf.extend_from_slice(&bitmap);
        }
    }
    zstd::bulk::compress(&buf, 3).expect("zstd compression of a buffer cannot fail")
}

/// Decodes an index written by [`encode_index`].
pub fn decode_index(compressed: &[u8]) -> Result<BlockIndex, IndexError> {
    let buf = zstd::stream::decode_all(compressed).map_err(|e| IndexError(format!("zstd: {e}")))?;
    let mut r = Reader::new(&buf);
    if r.bytes(4)? != MAGIC {
        return Err(IndexError("bad magic".into()));
    }
    let version = r.bytes(1)?[0];
    if version != VERSION {
        return Err(IndexError(format!("unsupported version {version}")));
    }
    let n_symbols = r.count()?;
    let mut symbols = Vec::with_capacity(n_symbols);
    for _ in 0..n_symbols {
        symbols.push(r.str()?);
    }
    let symbol = |i: u64| -> Result<&str, IndexError> {
        symbols
            .get(i as usize)
            .copied()
            .ok_or_else(|| IndexError(format!("symbol {i} out of range")))
    };
    let n_series = r.count()?;
    let mut series = Vec::with_capacity(n_series);
    for _ in 0..n_series {
        let n_labels = r.count()?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let name = symbol(r.uvarint()?)?;
            let value = symbol(r.uvarint()?)?;
            labels.push(Label::new(name, value));
        }
        let n_chunks = r.count()?;
        let mut chunks = Vec::with_capacity(n_chunks);
        let mut prev_end = 0u64;
        for _ in 0..n_chunks {
            let min_t = r.varint()?;
            let max_t = min_t.wrapping_add(r.uvarint()? as i64);
            let offset = prev_end
                .checked_add(r.uvarint()?)
                .ok_or_else(|| IndexError("chunk offset overflows".into()))?;
            let len = u32::try_from(r.uvarint()?)
                .map_err(|_| IndexError("chunk length overflows".into()))?;
            prev_end = offset
                .checked_add(u64::from(len))
                .ok_or_else(|| IndexError("chunk end overflows".into()))?;
            chunks.push(ChunkMeta {
                min_t,
                max_t,
                offset,
                len,
            });
        }
        series.push(BlockSeries {
            labels: Labels::from_unsorted(labels),
            chunks,
        });
    }
    let n_names = r.count()?;
    let mut postings = HashMap::with_capacity(n_names);
    for _ in 0..n_names {
        let name = symbol(r.uvarint()?)?.to_string();
        let n_values = r.count()?;
        let mut values = Vec::with_capacity(n_values);
        for _ in 0..n_values {
            let value = symbol(r.uvarint()?)?.to_string();
            let len = r.count()?;
            let ids = RoaringBitmap::deserialize_from(r.bytes(len)?)
                .map_err(|e| IndexError(format!("postings of {name}={value:?}: {e}")))?;
            if ids.max().is_some_and(|max| max as usize >= series.len()) {
                return Err(IndexError(format!(
                    "postings of {name}={value:?} point past the series"
                )));
            }
            values.push((value, ids));
        }
        postings.insert(name, values);
    }
    if !r.is_empty() {
        return Err(IndexError("trailing bytes".into()));
    }
    Ok(BlockIndex { series, postings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_rejects_corruption() {
        let series = vec![
            BlockSeries {
                labels: Labels::from_pairs([("__name__", "a"), ("job", "x")]),
                chunks: vec![
                    ChunkMeta {
                        min_t: -5,
                        max_t: 100,
                        offset: 0,
                        len: 10,
                    },
                    ChunkMeta {
                        min_t: 101,
                        max_t: 200,
                        offset: 10,
                        len: 7,
                    },
                ],
            },
            BlockSeries {
                labels: Labels::from_pairs([("__name__", "b"), ("job", "x")]),
                chunks: vec![ChunkMeta {
                    min_t: 0,
                    max_t: 0,
                    offset: 17,
                    len: 3,
                }],
            },
        ];
        let bytes = encode_index(&series);
        let index = decode_index(&bytes).unwrap();
        assert_eq!(index.series, series);
        let job = &index.postings["job"];
        assert_eq!(job.len(), 1);
        assert_eq!(job[0].1.iter().collect::<Vec<_>>(), [0, 1]);
        assert!(decode_index(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode_index(b"garbage").is_err());
    }
}
