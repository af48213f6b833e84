//! Decoding a remote-write request as the server receives it: 2,000 series of 9 labels
//! with one sample each, snappy-compressed (the shared workload's request shape).

use criterion::{black_box, criterion_main, Criterion, Throughput};
use pitot_proto::decode_snappy;
use pitot_proto::remote_write::{decode_write_request, encode_write_request};
use pitot_proto::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use pitot_proto::remote_write_view::WriteRequestView;

fn request() -> Vec<u8> {
    let timeseries = (0..2_000)
        .map(|i| TimeSeries {
            labels: [
                ("__name__", format!("node_metric_{}_total", i % 23)),
                ("instance", format!("host-{:05}:9100", i / 183)),
                ("job", "node".to_string()),
                ("datacenter", format!("dc-{}", i % 4)),
                ("env", "prod".to_string()),
                ("rack", format!("r{}", i % 40)),
                ("cpu", format!("{}", i % 8)),
                ("mode", format!("m{}", i % 8)),
                ("device", format!("eth{}", i % 3)),
            ]
            .into_iter()
            .map(|(name, value)| Label::new(name, value))
            .collect(),
            samples: vec![Sample {
                value: 1234.5 + i as f64,
                timestamp: 1_700_000_000_000,
            }],
            ..Default::default()
        })
        .collect();
    encode_write_request(&WriteRequest {
        timeseries,
        ..Default::default()
    })
}

fn bench_decode(c: &mut Criterion) {
    let body = request();
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("decode_2000_series", |b| {
        b.iter(|| decode_write_request(black_box(&body), 64 << 20).expect("decodes"))
    });
    // What the server does: decompress, then borrow the labels from the raw bytes.
    group.bench_function("decode_view_2000_series", |b| {
        b.iter(|| {
            let raw = decode_snappy(black_box(&body), 64 << 20).expect("decompresses");
            let view = WriteRequestView::decode(&raw).expect("decodes");
            black_box(view.len())
        })
    });
    group.finish();
}

/// Keeps the `pub fn` that `criterion_group!` generates out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::bench_decode);
}

criterion_main!(group::benches);
