//! Criterion benches of the hot paths: encoding a chunk (sort-free seal, zstd, filter),
//! decoding one, scanning it for a needle, and checking a filter.

use criterion::{criterion_main, Criterion, Throughput};
use pitot_logstore::chunk::{self, Columns};
use pitot_logstore::filter::{FilterBuilder, LineFilter};

/// About 1 MiB of log lines that look like an app's JSON and text logs, with
/// high-entropy ids, deterministic.
fn lines() -> Columns {
    let mut c = Columns::default();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let msgs = [
        "payment authorized",
        "token refreshed",
        "cache miss",
        "upstream error",
    ];
    let mut ts = 1_700_000_000_000_000_000i64;
    while c.lines.len() < 1 << 20 {
        let r = next();
        ts += (r % 5_000_000) as i64;
        let line = if r % 3 == 0 {
            format!(
                "2026-11-25T10:46:28.{:03}Z INFO  [worker-{}] payment.service: order created order_id={:010x} user_id={} total={}.{:02}",
                r % 1000, r % 4, next() & 0xff_ffff_ffff, next() % 3_000_000, next() % 500, r % 100
            )
        } else {
            format!(
                r#"{{"ts":"2026-11-25T10:46:28.{:03}Z","level":"info","msg":"{}","trace_id":"{:016x}{:016x}","user_id":{},"latency_ms":{}.{:03},"status":200}}"#,
                r % 1000,
                msgs[(r % 4) as usize],
                next(),
                next(),
                next() % 3_000_000,
                next() % 300,
                r % 1000
            )
        };
        c.push(ts, line.as_bytes(), Vec::new());
    }
    c
}

fn benches(c: &mut Criterion) {
    let columns = lines();
    let raw = columns.lines.len() as u64;
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Bytes(raw));
    group.sample_size(20);
    for level in [1, 3, 6] {
        group.bench_function(format!("encode_zstd{level}"), |b| {
            b.iter(|| chunk::encode(&columns, level))
        });
    }
    let sealed = chunk::encode(&columns, 3);
    eprintln!(
        "chunk: {} entries, {} raw bytes, {} encoded ({:.2}x), filter {} bytes ({:.1}% of encoded)",
        sealed.meta.entries,
        raw,
        sealed.bytes.len(),
        raw as f64 / sealed.bytes.len() as f64,
        sealed.filter.len(),
        100.0 * sealed.filter.len() as f64 / sealed.bytes.len() as f64
    );
    group.bench_function("decode", |b| {
        b.iter(|| chunk::decode(&sealed.bytes).unwrap())
    });
    group.bench_function("decode_and_scan_needle", |b| {
        let finder = memchr::memmem::Finder::new(b"insufficient_funds");
        b.iter(|| {
            let d = chunk::decode(&sealed.bytes).unwrap();
            finder.find(&d.lines).is_some()
        })
    });
    group.finish();

    let filter = LineFilter::parse(&sealed.filter).unwrap();
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Bytes(raw));
    group.sample_size(20);
    group.bench_function("build", |b| {
        b.iter(|| {
            let mut builder = FilterBuilder::new();
            for i in 0..columns.len() {
                builder.add_line(columns.line(i));
            }
            builder.finish()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_trace_id", |b| {
        b.iter(|| filter.may_contain(b"4bf92f3577b34da6a3ce929d0e0e4736"))
    });
    group.bench_function("check_word", |b| {
        b.iter(|| filter.may_contain(b"insufficient_funds"))
    });
    group.finish();
}

/// Holds the undocumented `pub fn` that `criterion_group!` expands to.
mod group {
    criterion::criterion_group!(chunk_benches, super::benches);
}

criterion_main!(group::chunk_benches);
