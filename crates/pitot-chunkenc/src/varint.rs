//! LEB128 varints for the byte-aligned fields of decimal chunks.

use crate::ChunkError;

/// Zigzag form of a signed value, small for values near zero.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Reads an unsigned varint at `*pos`, advancing it.
#[inline]
pub fn get_uvarint(bytes: &[u8], pos: &mut usize) -> Result<u64, ChunkError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or(ChunkError::Malformed("varint truncated"))?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(ChunkError::Malformed("varint above 64 bits"));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(ChunkError::Malformed("varint longer than 10 bytes"))
}

/// Reads a zigzag varint at `*pos`, advancing it.
#[inline]
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<i64, ChunkError> {
    let u = get_uvarint(bytes, pos)?;
    Ok((u >> 1) as i64 ^ -((u & 1) as i64))
}
