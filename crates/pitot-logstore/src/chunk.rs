//! The chunk format: one stream's entries over a time span, columnar and compressed.
//!
//! # Byte layout (version 1, integers little-endian)
//!
//! ```text
//! offset size field
//!      0    4 magic "PLC1"
//!      4    1 version = 1
//!      5    1 flags: bit 0 = a metadata column follows
//!      6    2 reserved, zero
//!      8    4 entries (u32)
//!     12    8 min_ts (i64 ns)
//!     20    8 max_ts (i64 ns)
//!     28    4 raw line bytes (u32): the decompressed size of the line column
//!     32    4 size of the compressed timestamp+length column
//!     36    4 size of its decompressed form
//!     40    4 size of the compressed line column
//!     44    4 size of the compressed metadata column (0 without flag bit 0)
//!     48    4 size of its decompressed form
//!     52    . timestamp+length column (zstd): a uvarint unit (the greatest common
//!             divisor of the deltas, at least 1: clients often send ms or µs
//!             precision), `entries` uvarint timestamp deltas divided by the unit (the
//!             first from min_ts; entries are sorted, so deltas are >= 0), then
//!             `entries` uvarint line lengths
//!      .    . line column (zstd): every line's bytes, back to back, no separators
//!      .    . metadata column (zstd, optional): per entry a uvarint pair count, then
//!             per pair a uvarint-length-prefixed name and value
//!  end-4    4 crc32 (IEEE) of every byte before it
//! ```
//!
//! Lines are kept apart from timestamps and metadata so a line filter scans one
//! contiguous buffer, and so zstd sees only text in the line column. The chunk's token
//! filter is not inside the chunk: it lives in the head and in the block index, next to
//! the chunk's metadata, so a query rules chunks out without fetching them.

use bytes::Bytes;
use pitot_core::Label;

use crate::varint::{put_bytes, put_uvarint, Reader};

const MAGIC: &[u8; 4] = b"PLC1";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 52;
const FLAG_METADATA: u8 = 1;
/// Largest decompressed column a chunk may declare, so hostile input cannot make the
/// decoder allocate without bound.
pub const MAX_COLUMN_BYTES: usize = 256 << 20;

/// Why a chunk does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log chunk is corrupt: {0}")]
pub struct ChunkError(pub &'static str);

/// What is known about a chunk without decompressing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkMeta {
    /// Oldest entry (ns).
    pub min_ts: i64,
    /// Newest entry (ns).
    pub max_ts: i64,
    /// Number of entries.
    pub entries: u32,
    /// Raw line bytes (what `bytes_over_time` and index stats count).
    pub raw_bytes: u32,
}

impl ChunkMeta {
    /// Whether the chunk has entries in `[start, end)`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.max_ts >= start && self.min_ts < end
    }
}

/// A sealed chunk: its encoded bytes, metadata and line filter, shared by the head,
/// checkpoints, blocks and queries.
#[derive(Debug, Clone)]
pub struct SealedChunk {
    /// Header fields.
    pub meta: ChunkMeta,
    /// The encoded chunk (layout above).
    pub bytes: Bytes,
    /// The serialized [`crate::filter::LineFilter`] over its lines.
    pub filter: Bytes,
}

/// Entries in columns, as the head buffers them and a decoded chunk returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Timestamps (ns).
    pub ts: Vec<i64>,
    /// End offset of each line in `lines`.
    pub ends: Vec<u32>,
    /// All lines back to back.
    pub lines: Vec<u8>,
    /// Structured metadata of the entries that have some: (entry index, pairs),
    /// ascending by index.
    pub metadata: Vec<(u32, Vec<Label>)>,
}

impl Columns {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The bytes of line `i`.
    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.lines[start..self.ends[i] as usize]
    }

    /// Appends an entry.
    pub fn push(&mut self, ts: i64, line: &[u8], metadata: Vec<Label>) {
        if !metadata.is_empty() {
            self.metadata.push((self.ts.len() as u32, metadata));
        }
        self.ts.push(ts);
        self.lines.extend_from_slice(line);
        self.ends.push(self.lines.len() as u32);
    }

    /// The metadata of entry `i` (empty when it has none).
    pub fn metadata_of(&self, i: usize) -> &[Label] {
        match self.metadata.binary_search_by_key(&(i as u32), |(j, _)| *j) {
            Ok(k) => &self.metadata[k].1,
            Err(_) => &[],
        }
    }

    /// Whether timestamps ascend (ties allowed).
    pub fn is_sorted(&self) -> bool {
        self.ts.windows(2).all(|w| w[0] <= w[1])
    }

    /// The same entries sorted by timestamp, equal timestamps in insertion order.
    pub fn sorted(&self) -> Columns {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_key(|&i| self.ts[i as usize]);
        let mut out = Columns {
            ts: Vec::with_capacity(self.len()),
            ends: Vec::with_capacity(self.len()),
            lines: Vec::with_capacity(self.lines.len()),
            metadata: Vec::new(),
        };
        for &i in &order {
            let i = i as usize;
            out.push(self.ts[i], self.line(i), self.metadata_of(i).to_vec());
        }
        out
    }
}

/// Encodes sorted `columns` into a chunk and builds its line filter.
///
/// The caller guarantees timestamps ascend and the columns hold at least one entry.
pub fn encode(columns: &Columns, zstd_level: i32) -> SealedChunk {
    debug_assert!(!columns.is_empty() && columns.is_sorted());
    let n = columns.len();
    let min_ts = columns.ts[0];
    let max_ts = columns.ts[n - 1];

    let mut small = Vec::with_capacity(n * 5);
    let unit = columns
        .ts
        .windows(2)
        .fold(0u64, |g, w| gcd(g, w[1].wrapping_sub(w[0]) as u64))
        .max(1);
    put_uvarint(&mut small, unit);
    let mut prev = min_ts;
    for &ts in &columns.ts {
        put_uvarint(&mut small, ts.wrapping_sub(prev) as u64 / unit);
        prev = ts;
    }
    let mut start = 0u32;
    for &end in &columns.ends {
        put_uvarint(&mut small, u64::from(end - start));
        start = end;
    }
    let small_z = compress(&small, 3);
    let lines_z = compress(&columns.lines, zstd_level);
    let (meta_raw_len, meta_z) = if columns.metadata.is_empty() {
        (0, Vec::new())
    } else {
        let mut meta = Vec::new();
        let mut pairs = columns.metadata.iter().peekable();
        for i in 0..n as u32 {
            match pairs.next_if(|(j, _)| *j == i) {
                Some((_, labels)) => {
                    put_uvarint(&mut meta, labels.len() as u64);
                    for label in labels {
                        put_bytes(&mut meta, label.name.as_bytes());
                        put_bytes(&mut meta, label.value.as_bytes());
                    }
                }
                None => meta.push(0),
            }
        }
        (meta.len(), compress(&meta, zstd_level))
    };

    let total = HEADER_LEN + small_z.len() + lines_z.len() + meta_z.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if meta_z.is_empty() { 0 } else { FLAG_METADATA });
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&min_ts.to_le_bytes());
    out.extend_from_slice(&max_ts.to_le_bytes());
    out.extend_from_slice(&(columns.lines.len() as u32).to_le_bytes());
    for len in [
        small_z.len(),
        small.len(),
        lines_z.len(),
        meta_z.len(),
        meta_raw_len,
    ] {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&small_z);
    out.extend_from_slice(&lines_z);
    out.extend_from_slice(&meta_z);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());

    let mut filter = crate::filter::FilterBuilder::new();
    for i in 0..n {
        filter.add_line(columns.line(i));
    }
    SealedChunk {
        meta: ChunkMeta {
            min_ts,
            max_ts,
            entries: n as u32,
            raw_bytes: columns.lines.len() as u32,
        },
        bytes: Bytes::from(out),
        filter: Bytes::from(filter.finish()),
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn compress(data: &[u8], level: i32) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    // Compressing from a slice into a Vec cannot fail except on allocation failure.
    zstd::bulk::compress(data, level).unwrap_or_else(|_| Vec::new())
}

/// The parsed fixed header.
struct Header {
    meta: ChunkMeta,
    flags: u8,
    small_z: usize,
    small_raw: usize,
    lines_z: usize,
    meta_z: usize,
    meta_raw: usize,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

/// Checks the magic, version, sizes and checksum, and returns the header.
fn check(bytes: &[u8]) -> Result<Header, ChunkError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(ChunkError("shorter than its header"));
    }
    if &bytes[..4] != MAGIC {
        return Err(ChunkError("bad magic"));
    }
    if bytes[4] != VERSION {
        return Err(ChunkError("unknown version"));
    }
    let body = bytes.len() - 4;
    if crc32fast::hash(&bytes[..body]) != le_u32(bytes, body) {
        return Err(ChunkError("checksum mismatch"));
    }
    let header = Header {
        meta: ChunkMeta {
            entries: le_u32(bytes, 8),
            min_ts: le_i64(bytes, 12),
            max_ts: le_i64(bytes, 20),
            raw_bytes: le_u32(bytes, 28),
        },
        flags: bytes[5],
        small_z: le_u32(bytes, 32) as usize,
        small_raw: le_u32(bytes, 36) as usize,
        lines_z: le_u32(bytes, 40) as usize,
        meta_z: le_u32(bytes, 44) as usize,
        meta_raw: le_u32(bytes, 48) as usize,
    };
    let columns = header.small_z as u64 + header.lines_z as u64 + header.meta_z as u64;
    if HEADER_LEN as u64 + columns != body as u64 {
        return Err(ChunkError("column sizes do not add up to the chunk size"));
    }
    let m = &header.meta;
    if m.entries == 0 || m.min_ts > m.max_ts {
        return Err(ChunkError("empty chunk or inverted time range"));
    }
    if [header.small_raw, m.raw_bytes as usize, header.meta_raw]
        .iter()
        .any(|&n| n > MAX_COLUMN_BYTES)
    {
        return Err(ChunkError("column larger than the limit"));
    }
    if header.flags & !FLAG_METADATA != 0
        || (header.flags & FLAG_METADATA == 0) != (header.meta_z == 0)
    {
        return Err(ChunkError("flags disagree with the metadata column"));
    }
    Ok(header)
}

/// Reads a chunk's metadata after checking its header and checksum.
pub fn read_meta(bytes: &[u8]) -> Result<ChunkMeta, ChunkError> {
    Ok(check(bytes)?.meta)
}

fn decompress(data: &[u8], len: usize) -> Result<Vec<u8>, ChunkError> {
    if len == 0 {
        return if data.is_empty() {
            Ok(Vec::new())
        } else {
            Err(ChunkError("data for an empty column"))
        };
    }
    let out =
        zstd::bulk::decompress(data, len).map_err(|_| ChunkError("zstd column does not decode"))?;
    if out.len() != len {
        return Err(ChunkError("column size differs from the header"));
    }
    Ok(out)
}

/// Decodes a chunk into columns, validating everything; never panics on bad input.
pub fn decode(bytes: &[u8]) -> Result<Columns, ChunkError> {
    let h = check(bytes)?;
    let n = h.meta.entries as usize;
    let mut at = HEADER_LEN;
    let small = decompress(&bytes[at..at + h.small_z], h.small_raw)?;
    at += h.small_z;
    let lines = decompress(&bytes[at..at + h.lines_z], h.meta.raw_bytes as usize)?;
    at += h.lines_z;
    if n > small.len() {
        return Err(ChunkError("more entries than the timestamp column holds"));
    }

    let truncated = |_| ChunkError("timestamp or length column truncated");
    let mut r = Reader::new(&small);
    let unit = r.uvarint().map_err(truncated)?;
    if unit == 0 {
        return Err(ChunkError("zero timestamp unit"));
    }
    let mut ts = Vec::with_capacity(n);
    let mut prev = h.meta.min_ts;
    for _ in 0..n {
        let delta = r
            .uvarint()
            .map_err(truncated)?
            .checked_mul(unit)
            .ok_or(ChunkError("timestamp overflow"))?;
        let t = prev
            .checked_add_unsigned(delta)
            .ok_or(ChunkError("timestamp overflow"))?;
        ts.push(t);
        prev = t;
    }
    if ts.first() != Some(&h.meta.min_ts) || ts.last() != Some(&h.meta.max_ts) {
        return Err(ChunkError("timestamps disagree with the header"));
    }
    let mut ends = Vec::with_capacity(n);
    let mut end = 0u64;
    for _ in 0..n {
        end += r.uvarint().map_err(truncated)?;
        if end > lines.len() as u64 {
            return Err(ChunkError("line lengths exceed the line column"));
        }
        ends.push(end as u32);
    }
    if end != lines.len() as u64 || !r.is_empty() {
        return Err(ChunkError("line lengths do not cover the line column"));
    }

    let mut metadata = Vec::new();
    if h.meta_z > 0 {
        let raw = decompress(&bytes[at..at + h.meta_z], h.meta_raw)?;
        let bad = |_| ChunkError("metadata column truncated");
        let mut r = Reader::new(&raw);
        for i in 0..n as u32 {
            let pairs = r.count().map_err(bad)?;
            if pairs == 0 {
                continue;
            }
            let mut labels = Vec::with_capacity(pairs);
            for _ in 0..pairs {
                let name = r.str().map_err(bad)?;
                let value = r.str().map_err(bad)?;
                labels.push(Label::new(name, value));
            }
            metadata.push((i, labels));
        }
        if !r.is_empty() {
            return Err(ChunkError("trailing bytes in the metadata column"));
        }
    }
    Ok(Columns {
        ts,
        ends,
        lines,
        metadata,
    })
}

#[cfg(test)]
mod tests;
