//! The storage engine's hot paths on node_exporter-like series: finding a series by its
//! labels and appending one sample (what every remote-write sample costs), cutting
//! series into a block (encode + write), and opening and reading a block back.

use std::sync::Arc;

use criterion::{black_box, criterion_main, BenchmarkId, Criterion, Throughput};
use object_store::memory::InMemory;
use pitot_core::{Labels, Sample, TenantId};
use pitot_tsdb::head::TenantHead;
use pitot_tsdb::{Block, BlockBuilder};

const SERIES: usize = 10_000;
const SAMPLES: usize = 480;

/// Label sets shaped like the shared workload: 9 labels, 183 series per instance.
fn label_sets(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            let instance = format!("host-{:05}:9100", i / 183);
            Labels::from_pairs([
                ("__name__", format!("node_metric_{}_total", i % 23)),
                ("instance", instance),
                ("job", "node".to_string()),
                ("datacenter", format!("dc-{}", i % 4)),
                ("env", "prod".to_string()),
                ("rack", format!("r{}", i % 40)),
                ("cpu", format!("{}", i % 8)),
                ("mode", format!("m{}", i % 8)),
                ("device", format!("eth{}", i % 3)),
            ])
        })
        .collect()
}

/// A counter with two-decimal increments, as CPU seconds are.
fn samples(seed: usize) -> Vec<Sample> {
    let mut v = 1000.0 + seed as f64;
    (0..SAMPLES)
        .map(|i| {
            v = ((v + 10.0 + ((i * 7 + seed) % 13) as f64 * 0.37) * 100.0).round() / 100.0;
            Sample::new(1_700_000_000_000 + i as i64 * 15_000, v)
        })
        .collect()
}

fn bench_head(c: &mut Criterion) {
    let labels = label_sets(SERIES);
    let mut group = c.benchmark_group("head");
    group.throughput(Throughput::Elements(SERIES as u64));
    let mut head = TenantHead::new(i64::MIN);
    for l in &labels {
        head.get_or_create(l);
    }
    // What the append path has: borrowed (name, value) pairs of each series.
    let pairs: Vec<Vec<(&str, &str)>> = labels
        .iter()
        .map(|l| {
            l.iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect()
        })
        .collect();
    group.bench_function("lookup", |b| {
        b.iter(|| {
            for p in &pairs {
                black_box(head.lookup_pairs(black_box(p)));
            }
        })
    });
    let mut t = 0i64;
    group.bench_function("lookup_and_append", |b| {
        b.iter(|| {
            t += 15_000;
            for p in &pairs {
                if let Some((_, slot)) = head.lookup_pairs(p) {
                    let _ = head.append_at(slot, Sample::new(t, t as f64 * 0.25), 0, 0);
                }
            }
        })
    });
    group.finish();
}

fn bench_blocks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let tenant = TenantId::new("bench").expect("tenant");
    let mut labels = label_sets(2_000);
    labels.sort();
    let data: Vec<Vec<Sample>> = (0..labels.len()).map(samples).collect();
    let total = (labels.len() * SAMPLES) as u64;
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("build_and_write", total), |b| {
        b.iter(|| {
            let mut builder = BlockBuilder::new();
            for (l, s) in labels.iter().zip(&data) {
                builder.add(l, s);
            }
            let store = Arc::new(InMemory::new());
            rt.block_on(builder.write(store, &tenant, 0, i64::MAX))
                .expect("write")
        })
    });
    let store = Arc::new(InMemory::new());
    let mut builder = BlockBuilder::new();
    for (l, s) in labels.iter().zip(&data) {
        builder.add(l, s);
    }
    let written = rt
        .block_on(builder.write(store.clone(), &tenant, 0, i64::MAX))
        .expect("write");
    let ulid = written.meta.ulid.clone();
    eprintln!(
        "block: {} chunk bytes + {} index bytes for {total} samples ({:.3} B/sample)",
        written.meta.stats.chunk_bytes,
        written.meta.stats.index_bytes,
        (written.meta.stats.chunk_bytes + written.meta.stats.index_bytes) as f64 / total as f64
    );
    group.bench_function(BenchmarkId::new("open_and_read_all", total), |b| {
        b.iter(|| {
            let block = rt
                .block_on(Block::open(store.clone(), &tenant, &ulid))
                .expect("open")
                .expect("present");
            let ranges = block
                .series()
                .iter()
                .map(|s| {
                    let last = s.chunks.last().expect("chunks");
                    s.chunks[0].offset..last.offset + u64::from(last.len)
                })
                .collect();
            let bytes = rt.block_on(block.read_chunks(ranges)).expect("read");
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            for (series, data) in block.series().iter().zip(&bytes) {
                let base = series.chunks[0].offset;
                for c in &series.chunks {
                    let at = (c.offset - base) as usize;
                    ts.clear();
                    vs.clear();
                    pitot_chunkenc::decode_chunk_into(
                        &data[at..at + c.len as usize],
                        &mut ts,
                        &mut vs,
                    )
                    .expect("decodes");
                    black_box((&ts, &vs));
                }
            }
        })
    });
    group.finish();
}

/// Keeps the `pub fn` that `criterion_group!` generates out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::bench_head, super::bench_blocks);
}

criterion_main!(group::benches);
