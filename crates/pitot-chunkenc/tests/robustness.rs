//! Decoding untrusted bytes: random input and truncated chunks must end in
//! an error or fewer samples, never a panic or an out-of-bounds read.

use pitot_chunkenc::{decode, decode_into, num_samples, ChunkError, XorAppender, XorIter};
use proptest::prelude::*;

/// Runs every decoder over `bytes` and checks that they agree.
fn decode_all_ways(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
    let mut iter = XorIter::new(bytes);
    let from_iter: Vec<(i64, u64)> = iter.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
    let err = iter.err();
    assert_eq!(iter.next(), None, "iterator stays stopped");
    assert_eq!(iter.err(), err, "error stays put");
    for pair in from_iter.windows(2) {
        assert!(pair[0].0 < pair[1].0, "decoded timestamps increase");
    }

    let (mut ts, mut vs) = (vec![1], vec![1.0]);
    let columns = decode_into(bytes, &mut ts, &mut vs);
    match (decode(bytes), err) {
        (Ok(samples), None) => {
            let samples: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(samples, from_iter);
            assert_eq!(columns, Ok(()));
            assert_eq!(ts.len(), samples.len() + 1);
            assert_eq!(num_samples(bytes), Ok(samples.len()));
        }
        (Err(decode_err), Some(iter_err)) => {
            assert_eq!(decode_err, iter_err);
            assert_eq!(columns, Err(iter_err));
            assert_eq!((ts.len(), vs.len()), (1, 1), "columns restored on error");
        }
        (decoded, iter_err) => {
            panic!("decode {decoded:?} disagrees with iterator error {iter_err:?}")
        }
    }
    (from_iter, err)
}

fn sample_chunk(len: usize, seed: u64) -> Vec<u8> {
    let mut appender = XorAppender::new();
    let mut t = -1_000_000i64 + seed as i64;
    let mut v = seed as f64;
    for i in 0..len as u64 {
        t += match (seed + i) % 5 {
            0 => 15_000,
            1 => 14_999,
            2 => 1,
            3 => 1 << 35,
            _ => 10_000_000,
        };
        v = match (seed * 31 + i) % 4 {
            0 => v,
            1 => v + 1.0,
            2 => f64::from_bits(v.to_bits() ^ (seed.rotate_left(i as u32) | 1)),
            _ => f64::from_bits(0x7ff0_0000_0000_0002),
        };
        appender.append(t, v);
    }
    appender.finish()
}

#[test]
fn every_truncation_yields_a_prefix_and_an_error() {
    for (len, seed) in [(1, 3), (2, 5), (3, 7), (120, 11), (300, 13)] {
        let bytes = sample_chunk(len, seed);
        let (full, err) = decode_all_ways(&bytes);
        assert_eq!(err, None);
        assert_eq!(full.len(), len);
        for cut in 0..bytes.len() {
            let (prefix, err) = decode_all_ways(&bytes[..cut]);
            assert!(
                prefix.len() < len,
                "cut at {cut} of {} kept every sample",
                bytes.len()
            );
            assert_eq!(prefix[..], full[..prefix.len()], "cut at {cut}");
            let err = err.expect("a truncated chunk reports an error");
            if cut < 2 {
                assert_eq!(err, ChunkError::MissingHeader { len: cut });
            } else {
                assert_eq!(
                    err,
                    ChunkError::Truncated {
                        index: prefix.len(),
                        count: len
                    }
                );
            }
        }
    }
}

#[test]
fn malformed_fields_are_reported() {
    // Varint of 11 continuation bytes.
    let mut bytes = vec![0, 1];
    bytes.extend([0xff; 11]);
    assert_eq!(decode(&bytes), Err(ChunkError::InvalidVarint { index: 0 }));
    // Tenth varint byte overflowing 64 bits.
    let mut bytes = vec![0, 1];
    bytes.extend([0xff; 9]);
    bytes.push(0x02);
    assert_eq!(decode(&bytes), Err(ChunkError::InvalidVarint { index: 0 }));
    // Second timestamp delta of zero.
    let mut bytes = vec![0, 2, 0x00];
    bytes.extend([0; 8]);
    bytes.extend([0x00, 0x00]);
    assert_eq!(decode(&bytes), Err(ChunkError::NotIncreasing { index: 1 }));
    // New XOR window with 31 leading zeros and 40 meaningful bits.
    let mut bytes = vec![0, 2, 0x00];
    bytes.extend([0; 8]);
    bytes.push(0x01);
    // '11' + 11111 + 101000, padded.
    bytes.extend([0b1111_1111, 0b0100_0000, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode(&bytes),
        Err(ChunkError::InvalidXorWindow {
            index: 1,
            leading: 31,
            significant: 40
        })
    );
}

#[test]
fn header_announcing_more_than_present_is_truncated() {
    let mut bytes = sample_chunk(10, 1);
    bytes[0] = 0xff;
    let (samples, err) = decode_all_ways(&bytes);
    assert!(samples.len() >= 10);
    assert!(matches!(
        err,
        Some(ChunkError::Truncated { count: 0xff0a, .. }) | Some(ChunkError::NotIncreasing { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_all_ways(&bytes);
    }

    #[test]
    fn random_stream_behind_a_plausible_header_never_panics(
        count in 0u16..300,
        stream in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = count.to_be_bytes().to_vec();
        bytes.extend(stream);
        let (samples, err) = decode_all_ways(&bytes);
        prop_assert!(samples.len() <= usize::from(count));
        prop_assert_eq!(err.is_none(), samples.len() == usize::from(count));
    }

    #[test]
    fn flipped_bits_never_panic(len in 1usize..150, seed in any::<u64>(), flips in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
        let mut bytes = sample_chunk(len, seed % 1000);
        for flip in flips {
            let bit = flip.index(bytes.len() * 8);
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
        }
        decode_all_ways(&bytes);
    }
}
