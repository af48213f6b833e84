//! Frame-of-reference bit packing of `i64` columns, the residual store of
//! decimal chunks.
//!
//! A column is cut into groups of [`GROUP`] values. Each group stores its
//! minimum, the greatest common divisor of the values' distances from it, and
//! those distances divided by the divisor, bit-packed at the width of the
//! largest one:
//!
//! ```text
//! group = zigzag varint min, u8 width (0 ..= 64),
//!         [uvarint gcd if width > 0], ceil(len * width / 8) bytes
//! ```
//!
//! Packed values are little-endian: value `i` occupies bits
//! `i * width .. (i + 1) * width` of the group's bytes, least significant bit
//! first. A group of equal values costs two bytes or so; a group of noisy
//! residuals costs about two bits above their entropy, without an entropy
//! coder's tables or its decoding cost. The divisor is what makes page-sized
//! gauges (multiples of 4096) and other quantised series cheap.

use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint, zigzag};
use crate::ChunkError;

/// Values per group: large enough that a group's header is a small share of
/// it, small enough that one outlier widens only its own group.
pub const GROUP: usize = 128;

/// Appends `values` packed to `out`.
pub fn pack(values: &[i64], out: &mut Vec<u8>) {
    for group in values.chunks(GROUP) {
        let (min, gcd, width) = frame(group);
        put_varint(out, min);
        out.push(width as u8);
        if width == 0 {
            continue;
        }
        put_uvarint(out, gcd);
        let mut acc: u128 = 0;
        let mut bits = 0u32;
        for &v in group {
            let u = (v.wrapping_sub(min) as u64) / gcd;
            acc |= u128::from(u) << bits;
            bits += width;
            if bits >= 64 {
                out.extend_from_slice(&(acc as u64).to_le_bytes());
                acc >>= 64;
                bits -= 64;
            }
        }
        let tail = bits.div_ceil(8) as usize;
        out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
    }
}

/// The number of bytes [`pack`] would write for `values`, without writing
/// them: encoders compare transforms with it.
pub fn packed_len(values: &[i64]) -> usize {
    values
        .chunks(GROUP)
        .map(|group| {
            let (min, gcd, width) = frame(group);
            let header = varint_len(zigzag(min)) + 1;
            if width == 0 {
                header
            } else {
                header + varint_len(gcd) + (group.len() * width as usize).div_ceil(8)
            }
        })
        .sum()
}

/// Reads `out.len()` packed values from the start of `bytes`, returning how
/// many bytes they took.
pub fn unpack(bytes: &[u8], out: &mut [i64]) -> Result<usize, ChunkError> {
    let mut pos = 0;
    for group in out.chunks_mut(GROUP) {
        let min = get_varint(bytes, &mut pos)?;
        let width = u32::from(
            *bytes
                .get(pos)
                .ok_or(ChunkError::Malformed("packed column truncated"))?,
        );
        pos += 1;
        if width == 0 {
            group.fill(min);
            continue;
        }
        if width > 64 {
            return Err(ChunkError::Malformed("packed width above 64"));
        }
        let gcd = get_uvarint(bytes, &mut pos)?;
        let len = (group.len() * width as usize).div_ceil(8);
        let data = bytes
            .get(pos..pos + len)
            .ok_or(ChunkError::Malformed("packed column truncated"))?;
        pos += len;
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        let mut bit = 0usize;
        if width <= 56 && gcd == 1 {
            // The common case: a value and its bit offset fit one 64-bit load.
            for slot in group.iter_mut() {
                let u = (u64::from_le_bytes(load(data, bit / 8)) >> (bit % 8)) & mask;
                *slot = min.wrapping_add(u as i64);
                bit += width as usize;
            }
        } else {
            for slot in group.iter_mut() {
                let word = u128::from_le_bytes(load(data, bit / 8));
                let u = (word >> (bit % 8)) as u64 & mask;
                *slot = min.wrapping_add(u.wrapping_mul(gcd) as i64);
                bit += width as usize;
            }
        }
    }
    Ok(pos)
}

/// `N` bytes from `at`, zero-filled past the end.
#[inline]
fn load<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    match data.get(at..at + N) {
        Some(word) => word.try_into().expect("N bytes"),
        None => {
            let mut word = [0u8; N];
            let rest = data.get(at..).unwrap_or(&[]);
            word[..rest.len()].copy_from_slice(rest);
            word
        }
    }
}

/// A group's minimum, divisor and packed width.
fn frame(group: &[i64]) -> (i64, u64, u32) {
    let min = group.iter().copied().min().unwrap_or(0);
    let mut gcd = 0u64;
    let mut max = 0u64;
    for &v in group {
        let d = v.wrapping_sub(min) as u64;
        max = max.max(d);
        if gcd != 1 {
            gcd = binary_gcd(gcd, d);
        }
    }
    if max == 0 {
        return (min, 1, 0);
    }
    let width = 64 - (max / gcd).leading_zeros();
    (min, gcd, width)
}

fn binary_gcd(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros()).div_ceil(7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[i64]) -> usize {
        let mut out = Vec::new();
        pack(values, &mut out);
        assert_eq!(out.len(), packed_len(values), "size estimate");
        let mut back = vec![0; values.len()];
        let used = unpack(&out, &mut back).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(back, values);
        out.len()
    }

    #[test]
    fn packs_constants_extremes_and_multiples() {
        assert_eq!(round_trip(&[7; 300]), 3 * 2);
        round_trip(&[i64::MIN, i64::MAX, 0, -1, 1]);
        round_trip(&(0..1000).map(|i| i * i * 31 - 5000).collect::<Vec<_>>());
        // Divisor 1 at every width up to 64 (the single-load path and the wide one).
        for width in 1..=63u32 {
            let top = i64::MAX >> (63 - width);
            let mut values: Vec<i64> = (0..300).map(|i| (i * 7919 % 1013) & top).collect();
            values[..3].copy_from_slice(&[0, 1, top]);
            round_trip(&values);
        }
        // Multiples of 4096 cost no more than their quotients.
        let pages: Vec<i64> = (0..128).map(|i| (i % 16) * 4096 + (1 << 30)).collect();
        assert!(round_trip(&pages) <= 128 / 2 + 12);
        round_trip(&[]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let values: Vec<i64> = (0..200).map(|i| i * 977).collect();
        let mut out = Vec::new();
        pack(&values, &mut out);
        let mut back = vec![0; values.len()];
        for cut in 0..out.len() {
            assert!(unpack(&out[..cut], &mut back).is_err(), "cut at {cut}");
        }
    }
}
