//! Round-trip tests: what goes into an appender comes out bit for bit, via
//! the open appender, the finished bytes, and every decoder.

use pitot_chunkenc::{
    decode, decode_into, num_samples, ChunkError, XorAppender, XorIter, MAX_SAMPLES,
};
use proptest::prelude::*;

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn encode(samples: &[(i64, f64)]) -> XorAppender {
    let mut appender = XorAppender::new();
    for &(t, v) in samples {
        appender.append(t, v);
    }
    appender
}

fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Checks every read path against `samples` and returns the finished bytes.
fn assert_round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
    let appender = encode(samples);
    let want = bits(samples);

    assert_eq!(appender.len(), samples.len());
    assert_eq!(appender.is_empty(), samples.is_empty());
    assert_eq!(appender.min_time(), samples.first().map(|s| s.0));
    assert_eq!(appender.max_time(), samples.last().map(|s| s.0));

    let mut open = appender.iter();
    let from_open: Vec<(i64, f64)> = open.by_ref().collect();
    assert_eq!(open.err(), None);
    assert_eq!(bits(&from_open), want, "iter() on the open appender");

    let bytes = appender.finish();
    assert_eq!(num_samples(&bytes), Ok(samples.len()));
    assert_eq!(bits(&decode(&bytes).expect("decode")), want, "decode");

    let (mut ts, mut vs) = (vec![7], vec![7.0]);
    decode_into(&bytes, &mut ts, &mut vs).expect("decode_into");
    let columns: Vec<(i64, f64)> = ts[1..]
        .iter()
        .copied()
        .zip(vs[1..].iter().copied())
        .collect();
    assert_eq!(
        bits(&columns),
        want,
        "decode_into appends after existing items"
    );
    bytes
}

fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    let start = prop_oneof![
        -(1i64 << 50)..(1i64 << 50),
        Just(0i64),
        Just(1_700_000_000_000i64)
    ];
    let delta = prop_oneof![
        4 => Just(15_000i64),
        3 => 14_990i64..15_010,
        2 => 1i64..100,
        1 => 1i64..=(1i64 << 40),
    ];
    (start, prop::collection::vec(delta, 0..300)).prop_map(|(start, deltas)| {
        let mut t = start;
        let mut out = Vec::with_capacity(deltas.len());
        for delta in deltas {
            out.push(t);
            t += delta;
        }
        out
    })
}

fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        2 => (0u32..1000).prop_map(f64::from),
        1 => Just(f64::from_bits(STALE_NAN)),
        1 => Just(-0.0f64),
        1 => Just(0.0f64),
    ];
    prop::collection::vec(value, len)
}

fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    timestamps().prop_flat_map(|ts| {
        let len = ts.len();
        (Just(ts), values(len)).prop_map(|(ts, vs)| ts.into_iter().zip(vs).collect())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_samples_round_trip(samples in samples()) {
        assert_round_trip(&samples);
    }

    #[test]
    fn reopened_chunk_keeps_appending(samples in samples(), split in any::<prop::sample::Index>()) {
        let cut = if samples.is_empty() { 0 } else { split.index(samples.len() + 1) };
        let first = encode(&samples[..cut]).finish();
        let mut resumed = XorAppender::from_chunk(&first).expect("from_chunk");
        for &(t, v) in &samples[cut..] {
            resumed.append(t, v);
        }
        let whole = encode(&samples).finish();
        prop_assert_eq!(resumed.finish(), whole);
    }
}

#[test]
fn special_values_keep_their_bits() {
    let values = [
        f64::from_bits(STALE_NAN),
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        0.0,
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::from_bits(STALE_NAN),
    ];
    let samples: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 15_000, v))
        .collect();
    let bytes = assert_round_trip(&samples);
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded[0].1.to_bits(), STALE_NAN);
    assert!(decoded[5].1 == 0.0 && decoded[5].1.is_sign_negative());
    assert!(decoded[6].1.is_sign_positive());
}

#[test]
fn empty_chunk_is_just_the_header() {
    let bytes = assert_round_trip(&[]);
    assert_eq!(bytes, [0, 0]);
    assert_eq!(XorAppender::new().iter().next(), None);
}

#[test]
fn single_sample() {
    let bytes = assert_round_trip(&[(-5, 1.5)]);
    // header + 1-byte varint + 8 value bytes
    assert_eq!(bytes.len(), 2 + 1 + 8);
}

#[test]
fn extreme_timestamps_round_trip() {
    assert_round_trip(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]);
    assert_round_trip(&[(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0)]);
    assert_round_trip(&[(i64::MAX - 2, 1.0), (i64::MAX - 1, 1.0), (i64::MAX, 1.0)]);
    assert_round_trip(&[
        (-3, 1.0),
        (-2, 1.0),
        (1i64 << 62, 1.0),
        ((1i64 << 62) + 1, 1.0),
    ]);
}

#[test]
fn constant_series_costs_two_bits_per_sample() {
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| (1_700_000_000_000 + i * 15_000, 42.0))
        .collect();
    let bytes = assert_round_trip(&samples);
    // 2 header + 6 varint t0 + 8 v0 + 2 varint d1, then 1 bit for v1 and
    // 2 bits (dod 0, xor 0) for each of the other 118 samples.
    let first_two = 2 + 6 + 8 + 2;
    assert_eq!(bytes.len(), first_two + (1 + 118 * 2usize).div_ceil(8));
    assert!(
        bytes.len() <= 50,
        "constant chunk took {} bytes",
        bytes.len()
    );
}

/// A small deterministic generator so that the size assertions are stable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn bytes_per_sample(samples: &[(i64, f64)]) -> f64 {
    let bytes = assert_round_trip(samples);
    bytes.len() as f64 / samples.len() as f64
}

#[test]
fn regular_counter_is_compact() {
    let mut rng = SplitMix(1);
    let mut value = 1_234_567.0;
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            value += (rng.next() % 50) as f64;
            (1_700_000_000_000 + i * 15_000, value)
        })
        .collect();
    let per_sample = bytes_per_sample(&samples);
    assert!(per_sample < 2.5, "counter took {per_sample:.2} B/sample");
    // Scrape jitter of a few milliseconds costs one dod byte at most.
    let mut t = 1_700_000_000_000;
    let jittered: Vec<(i64, f64)> = samples
        .iter()
        .map(|&(_, v)| {
            t += 15_000 + (rng.next() % 5) as i64 - 2;
            (t, v)
        })
        .collect();
    let per_sample = bytes_per_sample(&jittered);
    assert!(
        per_sample < 3.5,
        "jittered counter took {per_sample:.2} B/sample"
    );
}

#[test]
fn random_gauge_stays_below_raw_size() {
    let mut rng = SplitMix(2);
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            let v = 0.5 + (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 0.01;
            (1_700_000_000_000 + i * 15_000, v)
        })
        .collect();
    let per_sample = bytes_per_sample(&samples);
    // 16 bytes raw; a full-entropy mantissa leaves little to compress.
    assert!(per_sample < 8.0, "gauge took {per_sample:.2} B/sample");
}

#[test]
fn try_append_rejects_out_of_order_and_full() {
    let mut appender = XorAppender::new();
    appender.try_append(10, 1.0).unwrap();
    assert_eq!(
        appender.try_append(10, 1.0),
        Err(ChunkError::OutOfOrder {
            previous: 10,
            timestamp: 10
        })
    );
    assert_eq!(appender.len(), 1);

    let mut full = XorAppender::new();
    for i in 0..MAX_SAMPLES {
        full.append(i as i64, (i % 7) as f64);
    }
    assert!(full.is_full());
    assert_eq!(
        full.try_append(i64::MAX, 0.0),
        Err(ChunkError::Full { max: MAX_SAMPLES })
    );
    let bytes = full.finish();
    assert_eq!(num_samples(&bytes), Ok(MAX_SAMPLES));
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded.len(), MAX_SAMPLES);
    assert_eq!(
        decoded[MAX_SAMPLES - 1],
        ((MAX_SAMPLES - 1) as i64, ((MAX_SAMPLES - 1) % 7) as f64)
    );
}

#[test]
fn bytes_are_valid_after_every_append() {
    let mut appender = XorAppender::new();
    for i in 0..130i64 {
        appender.append(i * 1000 + (i % 3), (i * i) as f64 / 7.0);
        let decoded = decode(appender.bytes()).unwrap();
        assert_eq!(decoded.len() as i64, i + 1);
        assert_eq!(decoded.last().unwrap().0, i * 1000 + (i % 3));
        assert_eq!(XorIter::new(appender.bytes()).count() as i64, i + 1);
    }
}

#[test]
fn from_chunk_rejects_corrupt_input() {
    assert_eq!(
        XorAppender::from_chunk(&[0]).unwrap_err(),
        ChunkError::MissingHeader { len: 1 }
    );
    assert!(XorAppender::from_chunk(&[0, 0]).unwrap().is_empty());
    let bytes = encode(&[(1, 1.0), (2, 2.0)]).finish();
    assert!(matches!(
        XorAppender::from_chunk(&bytes[..bytes.len() - 1]),
        Err(ChunkError::Truncated { index: 1, count: 2 })
    ));
}

/// Values that are mostly short decimals, as metrics are, with some that are not.
fn decimal_values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        4 => (-1_000_000_000i64..1_000_000_000, 0i32..7)
            .prop_map(|(m, s)| m as f64 / 10f64.powi(s)),
        2 => (0u64..1 << 53).prop_map(|m| m as f64 * 4096.0),
        1 => any::<u64>().prop_map(f64::from_bits),
        1 => Just(f64::from_bits(STALE_NAN)),
        1 => Just(-0.0f64),
    ];
    prop::collection::vec(value, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tagged_chunks_round_trip_bit_exact(
        (ts, vs) in timestamps().prop_flat_map(|ts| {
            let len = ts.len();
            (Just(ts), decimal_values(len))
        }),
    ) {
        if ts.is_empty() {
            return Ok(());
        }
        let bytes = pitot_chunkenc::encode_chunk(&ts, &vs);
        let (mut t, mut v) = (vec![-1], vec![-1.0]);
        pitot_chunkenc::decode_chunk_into(&bytes, &mut t, &mut v).expect("decodes");
        prop_assert_eq!(&t[1..], &ts[..]);
        let got: Vec<u64> = v[1..].iter().map(|x| x.to_bits()).collect();
        let want: Vec<u64> = vs.iter().map(|x| x.to_bits()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(pitot_chunkenc::chunk_samples(&bytes).unwrap(), ts.len());
    }
}
