//! The chunk format: one stream's entries over a time span, columnar and compressed.
//!
//! Two versions exist; [`encode`] writes version 2, [`decode`] reads both, so chunks in
//! blocks and checkpoints written before version 2 stay readable.
//!
//! # Version 2 (integers little-endian)
//!
//! ```text
//! offset size field
//!      0    4 magic "PLC1"
//!      4    1 version = 2
//!      5    1 flags: bit 0 = a metadata column follows
//!      6    2 reserved, zero
//!      8    4 entries (u32)
//!     12    8 min_ts (i64 ns)
//!     20    8 max_ts (i64 ns)
//!     28    4 raw line bytes (u32): the size of all lines back to back
//!     32   40 five (compressed size, decompressed size) u32 pairs: timestamps,
//!             template dictionary, template ids, numbers, metadata (0, 0 without
//!             flag bit 0)
//!     72    4 size of the hex column (stored uncompressed: random ids do not compress)
//!     76    . timestamp column (zstd): a uvarint unit (the greatest common divisor of
//!             the deltas, at least 1: clients often send ms or µs precision), then
//!             `entries` uvarint timestamp deltas divided by the unit (the first from
//!             min_ts; entries are sorted, so deltas are >= 0)
//!      .    . dictionary, ids, numbers (zstd each), hex: the line codec's columns
//!             ([`lines`]: templates plus typed variables, byte-exact)
//!      .    . metadata column (zstd, optional): per entry a uvarint pair count, then
//!             per pair a uvarint-length-prefixed name and value
//!  end-4    4 crc32 (IEEE) of every byte before it
//! ```
//!
//! Version 1 (`v1`) stored line lengths after the deltas and every line's raw bytes in
//! one zstd column. Splitting lines into templates and variables roughly halves the
//! chunk on typical logs: zstd no longer spends matches on the constant text around
//! every field, nor 8 bits per hex digit of random ids. A decoded chunk still yields
//! one contiguous line buffer, so `|= "needle"` scans stay a single memmem pass.
//!
//! The chunk's token filter is not inside the chunk: it lives in the head and in the
//! block index, next to the chunk's metadata, so a query rules chunks out without
//! fetching them.

use bytes::Bytes;
use pitot_core::Label;

use pitot_core::varint::{put_bytes, put_uvarint, Reader};

mod lines;
mod timefmt;
mod v1;
mod v2;

const MAGIC: &[u8; 4] = b"PLC1";
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

/// Encodes sorted `columns` into a (version 2) chunk and builds its line filter.
///
/// The caller guarantees timestamps ascend and the columns hold at least one entry.
pub fn encode(columns: &Columns, zstd_level: i32) -> SealedChunk {
    debug_assert!(!columns.is_empty() && columns.is_sorted());
    let bytes = v2::encode(columns, zstd_level);
    let mut filter = crate::filter::FilterBuilder::new();
    for i in 0..columns.len() {
        filter.add_line(columns.line(i));
    }
    SealedChunk {
        meta: ChunkMeta {
            min_ts: columns.ts[0],
            max_ts: columns.ts[columns.len() - 1],
            entries: columns.len() as u32,
            raw_bytes: columns.lines.len() as u32,
        },
        bytes: Bytes::from(bytes),
        filter: Bytes::from(filter.finish()),
    }
}

/// Reads a chunk's metadata after checking its header and checksum.
pub fn read_meta(bytes: &[u8]) -> Result<ChunkMeta, ChunkError> {
    match version(bytes)? {
        1 => v1::read_meta(bytes),
        _ => v2::read_meta(bytes),
    }
}

/// Decodes a chunk of either version into columns, validating everything; never
/// panics on bad input.
pub fn decode(bytes: &[u8]) -> Result<Columns, ChunkError> {
    match version(bytes)? {
        1 => v1::decode(bytes),
        _ => v2::decode(bytes),
    }
}

/// The version byte of a chunk with a valid magic.
fn version(bytes: &[u8]) -> Result<u8, ChunkError> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(ChunkError("bad magic"));
    }
    match bytes[4] {
        v @ (1 | 2) => Ok(v),
        _ => Err(ChunkError("unknown version")),
    }
}

/// Appends the timestamp unit and the scaled deltas (shared by both versions).
fn put_timestamps(out: &mut Vec<u8>, ts: &[i64]) {
    let unit = ts
        .windows(2)
        .fold(0u64, |g, w| gcd(g, w[1].wrapping_sub(w[0]) as u64))
        .max(1);
    put_uvarint(out, unit);
    let mut prev = ts[0];
    for &t in ts {
        put_uvarint(out, t.wrapping_sub(prev) as u64 / unit);
        prev = t;
    }
}

/// Reads `n` timestamps written by [`put_timestamps`], checking them against the
/// header's range.
fn read_timestamps(r: &mut Reader, n: usize, meta: &ChunkMeta) -> Result<Vec<i64>, ChunkError> {
    let truncated = |_| ChunkError("timestamp column truncated");
    if n > r.remaining() {
        return Err(ChunkError("more entries than the timestamp column holds"));
    }
    let unit = r.uvarint().map_err(truncated)?;
    if unit == 0 {
        return Err(ChunkError("zero timestamp unit"));
    }
    let mut ts = Vec::with_capacity(n);
    let mut prev = meta.min_ts;
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
    if ts.first() != Some(&meta.min_ts) || ts.last() != Some(&meta.max_ts) {
        return Err(ChunkError("timestamps disagree with the header"));
    }
    Ok(ts)
}

/// The metadata column, or empty when no entry has metadata.
fn put_metadata(columns: &Columns) -> Vec<u8> {
    let mut meta = Vec::new();
    if columns.metadata.is_empty() {
        return meta;
    }
    let mut pairs = columns.metadata.iter().peekable();
    for i in 0..columns.len() as u32 {
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
    meta
}

/// Reads the metadata column of `n` entries.
fn read_metadata(raw: &[u8], n: usize) -> Result<Vec<(u32, Vec<Label>)>, ChunkError> {
    let mut metadata = Vec::new();
    let bad = |_| ChunkError("metadata column truncated");
    let mut r = Reader::new(raw);
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
    Ok(metadata)
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

fn decompress(data: &[u8], len: usize) -> Result<Vec<u8>, ChunkError> {
    if len == 0 {
        return if data.is_empty() {
            Ok(Vec::new())
        } else {
            Err(ChunkError("data for an empty column"))
        };
    }
    if len > MAX_COLUMN_BYTES {
        return Err(ChunkError("column larger than the limit"));
    }
    let out =
        zstd::bulk::decompress(data, len).map_err(|_| ChunkError("zstd column does not decode"))?;
    if out.len() != len {
        return Err(ChunkError("column size differs from the header"));
    }
    Ok(out)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

/// The fixed header fields both versions share (offsets 0..32).
fn common_meta(bytes: &[u8]) -> ChunkMeta {
    ChunkMeta {
        entries: le_u32(bytes, 8),
        min_ts: le_i64(bytes, 12),
        max_ts: le_i64(bytes, 20),
        raw_bytes: le_u32(bytes, 28),
    }
}

/// Checks the checksum at the end of `bytes`.
fn check_crc(bytes: &[u8]) -> Result<(), ChunkError> {
    let body = bytes.len() - 4;
    if crc32fast::hash(&bytes[..body]) != le_u32(bytes, body) {
        return Err(ChunkError("checksum mismatch"));
    }
    Ok(())
}

/// Writes the fields both versions share (offsets 0..32).
fn put_common(out: &mut Vec<u8>, version: u8, flags: u8, columns: &Columns) {
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(flags);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    out.extend_from_slice(&columns.ts[0].to_le_bytes());
    out.extend_from_slice(&columns.ts[columns.len() - 1].to_le_bytes());
    out.extend_from_slice(&(columns.lines.len() as u32).to_le_bytes());
}

#[cfg(test)]
mod tests;
