//! Query evaluation over an in-memory store shaped like a dashboard workload: 400
//! series (20 jobs × 20 instances, four `le` buckets each for the histogram) with 2h of
//! 15 s samples, evaluated as 2h range queries at a 1m step.
//!
//! The cases cover the hot paths: selecting and decoding series, range functions over
//! windows, aggregation, `histogram_quantile` and `topk`.

use criterion::{criterion_main, Criterion};
use pitot_core::{Labels, Sample, TenantId};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::{Engine, EngineOptions};

const HOUR_MS: i64 = 3_600_000;

fn store() -> (MemStorage, TenantId) {
    let storage = MemStorage::new();
    let tenant = TenantId::new("bench").expect("valid tenant");
    let samples = 2 * HOUR_MS / 15_000;
    for job in 0..20 {
        for instance in 0..20 {
            let base = [
                ("job", format!("job{job}")),
                ("instance", format!("10.0.{job}.{instance}:9100")),
            ];
            let mut labels: Vec<(&str, String)> = base.to_vec();
            labels.push(("__name__", "http_requests_total".into()));
            let counter: Vec<Sample> = (0..samples)
                .map(|i| Sample::new(i * 15_000, (i * (instance + 1)) as f64))
                .collect();
            storage.append(&tenant, Labels::from_pairs(labels), &counter);
            for (k, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
                let mut labels: Vec<(&str, String)> = base.to_vec();
                labels.push(("__name__", "http_request_duration_seconds_bucket".into()));
                labels.push(("le", le.to_string()));
                let buckets: Vec<Sample> = (0..samples)
                    .map(|i| Sample::new(i * 15_000, (i * (k as i64 + 1)) as f64))
                    .collect();
                storage.append(&tenant, Labels::from_pairs(labels), &buckets);
            }
        }
    }
    (storage, tenant)
}

fn bench_queries(c: &mut Criterion) {
    let (storage, tenant) = store();
    let engine = Engine::new(EngineOptions::default());
    let cases = [
        ("select", "http_requests_total"),
        ("rate_sum_by", "sum by (job) (rate(http_requests_total[5m]))"),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        ("topk", "topk(5, rate(http_requests_total[5m]))"),
        ("subquery", "max_over_time(rate(http_requests_total[5m])[30m:1m])"),
    ];
    for (name, query) in cases {
        c.bench_function(name, |b| {
            b.iter(|| {
                futures::executor::block_on(engine.range(
                    &storage,
                    &tenant,
                    query,
                    HOUR_MS,
                    2 * HOUR_MS,
                    60_000,
                ))
                .expect("query succeeds")
            })
        });
    }
}

/// Keeps the `pub fn` that `criterion_group!` generates out of the crate's public
/// surface.
mod group {
    criterion::criterion_group!(benches, super::bench_queries);
}

criterion_main!(group::benches);
