//! Prometheus' own XOR chunk (`chunkenc.EncXOR`, encoding 1 of remote read's
//! `Chunk.Encoding`), written from the TSDB chunk format documentation.
//!
//! Pitot's chunks are not this format (see the crate documentation: wider
//! delta-of-delta buckets and a choice of window), so remote read's
//! `STREAMED_XOR_CHUNKS` answer re-encodes samples into it. The layout:
//!
//! ```text
//! chunk  = count:u16be t0:varint v0:64 bits [dt1:uvarint v1:xor] (dod xor)*
//! dod    = "0"                      delta-of-delta 0
//!        | "10"   14-bit two's complement, -8191 ..= 8192
//!        | "110"  17 bits  | "1110" 20 bits  (same asymmetric ranges)
//!        | "1111" 64 bits
//! xor    = "0"                      value unchanged
//!        | "10"   meaningful bits in the previous window
//!        | "11"   leading:5 (clamped to 31) meaningful:6 (64 as 0) bits
//! ```
//!
//! A new window is written only when the XOR does not fit the previous one,
//! as Prometheus' appender does; both readers accept either choice.

use crate::bits::{BitReader, BitWriter};
use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint};
use crate::{ChunkError, MAX_SAMPLES};

/// Widths of the delta-of-delta buckets after the prefixes `10`, `110`, `1110`.
const DOD_BITS: [u32; 3] = [14, 17, 20];

/// Whether `dod` fits a bucket of `bits` bits: Prometheus' range is
/// `-(2^(bits-1) - 1) ..= 2^(bits-1)`, one wider on the positive side.
fn fits(dod: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-(half - 1)..=half).contains(&dod)
}

/// Encodes samples, strictly increasing in time, as one Prometheus XOR chunk.
///
/// Remote read cuts a series into chunks of 120 samples as Prometheus does; a
/// caller may pass up to [`MAX_SAMPLES`]. Values keep every bit (NaN payloads,
/// `-0.0`), since only `f64::to_bits` is encoded.
pub fn encode_prometheus_xor(samples: &[(i64, f64)]) -> Result<Vec<u8>, ChunkError> {
    if samples.len() > MAX_SAMPLES {
        return Err(ChunkError::Full { max: MAX_SAMPLES });
    }
    for pair in samples.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(ChunkError::OutOfOrder {
                previous: pair[0].0,
                timestamp: pair[1].0,
            });
        }
    }
    let mut prefix = (samples.len() as u16).to_be_bytes().to_vec();
    let Some(&(t0, v0)) = samples.first() else {
        return Ok(prefix);
    };
    put_varint(&mut prefix, t0);
    prefix.extend_from_slice(&v0.to_bits().to_be_bytes());
    let mut writer;
    let mut window = None;
    if let Some(&(t1, v1)) = samples.get(1) {
        let delta = t1.wrapping_sub(t0);
        put_uvarint(&mut prefix, delta as u64);
        writer = BitWriter::with_prefix(&prefix, prefix.len() + samples.len() * 2);
        write_xor(&mut writer, &mut window, v0.to_bits(), v1.to_bits());
        let (mut last_t, mut last_delta, mut last_v) = (t1, delta, v1.to_bits());
        for &(t, v) in &samples[2..] {
            let delta = t.wrapping_sub(last_t);
            write_dod(&mut writer, delta.wrapping_sub(last_delta));
            write_xor(&mut writer, &mut window, last_v, v.to_bits());
            (last_t, last_delta, last_v) = (t, delta, v.to_bits());
        }
    } else {
        writer = BitWriter::with_prefix(&prefix, prefix.len());
    }
    writer.seal();
    Ok(writer.into_bytes())
}

fn write_dod(writer: &mut BitWriter, dod: i64) {
    if dod == 0 {
        writer.write(0, 1);
        return;
    }
    for (bucket, &bits) in DOD_BITS.iter().enumerate() {
        if fits(dod, bits) {
            // `bucket + 1` ones, then a zero.
            let prefix_len = bucket as u32 + 2;
            writer.write((1u64 << prefix_len) - 2, prefix_len);
            writer.write(dod as u64 & ((1u64 << bits) - 1), bits);
            return;
        }
    }
    writer.write(0b1111, 4);
    writer.write(dod as u64, 64);
}

/// Writes `value` against `previous`; `window` is the (leading, trailing) zero
/// counts of the last new window, `None` before the first.
fn write_xor(writer: &mut BitWriter, window: &mut Option<(u32, u32)>, previous: u64, value: u64) {
    let xor = previous ^ value;
    if xor == 0 {
        writer.write(0, 1);
        return;
    }
    let leading = xor.leading_zeros().min(31);
    let trailing = xor.trailing_zeros();
    if let Some((l, t)) = *window {
        if leading >= l && trailing >= t {
            writer.write(0b10, 2);
            writer.write(xor >> t, 64 - l - t);
            return;
        }
    }
    *window = Some((leading, trailing));
    let significant = 64 - leading - trailing;
    writer.write(0b11, 2);
    writer.write(u64::from(leading), 5);
    writer.write(u64::from(significant & 63), 6);
    writer.write(xor >> trailing, significant);
}

/// Decodes a Prometheus XOR chunk; what remote read clients do with
/// [`encode_prometheus_xor`]'s output, kept here to test it and fuzzed.
pub fn decode_prometheus_xor(bytes: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let Some(header) = bytes.first_chunk::<2>() else {
        return Err(ChunkError::MissingHeader { len: bytes.len() });
    };
    let count = usize::from(u16::from_be_bytes(*header));
    let mut out = Vec::with_capacity(count.min(bytes.len() * 8));
    if count == 0 {
        return Ok(out);
    }
    let truncated = |index| ChunkError::Truncated { index, count };
    let mut pos = 2;
    let t0 = get_varint(bytes, &mut pos).map_err(|_| ChunkError::InvalidVarint { index: 0 })?;
    let v0 = u64::from_be_bytes(
        bytes
            .get(pos..pos + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or(truncated(0))?,
    );
    pos += 8;
    out.push((t0, f64::from_bits(v0)));
    if count == 1 {
        return Ok(out);
    }
    let delta =
        get_uvarint(bytes, &mut pos).map_err(|_| ChunkError::InvalidVarint { index: 1 })? as i64;
    let mut reader = BitReader::new(&bytes[pos..]);
    let mut window = (0, 0);
    let (mut t, mut last_delta) = (t0.wrapping_add(delta), delta);
    if t <= t0 {
        return Err(ChunkError::NotIncreasing { index: 1 });
    }
    let mut v = read_xor(&mut reader, &mut window, v0, 1).map_err(|e| e.unwrap_or(truncated(1)))?;
    out.push((t, f64::from_bits(v)));
    for index in 2..count {
        let dod = read_dod(&mut reader).map_err(|()| truncated(index))?;
        let delta = last_delta.wrapping_add(dod);
        let next = t.wrapping_add(delta);
        if next <= t {
            return Err(ChunkError::NotIncreasing { index });
        }
        (t, last_delta) = (next, delta);
        v = read_xor(&mut reader, &mut window, v, index)
            .map_err(|e| e.unwrap_or(truncated(index)))?;
        out.push((t, f64::from_bits(v)));
    }
    Ok(out)
}

fn read_dod(reader: &mut BitReader<'_>) -> Result<i64, ()> {
    let mut ones = 0;
    while ones < 4 {
        if reader.read(1).map_err(|_| ())? == 0 {
            break;
        }
        ones += 1;
    }
    if ones == 0 {
        return Ok(0);
    }
    if ones == 4 {
        return reader.read_wide(64).map(|b| b as i64).map_err(|_| ());
    }
    let bits = DOD_BITS[ones - 1];
    let raw = reader.read(bits).map_err(|_| ())?;
    // Values above 2^(bits-1) are negative; 2^(bits-1) itself is positive.
    Ok(if raw > 1 << (bits - 1) {
        raw as i64 - (1i64 << bits)
    } else {
        raw as i64
    })
}

/// Reads one value; `Err(None)` when the input runs out.
fn read_xor(
    reader: &mut BitReader<'_>,
    window: &mut (u32, u32),
    previous: u64,
    index: usize,
) -> Result<u64, Option<ChunkError>> {
    if reader.read(1).map_err(|_| None)? == 0 {
        return Ok(previous);
    }
    if reader.read(1).map_err(|_| None)? == 1 {
        let leading = reader.read(5).map_err(|_| None)? as u32;
        let mut significant = reader.read(6).map_err(|_| None)? as u32;
        if significant == 0 {
            significant = 64;
        }
        if leading + significant > 64 {
            return Err(Some(ChunkError::InvalidXorWindow {
                index,
                leading,
                significant,
            }));
        }
        *window = (leading, 64 - leading - significant);
    }
    // A reuse before any new window reads 64 meaningful bits, as Prometheus' does.
    let (leading, trailing) = *window;
    let significant = 64 - leading - trailing;
    let bits = reader.read_wide(significant).map_err(|_| None)?;
    Ok(previous ^ (bits << trailing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_laid_out_bit_for_bit_as_documented() {
        // t0 = 1000 (zigzag varint 2000 = d0 0f), v0 = 1.0, t1 = 1015 (uvarint 15),
        // v1 = 1.0 (xor 0: bit "0"), t2 = 1030 (dod 0: bit "0"), v2 = 2.0.
        let bytes = encode_prometheus_xor(&[(1000, 1.0), (1015, 1.0), (1030, 2.0)]).unwrap();
        let mut expected = vec![0, 3, 0xd0, 0x0f];
        expected.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        expected.push(15);
        // 1.0 ^ 2.0 = 0x7ff0_0000_0000_0000: 1 leading zero, 52 trailing, 11 bits.
        // Bits: 0 (v1) 0 (dod) 11 00001 001011 11111111111, then padding.
        let bits = "00110000100101111111111111";
        let mut stream = bits.to_string();
        while !stream.len().is_multiple_of(8) {
            stream.push('0');
        }
        for byte in stream.as_bytes().chunks(8) {
            expected.push(u8::from_str_radix(std::str::from_utf8(byte).unwrap(), 2).unwrap());
        }
        assert_eq!(bytes, expected);
    }

    #[test]
    fn dod_buckets_take_their_asymmetric_ranges() {
        assert!(fits(8192, 14) && !fits(-8192, 14) && fits(-8191, 14));
        assert!(fits(65536, 17) && !fits(65537, 17));
        for dod in [
            1,
            -1,
            8192,
            -8191,
            -8192,
            8193,
            65536,
            -65536,
            524_288,
            -524_288,
            1 << 40,
        ] {
            let t2 = 2_000_000_000 + dod;
            let samples = [(0, 0.5), (1_000_000_000, 0.5), (t2, 0.5)];
            let decoded = decode_prometheus_xor(&encode_prometheus_xor(&samples).unwrap()).unwrap();
            assert_eq!(decoded, samples, "dod {dod}");
        }
    }

    #[test]
    fn values_round_trip_every_bit() {
        let values = [
            0.0,
            -0.0,
            f64::from_bits(0x7ff0_0000_0000_0002),
            f64::INFINITY,
            f64::MIN_POSITIVE / 3.0,
            1e300,
            -7.25,
            7.25,
            7.5,
        ];
        let samples: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i64::MIN + 1 + i as i64 * 1_000_003, v))
            .collect();
        let decoded = decode_prometheus_xor(&encode_prometheus_xor(&samples).unwrap()).unwrap();
        let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&decoded), bits(&samples));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(encode_prometheus_xor(&[(5, 1.0), (5, 2.0)]).is_err());
        assert_eq!(
            decode_prometheus_xor(&encode_prometheus_xor(&[]).unwrap()).unwrap(),
            []
        );
        let good = encode_prometheus_xor(&[(1, 1.0), (2, 3.0), (9, 4.0)]).unwrap();
        for cut in 0..good.len() {
            assert!(decode_prometheus_xor(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_increasing_samples_round_trip(
            start in proptest::num::i64::ANY,
            steps in proptest::collection::vec((1i64..1 << 40, proptest::num::u64::ANY), 0..300),
        ) {
            let mut t = start;
            let mut samples = vec![(t, 0.5)];
            for (step, bits) in steps {
                let Some(next) = t.checked_add(step) else { break };
                t = next;
                samples.push((t, f64::from_bits(bits)));
            }
            let decoded = decode_prometheus_xor(&encode_prometheus_xor(&samples).unwrap()).unwrap();
            let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&decoded), bits(&samples));
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(samples) = decode_prometheus_xor(&bytes) {
                proptest::prop_assert!(encode_prometheus_xor(&samples).is_ok());
            }
        }
    }
}
