//! Encode and decode throughput of 120-sample chunks, the size the TSDB head
//! seals, for counter-like and gauge-like series: XOR (the open chunk) and the
//! tagged decimal chunk sealed chunks and blocks store.

use criterion::{black_box, criterion_main, BenchmarkId, Criterion, Throughput};
use pitot_chunkenc::{decode_chunk_into, decode_into, encode_chunk, XorAppender, XorIter};

const SAMPLES: usize = 120;

/// Deterministic generator so that runs compare.
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

/// A request counter scraped every 15 s with a few ms of jitter.
fn counter() -> Vec<(i64, f64)> {
    let mut rng = SplitMix(1);
    let mut t = 1_700_000_000_000i64;
    let mut v = 1_234_567.0;
    (0..SAMPLES)
        .map(|_| {
            t += 15_000 + (rng.next() % 5) as i64 - 2;
            v += (rng.next() % 50) as f64;
            (t, v)
        })
        .collect()
}

/// A load-average-like gauge: a random walk with full-precision values.
fn gauge() -> Vec<(i64, f64)> {
    let mut rng = SplitMix(2);
    let mut t = 1_700_000_000_000i64;
    let mut v = 0.5;
    (0..SAMPLES)
        .map(|_| {
            t += 15_000;
            v += ((rng.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.01;
            (t, v)
        })
        .collect()
}

fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut appender = XorAppender::new();
    for &(t, v) in samples {
        appender.append(t, v);
    }
    appender.finish()
}

fn bench_xor(c: &mut Criterion) {
    let series = [("counter", counter()), ("gauge", gauge())];
    let mut group = c.benchmark_group("xor");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    for (name, samples) in &series {
        let bytes = encode(samples);
        eprintln!(
            "{name}: {} bytes, {:.2} B/sample",
            bytes.len(),
            bytes.len() as f64 / SAMPLES as f64
        );
        group.bench_with_input(BenchmarkId::new("encode", name), samples, |b, samples| {
            b.iter(|| encode(black_box(samples)))
        });
        let (mut ts, mut vs) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
        group.bench_with_input(BenchmarkId::new("decode_into", name), &bytes, |b, bytes| {
            b.iter(|| {
                ts.clear();
                vs.clear();
                decode_into(black_box(bytes), &mut ts, &mut vs).unwrap();
                black_box((&ts, &vs));
            })
        });
        group.bench_with_input(BenchmarkId::new("iter_sum", name), &bytes, |b, bytes| {
            b.iter(|| {
                let mut sum = 0.0;
                let mut last = 0;
                for (t, v) in XorIter::new(black_box(bytes)) {
                    sum += v;
                    last = t;
                }
                black_box((sum, last))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decimal");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    for (name, samples) in &series {
        let (ts, vs): (Vec<i64>, Vec<f64>) = samples.iter().copied().unzip();
        let bytes = encode_chunk(&ts, &vs);
        eprintln!(
            "{name}: tagged chunk (encoding {}) {} bytes, {:.2} B/sample",
            bytes[0],
            bytes.len(),
            bytes.len() as f64 / SAMPLES as f64
        );
        group.bench_with_input(
            BenchmarkId::new("encode", name),
            &(ts, vs),
            |b, (ts, vs)| b.iter(|| encode_chunk(black_box(ts), black_box(vs))),
        );
        let (mut ts, mut vs) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
        group.bench_with_input(BenchmarkId::new("decode_into", name), &bytes, |b, bytes| {
            b.iter(|| {
                ts.clear();
                vs.clear();
                decode_chunk_into(black_box(bytes), &mut ts, &mut vs).unwrap();
                black_box((&ts, &vs));
            })
        });
    }
    group.finish();
}

/// Keeps the `pub fn` that `criterion_group!` generates out of the crate's
/// public surface.
mod group {
    criterion::criterion_group!(benches, super::bench_xor);
}

criterion_main!(group::benches);
