//! Tagged chunks and the decimal encoding, the compact form sealed head chunks
//! and blocks store.
//!
//! Most metric values are decimals a program printed or counted: CPU seconds
//! with two digits, byte counters, page-multiples of memory, histogram sums
//! with six digits. As binary floats their low mantissa bits look random, and
//! XOR with the previous value leaves two to four bytes per sample. Written as
//! an integer mantissa over a power of ten shared by the chunk, the same
//! values become integers whose differences are small: a noisy counter's
//! increments, a gauge's steps. The chunk stores whichever of the mantissas,
//! their deltas or their deltas of deltas packs smallest, frame-of-reference
//! bit-packed per group of 128 (see [`crate::packing`]), which lands within
//! about two bits of the residuals' entropy and decodes with shifts and adds.
//!
//! Every value reads back bit for bit: the encoder keeps a mantissa only when
//! dividing it by the power of ten gives exactly the original bits (the
//! division is correctly rounded, so decoders on any IEEE 754 machine agree).
//! Values that have no such mantissa (NaN, the staleness marker, infinities,
//! `-0.0`, results of float arithmetic such as `0.1 + 0.2`) are stored as
//! exceptions with their 64 raw bits; a chunk where more than one value in
//! eight is an exception falls back to the XOR encoding.
//!
//! # Byte layout
//!
//! ```text
//! tagged chunk = u8 tag, body
//!   tag 1: body = an XOR chunk (crate root documentation)
//!   tag 2: body = decimal chunk:
//!     uvarint n (samples, ≥ 1)
//!     zigzag varint t0
//!     [n ≥ 2] uvarint t1 - t0 (wrapping, as u64)
//!     [n ≥ 3] packed column of the n - 2 deltas of deltas (wrapping)
//!     u8 transform: 0 mantissas, 1 deltas, 2 deltas of deltas
//!     u8 scale s (0 ..= 22): value = mantissa / 10^s
//!     transform 0: packed column of n mantissas
//!     transform 1: zigzag varint m0, packed column of n - 1 deltas
//!     transform 2: zigzag varint m0, [n ≥ 2] zigzag varint m1 - m0,
//!                  packed column of the n - 2 deltas of deltas
//!     uvarint exception count e, then e times: uvarint index gap
//!       (index minus previous index, the first from 0), u64 little-endian bits
//! ```
//!
//! An exception's slot in the mantissa column repeats the previous mantissa,
//! so it costs nothing in a delta column.

use crate::packing::{pack, packed_len, unpack};
use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint, zigzag};
use crate::{ChunkError, XorAppender};

/// Tag of a chunk whose body is an XOR chunk.
pub const TAG_XOR: u8 = 1;
/// Tag of a chunk whose body is a decimal chunk.
pub const TAG_DECIMAL: u8 = 2;

const MAX_SCALE: usize = 22;
/// Powers of ten that are exact doubles.
const POW10: [f64; MAX_SCALE + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
/// Mantissas stay below 2^53 so that converting one to a double is exact.
const MANTISSA_LIMIT: f64 = 9_007_199_254_740_992.0;
/// Decoders refuse to allocate for more samples than this per chunk.
const MAX_DECODED_SAMPLES: usize = 1 << 22;

/// Encodes samples (timestamps strictly increasing) as a tagged chunk:
/// decimal when the values allow it, XOR otherwise.
pub fn encode_chunk(ts: &[i64], vs: &[f64]) -> Vec<u8> {
    assert_eq!(ts.len(), vs.len(), "one value per timestamp");
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]), "timestamps increase");
    match to_decimals(vs) {
        Some(decimals) if !ts.is_empty() => encode_decimal(ts, &decimals),
        _ => encode_xor(ts, vs),
    }
}

/// Wraps an XOR chunk's bytes in the tagged format.
pub fn tag_xor(xor_chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xor_chunk.len() + 1);
    out.push(TAG_XOR);
    out.extend_from_slice(xor_chunk);
    out
}

fn encode_xor(ts: &[i64], vs: &[f64]) -> Vec<u8> {
    let mut app = XorAppender::new();
    for (&t, &v) in ts.iter().zip(vs) {
        app.append(t, v);
    }
    tag_xor(&app.finish())
}

/// Mantissas over one power of ten, with the values that have none.
struct Decimals {
    scale: u8,
    mantissas: Vec<i64>,
    exceptions: Vec<(usize, u64)>,
}

fn to_decimals(vs: &[f64]) -> Option<Decimals> {
    let mut scale = 0usize;
    let mut mantissas: Vec<i64> = Vec::with_capacity(vs.len());
    let mut exceptions = Vec::new();
    for (i, &v) in vs.iter().enumerate() {
        if let Some(m) = mantissa(v, scale) {
            mantissas.push(m);
            continue;
        }
        let finer = (scale + 1..=MAX_SCALE)
            .take_while(|&s| (v * POW10[s]).abs() < MANTISSA_LIMIT)
            .find_map(|s| mantissa(v, s).map(|m| (s, m)));
        match finer.and_then(|(s, m)| rescale(&mantissas, s - scale).map(|r| (s, m, r))) {
            Some((s, m, rescaled)) => {
                scale = s;
                mantissas = rescaled;
                mantissas.push(m);
            }
            None => {
                exceptions.push((i, v.to_bits()));
                mantissas.push(mantissas.last().copied().unwrap_or(0));
            }
        }
    }
    if exceptions.len() > vs.len() / 8 {
        return None;
    }
    Some(Decimals {
        scale: scale as u8,
        mantissas,
        exceptions,
    })
}

/// The integer `m` with `m / 10^scale == v` bit for bit, if there is one below 2^53.
#[inline]
fn mantissa(v: f64, scale: usize) -> Option<i64> {
    let x = v * POW10[scale];
    // NaN and infinities fail this test too.
    if x.is_nan() || x.abs() >= MANTISSA_LIMIT {
        return None;
    }
    let m = x.round() as i64;
    ((m as f64 / POW10[scale]).to_bits() == v.to_bits()).then_some(m)
}

/// Mantissas multiplied by `10^by`, if all stay below 2^53. The values they stand
/// for do not change: `m * 10^k / 10^(s + k)` is the same real number as `m / 10^s`,
/// and both are exact inputs to one correctly rounded division.
fn rescale(mantissas: &[i64], by: usize) -> Option<Vec<i64>> {
    let factor = 10i64.checked_pow(by as u32)?;
    mantissas
        .iter()
        .map(|&m| {
            m.checked_mul(factor)
                .filter(|r| (r.unsigned_abs() as f64) < MANTISSA_LIMIT)
        })
        .collect()
}

fn deltas(values: &[i64]) -> Vec<i64> {
    values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
}

fn encode_decimal(ts: &[i64], d: &Decimals) -> Vec<u8> {
    let n = ts.len();
    let mut out = Vec::with_capacity(16 + n * 2);
    out.push(TAG_DECIMAL);
    put_uvarint(&mut out, n as u64);
    put_varint(&mut out, ts[0]);
    if n >= 2 {
        put_uvarint(&mut out, ts[1].wrapping_sub(ts[0]) as u64);
    }
    if n >= 3 {
        pack(&deltas(&deltas(ts)), &mut out);
    }

    let m = &d.mantissas;
    let d1 = deltas(m);
    let d2 = deltas(&d1);
    let cost_raw = packed_len(m);
    let cost_delta = varint_len(m[0]) + packed_len(&d1);
    let cost_dod = varint_len(m[0]) + d1.first().map_or(0, |&x| varint_len(x)) + packed_len(&d2);
    let transform = if cost_raw <= cost_delta && cost_raw <= cost_dod {
        0
    } else if cost_delta <= cost_dod {
        1
    } else {
        2
    };
    out.push(transform);
    out.push(d.scale);
    match transform {
        0 => pack(m, &mut out),
        1 => {
            put_varint(&mut out, m[0]);
            pack(&d1, &mut out);
        }
        _ => {
            put_varint(&mut out, m[0]);
            if let Some(&first) = d1.first() {
                put_varint(&mut out, first);
            }
            pack(&d2, &mut out);
        }
    }
    put_uvarint(&mut out, d.exceptions.len() as u64);
    let mut previous = 0;
    for &(index, bits) in &d.exceptions {
        put_uvarint(&mut out, (index - previous) as u64);
        out.extend_from_slice(&bits.to_le_bytes());
        previous = index;
    }
    out
}

fn varint_len(v: i64) -> usize {
    (64 - (zigzag(v) | 1).leading_zeros()).div_ceil(7) as usize
}

/// Decodes a tagged chunk by appending to timestamp and value columns. On error both
/// columns are restored to their lengths before the call.
pub fn decode_chunk_into(
    bytes: &[u8],
    ts: &mut Vec<i64>,
    vs: &mut Vec<f64>,
) -> Result<(), ChunkError> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or(ChunkError::MissingHeader { len: 0 })?;
    match tag {
        TAG_XOR => crate::decode_into(body, ts, vs),
        TAG_DECIMAL => {
            let (ts_len, vs_len) = (ts.len(), vs.len());
            let result = decode_decimal(body, ts, vs);
            if result.is_err() {
                ts.truncate(ts_len);
                vs.truncate(vs_len);
            }
            result
        }
        tag => Err(ChunkError::UnknownEncoding { tag }),
    }
}

/// Number of samples a tagged chunk holds, without decoding it.
pub fn chunk_samples(bytes: &[u8]) -> Result<usize, ChunkError> {
    match bytes.split_first() {
        Some((&TAG_XOR, body)) => crate::num_samples(body),
        Some((&TAG_DECIMAL, body)) => Ok(get_uvarint(body, &mut 0)? as usize),
        Some((&tag, _)) => Err(ChunkError::UnknownEncoding { tag }),
        None => Err(ChunkError::MissingHeader { len: 0 }),
    }
}

fn decode_decimal(body: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), ChunkError> {
    let mut pos = 0;
    let n = get_uvarint(body, &mut pos)? as usize;
    // A group of 128 equal values takes at least two bytes, so n is bounded by the size.
    if n == 0 || n > MAX_DECODED_SAMPLES || n > (body.len() + 1) * 64 {
        return Err(ChunkError::Malformed("decimal chunk sample count"));
    }
    let start = ts.len();
    ts.resize(start + n, 0);
    let t = &mut ts[start..];
    t[0] = get_varint(body, &mut pos)?;
    if n >= 2 {
        t[1] = t[0].wrapping_add(get_uvarint(body, &mut pos)? as i64);
    }
    if n >= 3 {
        pos += unpack(&body[pos..], &mut t[2..])?;
        let mut delta = t[1].wrapping_sub(t[0]);
        for i in 2..n {
            delta = delta.wrapping_add(t[i]);
            t[i] = t[i - 1].wrapping_add(delta);
        }
    }
    if let Some(i) = (1..n).find(|&i| t[i] <= t[i - 1]) {
        return Err(ChunkError::NotIncreasing { index: i });
    }

    let transform = *body.get(pos).ok_or(ChunkError::Malformed("transform"))?;
    let scale = usize::from(*body.get(pos + 1).ok_or(ChunkError::Malformed("scale"))?);
    pos += 2;
    if scale > MAX_SCALE {
        return Err(ChunkError::Malformed("decimal scale above 22"));
    }
    let mut m = vec![0i64; n];
    match transform {
        0 => pos += unpack(&body[pos..], &mut m)?,
        1 => {
            m[0] = get_varint(body, &mut pos)?;
            pos += unpack(&body[pos..], &mut m[1..])?;
            for i in 1..n {
                m[i] = m[i - 1].wrapping_add(m[i]);
            }
        }
        2 => {
            m[0] = get_varint(body, &mut pos)?;
            if n >= 2 {
                let mut delta = get_varint(body, &mut pos)?;
                m[1] = m[0].wrapping_add(delta);
                pos += unpack(&body[pos..], &mut m[2..])?;
                for i in 2..n {
                    delta = delta.wrapping_add(m[i]);
                    m[i] = m[i - 1].wrapping_add(delta);
                }
            }
        }
        _ => return Err(ChunkError::Malformed("unknown value transform")),
    }
    let divisor = POW10[scale];
    let first = vs.len();
    if scale == 0 {
        vs.extend(m.iter().map(|&x| x as f64));
    } else {
        vs.extend(m.iter().map(|&x| x as f64 / divisor));
    }
    let exceptions = get_uvarint(body, &mut pos)?;
    if exceptions > n as u64 {
        return Err(ChunkError::Malformed("more exceptions than samples"));
    }
    let mut index = 0usize;
    for _ in 0..exceptions {
        index = index
            .checked_add(get_uvarint(body, &mut pos)? as usize)
            .filter(|&i| i < n)
            .ok_or(ChunkError::Malformed("exception index"))?;
        let raw = body
            .get(pos..pos + 8)
            .ok_or(ChunkError::Malformed("exception truncated"))?;
        pos += 8;
        vs[first + index] = f64::from_le_bytes(raw.try_into().expect("8 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ts: &[i64], vs: &[f64]) -> Vec<u8> {
        let bytes = encode_chunk(ts, vs);
        let (mut t, mut v) = (Vec::new(), Vec::new());
        decode_chunk_into(&bytes, &mut t, &mut v).unwrap();
        assert_eq!(t, ts);
        let bits = |x: &[f64]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v), bits(vs));
        assert_eq!(chunk_samples(&bytes).unwrap(), ts.len());
        bytes
    }

    fn regular(n: usize) -> Vec<i64> {
        (0..n as i64)
            .map(|i| 1_700_000_000_000 + i * 15_000)
            .collect()
    }

    #[test]
    fn decimal_counters_gauges_and_constants_are_small_and_exact() {
        let ts = regular(480);
        // CPU seconds with two decimals: about a byte per sample.
        let mut x = 123_456.78f64;
        let cpu: Vec<f64> = (0..480)
            .map(|i| {
                x = ((x + 10.0 + (i % 7) as f64 * 0.37) * 100.0).round() / 100.0;
                x
            })
            .collect();
        let bytes = round_trip(&ts, &cpu);
        assert_eq!(bytes[0], TAG_DECIMAL);
        assert!(bytes.len() < 480, "{} bytes", bytes.len());
        // Constants and page multiples.
        assert!(round_trip(&ts, &[1.0; 480]).len() < 40);
        let pages: Vec<f64> = (0..480i64)
            .map(|i| ((i * 37 % 11) * 4096 + (1 << 33)) as f64)
            .collect();
        assert!(round_trip(&ts, &pages).len() < 480);
        // Six-digit sums and mixed scales.
        let sums: Vec<f64> = (0..480).map(|i| i as f64 * 1.234567 + 0.5).collect();
        round_trip(&ts, &sums);
        round_trip(&ts[..1], &[0.1]);
        round_trip(&ts[..2], &[0.1, 1e300]);
        round_trip(&[i64::MIN, i64::MAX], &[1.0, 2.0]);
    }

    #[test]
    fn special_values_are_exceptions_and_random_floats_fall_back() {
        let ts = regular(64);
        let mut vs: Vec<f64> = (0..64).map(|i| i as f64).collect();
        vs[3] = f64::from_bits(0x7ff0_0000_0000_0002);
        vs[9] = -0.0;
        vs[20] = f64::INFINITY;
        let bytes = round_trip(&ts, &vs);
        assert_eq!(bytes[0], TAG_DECIMAL);
        let noisy: Vec<f64> = (0..64).map(|i| (i as f64 * 0.7).sin()).collect();
        assert_eq!(round_trip(&ts, &noisy)[0], TAG_XOR);
        assert_eq!(round_trip(&ts[..1], &[f64::NAN])[0], TAG_XOR);
    }

    #[test]
    fn corrupt_chunks_are_errors_and_leave_columns_alone() {
        let ts = regular(300);
        let vs: Vec<f64> = (0..300).map(|i| (i * i) as f64 / 100.0).collect();
        let bytes = encode_chunk(&ts, &vs);
        let (mut t, mut v) = (vec![7], vec![7.0]);
        for cut in 0..bytes.len() {
            assert!(decode_chunk_into(&bytes[..cut], &mut t, &mut v).is_err());
            assert_eq!((t.len(), v.len()), (1, 1));
        }
        assert!(matches!(
            decode_chunk_into(&[9, 1, 2], &mut t, &mut v),
            Err(ChunkError::UnknownEncoding { tag: 9 })
        ));
    }
}
