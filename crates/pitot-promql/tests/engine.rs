//! Engine semantics that are easy to get subtly wrong, written as promqltest scripts
//! (Pitot's own) plus direct API checks for errors and limits.

use std::time::Duration;

use pitot_core::{Labels, Sample, TenantId};
use pitot_promql::promqltest::{run_script, MemStorage, RunOptions};
use pitot_promql::{Engine, EngineOptions, ErrorKind, PromqlError, Value};

fn assert_script(name: &str, text: &str) {
    let report = run_script(name, text, &RunOptions::default());
    assert!(report.error.is_none(), "script error: {:?}", report.error);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert!(report.passed > 0);
}

#[test]
fn range_windows_are_left_open() {
    assert_script(
        "left_open",
        r#"
load 1m
  m 1 2 3

# (1m, 2m] holds only the sample at 2m.
eval instant at 2m count_over_time(m[1m])
  {} 1

# (0, 2m] excludes the sample at 0.
eval instant at 2m count_over_time(m[2m])
  {} 2

eval instant at 2m count_over_time(m[2m1ms])
  {} 3

# The lookback window is left-open too: (t-5m, t].
eval instant at 7m m

eval instant at 6m59s m
  m 3
"#,
    );
}

#[test]
fn staleness_markers_end_series() {
    assert_script(
        "staleness",
        r#"
load 1m
  s 1 stale 2 _ _

eval instant at 30s s
  s 1

eval instant at 1m s

eval instant at 1m30s s

eval instant at 2m s
  s 2

# Stale markers are not samples of range vectors.
eval instant at 2m count_over_time(s[5m])
  {} 2

eval range from 0 to 3m step 1m s
  s 1 _ 2 2
"#,
    );
}

#[test]
fn rate_extrapolation() {
    assert_script(
        "rate",
        r#"
load 1m
  c_total 0+60x10
  g 10 20 10

# Samples cover the whole window: no extrapolation needed beyond the edges.
eval instant at 10m rate(c_total[5m])
  {} 1

# The window starts before the first sample by more than 1.1 intervals: extrapolate
# by half an interval only (2m of samples + 30s), and never below zero.
eval instant at 2m increase(c_total[10m])
  {} 120

eval instant at 2m delta(g[3m])
  {} 0

eval instant at 2m irate(c_total[5m])
  {} 1
"#,
    );
}

#[test]
fn vector_matching() {
    assert_script(
        "matching",
        r#"
load 1m
  a{x="1", y="1"} 1
  a{x="1", y="2"} 2
  b{x="1"} 3
  c{x="1", z="9"} 4

eval instant at 0 a * on(x) group_left b
  {x="1", y="1"} 3
  {x="1", y="2"} 6

eval instant at 0 b * on(x) group_right a
  {x="1", y="1"} 3
  {x="1", y="2"} 6

eval instant at 0 a * on(x) group_left(z) c
  {x="1", y="1", z="9"} 4
  {x="1", y="2", z="9"} 8

eval instant at 0 a * on(x) b
  expect fail msg:multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)

eval instant at 0 b * on(x) a
  expect fail regex:found duplicate series for the match group \{x="1"\} on the right hand-side

eval instant at 0 a > on(x) group_left b
  expect no_warn

eval instant at 0 a and on(x) b
  a{x="1", y="1"} 1
  a{x="1", y="2"} 2

eval instant at 0 a unless on(y) b
  a{x="1", y="1"} 1
  a{x="1", y="2"} 2

eval instant at 0 b or a
  b{x="1"} 3
  a{x="1", y="1"} 1
  a{x="1", y="2"} 2

eval instant at 0 a == bool 2
  {x="1", y="1"} 0
  {x="1", y="2"} 1

eval instant at 0 a == 2
  a{x="1", y="2"} 2

eval instant at 0 1 < a
  a{x="1", y="2"} 2
"#,
    );
}

#[test]
fn metric_names_are_dropped_late() {
    assert_script(
        "names",
        r#"
load 1m
  a_total{x="1"} 0+1x5
  b_total{x="1"} 0+2x5

eval instant at 5m sum(rate({__name__=~"a_total|b_total"}[5m]))
  {} 0.05

eval instant at 5m rate({__name__=~"a_total|b_total"}[5m])
  expect fail msg:vector cannot contain metrics with the same labelset

eval instant at 5m label_replace(rate(a_total[5m]), "__name__", "a_rate", "__name__", "(.*)_total")
  a_rate{x="1"} 0.016666666666666666

eval instant at 5m last_over_time(a_total[5m])
  a_total{x="1"} 5
"#,
    );
}

/// Data for the name-removal tests: two counters that differ only in their name, and two
/// gauges that do not collide once their names are gone.
const NAME_DATA: &str = r#"
load 1m
  a_total{instance="i1"} 0+1x10
  b_total{instance="i1"} 0+2x10
  up{instance="i1"} 1x10
  queue_depth{instance="i1", queue="q"} 3x10
"#;

fn assert_script_with(name: &str, text: &str, opts: &RunOptions) {
    let report = run_script(name, text, opts);
    assert!(report.error.is_none(), "script error: {:?}", report.error);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert!(report.passed > 0);
}

#[test]
fn names_are_removed_at_once_without_delayed_name_removal() {
    let opts = RunOptions {
        immediate_name_removal: true,
        ..RunOptions::default()
    };
    let script = format!(
        "{NAME_DATA}{}",
        r#"
# rate() has already dropped the name, so there is nothing to copy.
eval instant at 5m label_replace(rate(a_total[5m]), "n", "$1", "__name__", "(.*)")
  {instance="i1"} 0.016666666666666666

eval instant at 5m sum by (instance) (rate({__name__=~"a_total|b_total"}[5m]))
  expect fail msg:vector cannot contain metrics with the same labelset

eval instant at 5m {__name__=~"a_total|b_total"} * 2
  expect fail msg:vector cannot contain metrics with the same labelset

eval instant at 5m count by (__name__) (abs({__name__=~"up|queue_depth"}))
  {} 2

eval instant at 5m count_values by (__name__) ("v", abs(queue_depth))
  {v="3"} 1

eval instant at 5m count_values by (__name__) ("v", queue_depth * 1)
  {v="3"} 1

eval instant at 5m count_values by (__name__) ("v", queue_depth)
  queue_depth{v="3"} 1

eval instant at 5m label_replace(rate(a_total[5m]), "__name__", "a_rate", "instance", "(.*)")
  a_rate{instance="i1"} 0.016666666666666666

eval range from 0 to 2m step 1m abs(a_total) or abs(b_total)
  {instance="i1"} 0 1 2
"#
    );
    assert_script_with("immediate_names", &script, &opts);
}

#[test]
fn names_are_removed_late_with_delayed_name_removal() {
    let script = format!(
        "{NAME_DATA}{}",
        r#"
# The name rate() marked for removal is still there for label_replace to read.
eval instant at 5m label_replace(rate(a_total[5m]), "n", "$1", "__name__", "(.*)")
  {instance="i1", n="a_total"} 0.016666666666666666

eval instant at 5m sum by (instance) (rate({__name__=~"a_total|b_total"}[5m]))
  {instance="i1"} 0.05

eval instant at 5m count by (__name__) (abs({__name__=~"up|queue_depth"}))
  expect fail msg:vector cannot contain metrics with the same labelset

# The removal mark survives count_values by (__name__), as it does sum by (__name__).
eval instant at 5m count_values by (__name__) ("v", abs(queue_depth))
  {v="3"} 1

eval instant at 5m count_values by (__name__) ("v", queue_depth * 1)
  {v="3"} 1

eval instant at 5m sum by (__name__) (abs(queue_depth))
  {} 3

eval instant at 5m count_values by (__name__) ("v", queue_depth)
  queue_depth{v="3"} 1

eval instant at 5m count_values("__name__", abs(queue_depth))
  {__name__="3"} 1
"#
    );
    assert_script_with("delayed_names", &script, &RunOptions::default());
}

#[test]
fn subqueries_align_to_absolute_steps() {
    assert_script(
        "subquery",
        r#"
load 10s
  m 0+1x100

# Inner steps at 0s, 20s, …, 60s fall in (0s, 60s] except 0s.
eval instant at 60s count_over_time(m[60s:20s])
  {} 3

eval instant at 65s count_over_time(m[60s:20s])
  {} 3

eval instant at 60s sum_over_time(m[60s:20s] offset 20s)
  {} 6

eval instant at 100s max_over_time(rate(m[20s])[40s:10s])
  {} 0.1
"#,
    );
}

#[test]
fn classic_histograms() {
    assert_script(
        "histograms",
        r#"
load 1m
  h_bucket{le="1"} 10
  h_bucket{le="2"} 20
  h_bucket{le="+Inf"} 20

eval instant at 0 histogram_quantile(0.5, h_bucket)
  {} 1

eval instant at 0 histogram_quantile(0.75, h_bucket)
  {} 1.5

eval instant at 0 histogram_fraction(0, 1.5, h_bucket)
  {} 0.75

eval instant at 0 histogram_quantiles(h_bucket, "q", 0.5, 0.75)
  {q="0.5"} 1
  {q="0.75"} 1.5
"#,
    );
}

#[test]
fn info_adds_data_labels() {
    assert_script(
        "info",
        r#"
load 1m
  requests_total{job="api", instance="a"} 0+10x10
  requests_total{job="api", instance="b"} 0+20x10
  target_info{job="api", instance="a", version="1.2", region="eu"} 1x10
  build_info{job="api", instance="b", version="2.0"} 1x10

eval range from 4m to 5m step 1m info(requests_total)
  requests_total{job="api", instance="a", version="1.2", region="eu"} 40 50
  requests_total{job="api", instance="b"} 80 100

eval instant at 5m info(requests_total, {region=~".+"})
  requests_total{job="api", instance="a", region="eu"} 50

# Matchers that accept the empty string keep series without an info match.
eval range from 4m to 5m step 1m info(requests_total, {region=~".*"})
  requests_total{job="api", instance="a", region="eu"} 40 50
  requests_total{job="api", instance="b"} 80 100

eval instant at 5m info(requests_total, {__name__="build_info"})
  requests_total{job="api", instance="a"} 50
  requests_total{job="api", instance="b", version="2.0"} 100
"#,
    );
}

fn store() -> (MemStorage, TenantId) {
    let storage = MemStorage::new();
    let tenant = TenantId::new("t1").unwrap();
    for i in 0..3 {
        let labels = Labels::from_pairs([("__name__", "up"), ("i", &i.to_string())]);
        let samples: Vec<Sample> = (0..10).map(|k| Sample::new(k * 60_000, k as f64)).collect();
        storage.append(&tenant, labels, &samples);
    }
    (storage, tenant)
}

#[test]
fn results_and_errors_through_the_api() {
    let (storage, tenant) = store();
    let engine = Engine::new(EngineOptions::default());
    let r =
        futures::executor::block_on(engine.instant(&storage, &tenant, "sum(up)", 120_000)).unwrap();
    assert_eq!(
        r.value,
        Value::Vector(vec![(Labels::default(), Sample::new(120_000, 6.0))])
    );
    let r = futures::executor::block_on(engine.range(
        &storage,
        &tenant,
        "up{i=\"1\"}",
        0,
        120_000,
        60_000,
    ))
    .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1.len(), 3);

    let err =
        futures::executor::block_on(engine.instant(&storage, &tenant, "sum(", 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadData);
    let err =
        futures::executor::block_on(engine.range(&storage, &tenant, "up", 10, 0, 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadData);

    // Another tenant sees nothing.
    let other = TenantId::new("t2").unwrap();
    let r = futures::executor::block_on(engine.instant(&storage, &other, "up", 120_000)).unwrap();
    assert_eq!(r.value, Value::Vector(Vec::new()));
}

#[test]
fn max_samples_limit_names_the_limit() {
    let (storage, tenant) = store();
    let engine = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = futures::executor::block_on(engine.instant(
        &storage,
        &tenant,
        "sum_over_time(up[10m])",
        540_000,
    ))
    .unwrap_err();
    assert!(
        matches!(err, PromqlError::TooManySamples { limit: 5 }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Execution);
    assert!(err.to_string().contains("max_samples=5"), "{err}");
    // Small queries still work.
    futures::executor::block_on(engine.instant(&storage, &tenant, "up{i=\"0\"}", 540_000)).unwrap();
}

#[test]
fn timeout_is_reported_as_timeout() {
    let (storage, tenant) = store();
    let engine = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    std::thread::sleep(Duration::from_millis(2));
    let err = futures::executor::block_on(engine.instant(&storage, &tenant, "up", 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}
