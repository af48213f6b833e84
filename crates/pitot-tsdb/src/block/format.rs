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

use pitot_core::varint::{put_str, put_uvarint, put_varint, Reader, Truncated};

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
    /// Its labels as `[name, value, ...]` IDs of the symbol table it belongs to: an open
    /// block keeps every series in memory, and spelled-out label sets were most of that.
    pub labels: Box<[u32]>,
    /// Its chunks, ascending and adjacent in `chunks`.
    pub chunks: Box<[ChunkMeta]>,
}

/// A decoded block index, held in memory while the block is open.
#[derive(Debug, Default)]
pub struct BlockIndex {
    /// Label names and values, sorted; series refer to them by position.
    pub symbols: Vec<Box<str>>,
    /// Series, sorted by labels; the position is the series ID.
    pub series: Vec<BlockSeries>,
    /// label name → sorted (value, series IDs).
    pub postings: HashMap<String, Vec<(String, RoaringBitmap)>>,
}

impl BlockIndex {
    /// The label pairs of `series`.
    pub fn pairs<'a>(
        &'a self,
        series: &'a BlockSeries,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        series
            .labels
            .chunks_exact(2)
            .map(|p| (&*self.symbols[p[0] as usize], &*self.symbols[p[1] as usize]))
    }

    /// The label set of `series`.
    pub fn labels(&self, series: &BlockSeries) -> Labels {
        Labels::from_unsorted(self.pairs(series).map(|(n, v)| Label::new(n, v)).collect())
    }
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

/// Encodes an index for `series` (which must be sorted by labels), whose labels are
/// IDs into `symbols` (unique, in any order).
pub fn encode_index<S: AsRef<str>>(symbols: &[S], series: &[BlockSeries]) -> Vec<u8> {
    // The file lists symbols sorted: renumber them.
    let mut order: Vec<u32> = (0..symbols.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        symbols[a as usize]
            .as_ref()
            .cmp(symbols[b as usize].as_ref())
    });
    let mut renumbered = vec![0u64; symbols.len()];
    for (new, &old) in order.iter().enumerate() {
        renumbered[old as usize] = new as u64;
    }
    let sym = |old: u32| renumbered[old as usize];
    // Postings by (new) symbol number, which sorts them as their strings sort.
    let mut postings: BTreeMap<u64, BTreeMap<u64, RoaringBitmap>> = BTreeMap::new();
    for (id, s) in series.iter().enumerate() {
        for pair in s.labels.chunks_exact(2) {
            postings
                .entry(sym(pair[0]))
                .or_default()
                .entry(sym(pair[1]))
                .or_default()
                .insert(id as u32);
        }
    }

    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    put_uvarint(&mut buf, symbols.len() as u64);
    for &old in &order {
        put_str(&mut buf, symbols[old as usize].as_ref());
    }
    put_uvarint(&mut buf, series.len() as u64);
    for s in series {
        put_uvarint(&mut buf, (s.labels.len() / 2) as u64);
        for &id in s.labels.iter() {
            put_uvarint(&mut buf, sym(id));
        }
        put_uvarint(&mut buf, s.chunks.len() as u64);
        let mut prev_end = 0u64;
        for c in s.chunks.iter() {
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
        put_uvarint(&mut buf, *name);
        put_uvarint(&mut buf, values.len() as u64);
        for (value, ids) in values {
            put_uvarint(&mut buf, *value);
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
    let mut symbols: Vec<Box<str>> = Vec::with_capacity(n_symbols);
    for _ in 0..n_symbols {
        symbols.push(r.str()?.into());
    }
    let symbol_id = |i: u64| -> Result<u32, IndexError> {
        if i < symbols.len() as u64 {
            Ok(i as u32)
        } else {
            Err(IndexError(format!("symbol {i} out of range")))
        }
    };
    let symbol = |i: u64| -> Result<&str, IndexError> { Ok(&symbols[symbol_id(i)? as usize]) };
    let n_series = r.count()?;
    let mut series = Vec::with_capacity(n_series);
    for _ in 0..n_series {
        let n_labels = r.count()?;
        let mut labels = Vec::with_capacity(n_labels * 2);
        for _ in 0..n_labels * 2 {
            labels.push(symbol_id(r.uvarint()?)?);
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
            labels: labels.into_boxed_slice(),
            chunks: chunks.into_boxed_slice(),
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
    Ok(BlockIndex {
        symbols,
        series,
        postings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_rejects_corruption() {
        // Symbols in any order: the file sorts them.
        let symbols = ["job", "__name__", "x", "b", "a"];
        let series = vec![
            BlockSeries {
                labels: Box::new([1, 4, 0, 2]),
                chunks: Box::new([
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
                ]),
            },
            BlockSeries {
                labels: Box::new([1, 3, 0, 2]),
                chunks: Box::new([ChunkMeta {
                    min_t: 0,
                    max_t: 0,
                    offset: 17,
                    len: 3,
                }]),
            },
        ];
        let bytes = encode_index(&symbols, &series);
        let index = decode_index(&bytes).unwrap();
        assert_eq!(
            index.symbols.iter().map(|s| &**s).collect::<Vec<_>>(),
            ["__name__", "a", "b", "job", "x"]
        );
        assert_eq!(
            index.labels(&index.series[0]),
            Labels::from_pairs([("__name__", "a"), ("job", "x")])
        );
        assert_eq!(
            index.labels(&index.series[1]),
            Labels::from_pairs([("__name__", "b"), ("job", "x")])
        );
        assert_eq!(index.series[0].chunks, series[0].chunks);
        assert_eq!(index.series[1].chunks, series[1].chunks);
        let job = &index.postings["job"];
        assert_eq!(job.len(), 1);
        assert_eq!(job[0].1.iter().collect::<Vec<_>>(), [0, 1]);
        assert!(decode_index(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode_index(b"garbage").is_err());
    }
}
