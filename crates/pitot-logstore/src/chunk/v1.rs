//! Chunk format version 1, kept so chunks written before version 2 still decode.
//!
//! ```text
//! offset size field
//!      0   32 magic, version = 1, flags, entries, min_ts, max_ts, raw line bytes
//!     32    4 size of the compressed timestamp+length column
//!     36    4 size of its decompressed form
//!     40    4 size of the compressed line column
//!     44    4 size of the compressed metadata column (0 without flag bit 0)
//!     48    4 size of its decompressed form
//!     52    . timestamp+length column (zstd): the version 2 timestamp column, then
//!             `entries` uvarint line lengths
//!      .    . line column (zstd): every line's bytes, back to back, no separators
//!      .    . metadata column (zstd, optional)
//!  end-4    4 crc32 (IEEE) of every byte before it
//! ```

use super::{
    check_crc, common_meta, decompress, le_u32, read_metadata, read_timestamps, ChunkError,
    ChunkMeta, Columns, FLAG_METADATA, MAX_COLUMN_BYTES,
};
use pitot_core::varint::Reader;

const HEADER_LEN: usize = 52;

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

/// Encodes the version 1 layout (tests only: new chunks are version 2).
#[cfg(test)]
pub(super) fn encode(columns: &Columns, zstd_level: i32) -> Vec<u8> {
    use super::{compress, put_common, put_metadata, put_timestamps};
    use pitot_core::varint::put_uvarint;
    let mut small = Vec::new();
    put_timestamps(&mut small, &columns.ts);
    let mut start = 0u32;
    for &end in &columns.ends {
        put_uvarint(&mut small, u64::from(end - start));
        start = end;
    }
    let small_z = compress(&small, 3);
    let lines_z = compress(&columns.lines, zstd_level);
    let meta = put_metadata(columns);
    let meta_z = compress(&meta, zstd_level);
    let mut out = Vec::new();
    let flags = if meta_z.is_empty() { 0 } else { FLAG_METADATA };
    put_common(&mut out, 1, flags, columns);
    for len in [
        small_z.len(),
        small.len(),
        lines_z.len(),
        meta_z.len(),
        meta.len(),
    ] {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&small_z);
    out.extend_from_slice(&lines_z);
    out.extend_from_slice(&meta_z);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the sizes and checksum, and returns the header.
fn check(bytes: &[u8]) -> Result<Header, ChunkError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(ChunkError("shorter than its header"));
    }
    check_crc(bytes)?;
    let body = bytes.len() - 4;
    let header = Header {
        meta: common_meta(bytes),
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

/// Reads a version 1 chunk's metadata after checking its header and checksum.
pub(super) fn read_meta(bytes: &[u8]) -> Result<ChunkMeta, ChunkError> {
    Ok(check(bytes)?.meta)
}

/// Decodes a version 1 chunk.
pub(super) fn decode(bytes: &[u8]) -> Result<Columns, ChunkError> {
    let h = check(bytes)?;
    let n = h.meta.entries as usize;
    let mut at = HEADER_LEN;
    let small = decompress(&bytes[at..at + h.small_z], h.small_raw)?;
    at += h.small_z;
    let lines = decompress(&bytes[at..at + h.lines_z], h.meta.raw_bytes as usize)?;
    at += h.lines_z;
    let mut r = Reader::new(&small);
    let ts = read_timestamps(&mut r, n, &h.meta)?;
    let truncated = |_| ChunkError("length column truncated");
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
    let metadata = if h.meta_z > 0 {
        let raw = decompress(&bytes[at..at + h.meta_z], h.meta_raw)?;
        read_metadata(&raw, n)?
    } else {
        Vec::new()
    };
    Ok(Columns {
        ts,
        ends,
        lines,
        metadata,
    })
}
