//! Chunk format version 2: the line column split by the [`super::lines`] codec (layout
//! in the [`super`] docs).

use super::lines::{self, EncodedLines};
use super::{
    check_crc, common_meta, compress, decompress, le_u32, put_common, put_metadata, put_timestamps,
    read_metadata, read_timestamps, ChunkError, ChunkMeta, Columns, FLAG_METADATA,
    MAX_COLUMN_BYTES,
};
use pitot_core::varint::Reader;

const VERSION: u8 = 2;
const HEADER_LEN: usize = 76;
/// Compressed columns: timestamps, dictionary, ids, numbers, metadata.
const ZSTD_COLUMNS: usize = 5;

/// Encodes sorted, non-empty `columns`.
pub(super) fn encode(columns: &Columns, zstd_level: i32) -> Vec<u8> {
    let mut ts = Vec::with_capacity(columns.len() * 3);
    put_timestamps(&mut ts, &columns.ts);
    let split = lines::encode(&columns.ts, &columns.lines, &columns.ends);
    let meta = put_metadata(columns);
    let raw = [&ts, &split.dict, &split.ids, &split.nums, &meta];
    let levels = [3, zstd_level, zstd_level, zstd_level, zstd_level];
    let packed: Vec<Vec<u8>> = raw
        .iter()
        .zip(levels)
        .map(|(col, level)| compress(col, level))
        .collect();
    let total = HEADER_LEN + packed.iter().map(Vec::len).sum::<usize>() + split.hex.len() + 4;
    let mut out = Vec::with_capacity(total);
    let flags = if meta.is_empty() { 0 } else { FLAG_METADATA };
    put_common(&mut out, VERSION, flags, columns);
    for (z, col) in packed.iter().zip(raw) {
        out.extend_from_slice(&(z.len() as u32).to_le_bytes());
        out.extend_from_slice(&(col.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&(split.hex.len() as u32).to_le_bytes());
    for (k, z) in packed.iter().enumerate() {
        out.extend_from_slice(z);
        if k == 3 {
            out.extend_from_slice(&split.hex);
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The parsed fixed header.
struct Header {
    meta: ChunkMeta,
    /// (compressed, raw) sizes of the zstd columns.
    sizes: [(usize, usize); ZSTD_COLUMNS],
    hex: usize,
}

fn check(bytes: &[u8]) -> Result<Header, ChunkError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(ChunkError("shorter than its header"));
    }
    check_crc(bytes)?;
    let mut sizes = [(0, 0); ZSTD_COLUMNS];
    for (k, s) in sizes.iter_mut().enumerate() {
        *s = (
            le_u32(bytes, 32 + 8 * k) as usize,
            le_u32(bytes, 36 + 8 * k) as usize,
        );
    }
    let h = Header {
        meta: common_meta(bytes),
        sizes,
        hex: le_u32(bytes, 72) as usize,
    };
    let body = (bytes.len() - 4) as u64;
    let columns: u64 = h.sizes.iter().map(|s| s.0 as u64).sum::<u64>() + h.hex as u64;
    if HEADER_LEN as u64 + columns != body {
        return Err(ChunkError("column sizes do not add up to the chunk size"));
    }
    let m = &h.meta;
    if m.entries == 0 || m.min_ts > m.max_ts {
        return Err(ChunkError("empty chunk or inverted time range"));
    }
    if h.sizes.iter().any(|s| s.1 > MAX_COLUMN_BYTES) || m.raw_bytes as usize > MAX_COLUMN_BYTES {
        return Err(ChunkError("column larger than the limit"));
    }
    let flags = bytes[5];
    if flags & !FLAG_METADATA != 0 || (flags & FLAG_METADATA == 0) != (h.sizes[4].0 == 0) {
        return Err(ChunkError("flags disagree with the metadata column"));
    }
    Ok(h)
}

/// Reads a version 2 chunk's metadata after checking its header and checksum.
pub(super) fn read_meta(bytes: &[u8]) -> Result<ChunkMeta, ChunkError> {
    Ok(check(bytes)?.meta)
}

/// Decodes a version 2 chunk.
pub(super) fn decode(bytes: &[u8]) -> Result<Columns, ChunkError> {
    let h = check(bytes)?;
    let n = h.meta.entries as usize;
    let mut at = HEADER_LEN;
    let mut cols: Vec<Vec<u8>> = Vec::with_capacity(ZSTD_COLUMNS);
    let mut hex = Vec::new();
    for (k, &(z, raw)) in h.sizes.iter().enumerate() {
        cols.push(decompress(&bytes[at..at + z], raw)?);
        at += z;
        if k == 3 {
            hex = bytes[at..at + h.hex].to_vec();
            at += h.hex;
        }
    }
    let mut r = Reader::new(&cols[0]);
    let ts = read_timestamps(&mut r, n, &h.meta)?;
    if !r.is_empty() {
        return Err(ChunkError("trailing bytes in the timestamp column"));
    }
    let metadata = if h.sizes[4].0 > 0 {
        read_metadata(&cols[4], n)?
    } else {
        Vec::new()
    };
    let split = EncodedLines {
        dict: std::mem::take(&mut cols[1]),
        ids: std::mem::take(&mut cols[2]),
        nums: std::mem::take(&mut cols[3]),
        hex,
    };
    let (lines, ends) = lines::decode(&ts, &split, h.meta.raw_bytes as usize)?;
    Ok(Columns {
        ts,
        ends,
        lines,
        metadata,
    })
}
