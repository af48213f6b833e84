//! LEB128 varints for the byte-aligned fields of decimal chunks: pitot-core's, with
//! errors as [`ChunkError`].

pub use pitot_core::varint::{put_uvarint, put_varint, zigzag};
use pitot_core::varint::{read_uvarint, read_varint, VarintError};

use crate::ChunkError;

fn malformed(e: VarintError) -> ChunkError {
    ChunkError::Malformed(match e {
        VarintError::Truncated => "varint truncated",
        VarintError::Overflow => "varint above 64 bits",
    })
}

/// Reads an unsigned varint at `*pos`, advancing it.
#[inline]
pub fn get_uvarint(bytes: &[u8], pos: &mut usize) -> Result<u64, ChunkError> {
    read_uvarint(bytes, pos).map_err(malformed)
}

/// Reads a zigzag varint at `*pos`, advancing it.
#[inline]
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<i64, ChunkError> {
    read_varint(bytes, pos).map_err(malformed)
}
