//! The block index: every stream of a block with its chunks' locations, time ranges,
//! sizes and filter locations.
//!
//! Layout: `"PLBI" u8 version=1`, stream count, then per stream its labels (count, then
//! length-prefixed name and value each) and chunk count, then per chunk (varints):
//! offset and length in `chunks`, min ts (zig-zag), max − min, entries, raw line bytes,
//! offset and length of its filter in `filters`. Ends with a crc32 (LE) of every byte
//! before it. Streams are sorted by labels; chunks of a stream by min ts.

use pitot_core::{Label, Labels};

use crate::chunk::ChunkMeta;
use pitot_core::varint::{put_bytes, put_uvarint, put_varint, Reader, Truncated};

const MAGIC: &[u8; 4] = b"PLBI";
const VERSION: u8 = 1;

/// Where one chunk of a block is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// Byte offset in the block's `chunks` object.
    pub offset: u64,
    /// Encoded length.
    pub len: u64,
    /// Time range and sizes.
    pub meta: ChunkMeta,
    /// Byte offset of its filter in the block's `filters` object.
    pub filter_offset: u64,
    /// Filter length.
    pub filter_len: u64,
}

/// One stream of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockStream {
    /// Stream labels.
    pub labels: Labels,
    /// Its chunks, by min ts.
    pub chunks: Vec<ChunkRef>,
}

/// A decoded block index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIndex {
    /// Streams sorted by labels.
    pub streams: Vec<BlockStream>,
}

/// Serializes an index.
pub fn encode_index(index: &BlockIndex) -> Vec<u8> {
    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    put_uvarint(&mut buf, index.streams.len() as u64);
    for stream in &index.streams {
        put_uvarint(&mut buf, stream.labels.len() as u64);
        for l in &stream.labels {
            put_bytes(&mut buf, l.name.as_bytes());
            put_bytes(&mut buf, l.value.as_bytes());
        }
        put_uvarint(&mut buf, stream.chunks.len() as u64);
        for c in &stream.chunks {
            put_uvarint(&mut buf, c.offset);
            put_uvarint(&mut buf, c.len);
            put_varint(&mut buf, c.meta.min_ts);
            put_uvarint(&mut buf, c.meta.max_ts.wrapping_sub(c.meta.min_ts) as u64);
            put_uvarint(&mut buf, u64::from(c.meta.entries));
            put_uvarint(&mut buf, u64::from(c.meta.raw_bytes));
            put_uvarint(&mut buf, c.filter_offset);
            put_uvarint(&mut buf, c.filter_len);
        }
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// Why an index does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log block index is corrupt: {0}")]
pub struct IndexError(pub &'static str);

impl From<Truncated> for IndexError {
    fn from(_: Truncated) -> Self {
        IndexError("truncated or invalid field")
    }
}

/// Decodes an index; never panics on bad input.
pub fn decode_index(bytes: &[u8]) -> Result<BlockIndex, IndexError> {
    if bytes.len() < MAGIC.len() + 5 || &bytes[..4] != MAGIC {
        return Err(IndexError("bad magic"));
    }
    if bytes[4] != VERSION {
        return Err(IndexError("unknown version"));
    }
    let body = bytes.len() - 4;
    let crc = u32::from_le_bytes([
        bytes[body],
        bytes[body + 1],
        bytes[body + 2],
        bytes[body + 3],
    ]);
    if crc32fast::hash(&bytes[..body]) != crc {
        return Err(IndexError("checksum mismatch"));
    }
    let mut r = Reader::new(&bytes[5..body]);
    let n = r.count()?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let pairs = r.count()?;
        let mut labels = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let name = r.str()?;
            let value = r.str()?;
            labels.push(Label::new(name, value));
        }
        let chunks_n = r.count()?;
        let mut chunks = Vec::with_capacity(chunks_n);
        for _ in 0..chunks_n {
            let offset = r.uvarint()?;
            let len = r.uvarint()?;
            let min_ts = r.varint()?;
            let max_ts = min_ts
                .checked_add_unsigned(r.uvarint()?)
                .ok_or(IndexError("chunk time range overflows"))?;
            let entries = u32::try_from(r.uvarint()?).map_err(|_| IndexError("entry count"))?;
            let raw_bytes = u32::try_from(r.uvarint()?).map_err(|_| IndexError("raw bytes"))?;
            chunks.push(ChunkRef {
                offset,
                len,
                meta: ChunkMeta {
                    min_ts,
                    max_ts,
                    entries,
                    raw_bytes,
                },
                filter_offset: r.uvarint()?,
                filter_len: r.uvarint()?,
            });
        }
        streams.push(BlockStream {
            labels: Labels::from_unsorted(labels),
            chunks,
        });
    }
    if !r.is_empty() {
        return Err(IndexError("trailing bytes"));
    }
    Ok(BlockIndex { streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip_and_truncation() {
        let index = BlockIndex {
            streams: vec![BlockStream {
                labels: Labels::from_pairs([("app", "a"), ("env", "prod")]),
                chunks: vec![ChunkRef {
                    offset: 0,
                    len: 100,
                    meta: ChunkMeta {
                        min_ts: -5,
                        max_ts: 1_000,
                        entries: 3,
                        raw_bytes: 40,
                    },
                    filter_offset: 0,
                    filter_len: 16,
                }],
            }],
        };
        let bytes = encode_index(&index);
        assert_eq!(decode_index(&bytes).unwrap(), index);
        for cut in 0..bytes.len() {
            assert!(decode_index(&bytes[..cut]).is_err());
        }
    }
}
