//! What the server does with a push before storage, for the same 2,000 series of the
//! same labels with one sample each, sent as remote write 1.0, remote write 2.0 and
//! OTLP:
//!
//! - remote write: decompress the snappy body and read the view the distributor stores
//!   from;
//! - remote write 2.0: decompress, decode, resolve the symbols, encode the series
//!   exactly and read the same view back;
//! - OTLP (protobuf, and JSON): decode the export, translate it to series, encode them
//!   exactly and read the same view back.
//!
//! From the view on, both take the same path (validation, limits, storage), so the ratio
//! of these times bounds the extra CPU per sample of OTLP ingest from above only in
//! this part; `bench/` measures whole servers.

use criterion::{black_box, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pitot_otlp::{decode_metrics, translate_metrics, Encoding, MetricsOptions};
use pitot_proto::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
use pitot_proto::remote_write_view::WriteRequestView;

const SERIES: usize = 2_000;
const TS_MS: i64 = 1_700_000_000_000;

/// The labels of series `i` other than name, job and instance (pitot-proto's
/// remote-write bench's shape).
fn attributes(i: usize) -> Vec<(&'static str, String)> {
    vec![
        ("datacenter", format!("dc-{}", i % 4)),
        ("env", "prod".to_string()),
        ("rack", format!("r{}", i % 40)),
        ("cpu", format!("{}", i % 8)),
        ("mode", format!("m{}", i % 8)),
        ("device", format!("eth{}", i % 3)),
    ]
}

fn instance(i: usize) -> String {
    format!("host-{:05}:9100", i / 183)
}

fn remote_write() -> Vec<u8> {
    let timeseries = (0..SERIES)
        .map(|i| {
            let mut labels = vec![
                Label::new("__name__", format!("node_metric_{}_total", i % 23)),
                Label::new("instance", instance(i)),
                Label::new("job", "node"),
            ];
            labels.extend(attributes(i).into_iter().map(|(k, v)| Label::new(k, v)));
            TimeSeries {
                labels,
                samples: vec![Sample {
                    value: 1234.5 + i as f64,
                    timestamp: TS_MS,
                }],
                ..Default::default()
            }
        })
        .collect();
    encode_write_request(&WriteRequest {
        timeseries,
        ..Default::default()
    })
}

/// The same series as a remote write 2.0 request: labels as references into one
/// symbols table (empty string first, as the specification requires).
fn remote_write_v2() -> Vec<u8> {
    use pitot_proto::remote_write_v2::{Request, Sample2, TimeSeries2};
    let mut symbols = vec![String::new()];
    let mut index = std::collections::HashMap::new();
    let mut sym = |s: String| -> u32 {
        *index.entry(s.clone()).or_insert_with(|| {
            symbols.push(s);
            (symbols.len() - 1) as u32
        })
    };
    let timeseries = (0..SERIES)
        .map(|i| {
            let mut pairs = vec![
                (
                    "__name__".to_string(),
                    format!("node_metric_{}_total", i % 23),
                ),
                ("instance".to_string(), instance(i)),
                ("job".to_string(), "node".to_string()),
            ];
            pairs.extend(attributes(i).into_iter().map(|(k, v)| (k.to_string(), v)));
            let mut labels_refs = Vec::new();
            for (k, v) in pairs {
                labels_refs.push(sym(k));
                labels_refs.push(sym(v));
            }
            TimeSeries2 {
                labels_refs,
                samples: vec![Sample2 {
                    value: 1234.5 + i as f64,
                    timestamp: TS_MS,
                    start_timestamp: 0,
                }],
                ..Default::default()
            }
        })
        .collect();
    let request = Request {
        symbols,
        timeseries,
    };
    pitot_proto::encode_snappy(&prost::Message::encode_to_vec(&request))
}

/// What the server does with a 2.0 body before storage: decompress, decode, resolve
/// the symbols, encode the series exactly and read the view back.
fn remote_write_v2_to_view(body: &[u8]) -> usize {
    let raw = pitot_proto::decode_snappy(body, 64 << 20).expect("decompresses");
    let request = pitot_proto::remote_write_v2::decode(&raw).expect("decodes");
    let converted = pitot_proto::remote_write_v2::to_v1(request).expect("resolves");
    let encoded = pitot_proto::remote_write::encode_series_exact(&converted.request);
    let view = WriteRequestView::decode(&encoded).expect("reads back");
    view.sample_count()
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// The same series as OTLP: one resource per instance, one cumulative monotonic sum
/// per metric name, one data point per series.
fn otlp() -> ExportMetricsServiceRequest {
    let mut resources: Vec<ResourceMetrics> = Vec::new();
    for i in 0..SERIES {
        let inst = instance(i);
        let found = resources.iter().position(|r| {
            r.resource.as_ref().unwrap().attributes[1]
                .value
                .as_ref()
                .unwrap()
                .value
                == Some(any_value::Value::StringValue(inst.clone()))
        });
        let r = match found {
            Some(r) => r,
            None => {
                resources.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![
                            kv("service.name", "node".into()),
                            kv("service.instance.id", inst),
                        ],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics::default()],
                    ..Default::default()
                });
                resources.len() - 1
            }
        };
        let metrics = &mut resources[r].scope_metrics[0].metrics;
        let name = format!("node_metric_{}", i % 23);
        let m = match metrics.iter().position(|m| m.name == name) {
            Some(m) => m,
            None => {
                metrics.push(Metric {
                    name,
                    data: Some(Data::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                });
                metrics.len() - 1
            }
        };
        let Some(Data::Sum(sum)) = &mut metrics[m].data else {
            unreachable!()
        };
        sum.data_points.push(NumberDataPoint {
            attributes: attributes(i).into_iter().map(|(k, v)| kv(k, v)).collect(),
            time_unix_nano: TS_MS as u64 * 1_000_000,
            start_time_unix_nano: (TS_MS - 60_000) as u64 * 1_000_000,
            value: Some(number_data_point::Value::AsDouble(1234.5 + i as f64)),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: resources,
    }
}

fn otlp_to_view(body: &[u8], encoding: Encoding) -> usize {
    let request = decode_metrics(body, encoding).expect("decodes");
    let options = MetricsOptions {
        promote_resource_attributes: &[],
        max_output_bytes: 64 << 20,
    };
    let translation = translate_metrics(&request, options).expect("translates");
    drop(request);
    let view = WriteRequestView::decode(&translation.series).expect("reads back");
    view.sample_count()
}

fn bench(c: &mut Criterion) {
    let rw = remote_write();
    let request = otlp();
    let protobuf = prost::Message::encode_to_vec(&request);
    let json = serde_json::to_vec(&request).expect("JSON");
    assert_eq!(otlp_to_view(&protobuf, Encoding::Protobuf), SERIES);
    let mut group = c.benchmark_group("ingest_2000_series");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("remote_write_v1", |b| {
        b.iter(|| {
            let raw = pitot_proto::decode_snappy(black_box(&rw), 64 << 20).expect("decompresses");
            let view = WriteRequestView::decode(&raw).expect("decodes");
            black_box(view.sample_count())
        })
    });
    let rw2 = remote_write_v2();
    assert_eq!(remote_write_v2_to_view(&rw2), SERIES);
    group.bench_function("remote_write_v2", |b| {
        b.iter(|| black_box(remote_write_v2_to_view(black_box(&rw2))))
    });
    group.bench_function("otlp_protobuf", |b| {
        b.iter(|| black_box(otlp_to_view(black_box(&protobuf), Encoding::Protobuf)))
    });
    group.bench_function("otlp_protobuf_decode_only", |b| {
        b.iter(|| {
            black_box(decode_metrics(black_box(&protobuf), Encoding::Protobuf).expect("decodes"))
        })
    });
    group.bench_function("otlp_json", |b| {
        b.iter(|| black_box(otlp_to_view(black_box(&json), Encoding::Json)))
    });
    group.finish();
}

/// Keeps the `pub fn` that `criterion_group!` generates out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
