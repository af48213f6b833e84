//! The public API over an in-memory store: log queries (limit, direction, grouping by
//! final labels), metric result shapes, limits, stats and storage hints.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pitot_core::{Label, Labels, Matcher, TenantId};
use pitot_logql::logqltest::MemLogStore;
use pitot_logql::{
    compile_log_query, parse, Direction, ErrorKind, LogqlEngine, LogqlOptions, QueryData,
    QueryParams,
};
use pitot_storage_api::{
    LogEntry, LogIndexStats, LogQuerier, LogQueryable, LogSelectHints, LogStreamSet, StorageError,
};

const S: i64 = 1_000_000_000;

fn tenant() -> TenantId {
    TenantId::new("t").unwrap()
}

fn store() -> MemLogStore {
    let s = MemLogStore::new();
    let entries = |app: &str| {
        (0..10)
            .map(|i| LogEntry {
                ts: i * S,
                line: format!(
                    "level={} app={app} i={i}",
                    if i % 2 == 0 { "info" } else { "error" }
                ),
                metadata: if i == 9 {
                    vec![Label::new("trace", "t9")]
                } else {
                    vec![]
                },
            })
            .collect()
    };
    s.append(&tenant(), &Labels::from_pairs([("app", "a")]), entries("a"));
    s.append(&tenant(), &Labels::from_pairs([("app", "b")]), entries("b"));
    s
}

fn params(
    q: &str,
    start: i64,
    end: i64,
    step: i64,
    limit: usize,
    direction: Direction,
) -> QueryParams {
    QueryParams {
        query: q.into(),
        start,
        end,
        step,
        interval: None,
        limit,
        direction,
        instant: step == 0,
    }
}

fn run(q: QueryParams) -> Result<pitot_logql::QueryOutput, pitot_logql::LogqlError> {
    let engine = LogqlEngine::new(LogqlOptions::default());
    futures::executor::block_on(engine.query(&store(), &tenant(), &q))
}

#[test]
fn log_query_backward_returns_newest_entries() {
    let out = run(params(
        r#"{app=~"a|b"} |= "error""#,
        0,
        9 * S,
        0,
        3,
        Direction::Backward,
    ))
    .unwrap();
    let QueryData::Streams(streams) = out.data else {
        panic!()
    };
    // [0, 9s): error lines at 1,3,5,7 for each app; newest 3 are 7(a), 7(b), 5(a).
    let total: Vec<(String, i64)> = streams
        .iter()
        .flat_map(|s| {
            s.entries
                .iter()
                .map(move |e| (s.labels.get("app").unwrap().to_string(), e.ts / S))
        })
        .collect();
    assert_eq!(
        total,
        vec![("a".into(), 7), ("a".into(), 5), ("b".into(), 7)]
    );
    assert_eq!(out.stats.total_entries_returned, 3);
    assert_eq!(out.stats.total_lines_processed, 18);
    // Lines that passed the filter, before the limit: 4 error lines in each stream.
    assert_eq!(out.stats.post_filter_lines, 8);
}

#[test]
fn log_query_forward_and_parsed_labels() {
    let out = run(params(
        r#"{app="a"} | logfmt | level="info" | line_format "{{.i}}""#,
        0,
        10 * S,
        0,
        2,
        Direction::Forward,
    ))
    .unwrap();
    let QueryData::Streams(streams) = out.data else {
        panic!()
    };
    assert_eq!(
        streams.len(),
        2,
        "i differs per line, so each line is its own stream"
    );
    assert_eq!(streams[0].entries[0].line, "0");
    assert_eq!(streams[0].labels.get("level"), Some("info"));
    assert_eq!(
        streams[0].entries[0]
            .parsed
            .iter()
            .find(|l| l.name == "i")
            .map(|l| l.value.as_str()),
        Some("0")
    );
    assert_eq!(streams[1].entries[0].line, "2");
}

#[test]
fn structured_metadata_joins_the_stream_labels() {
    let out = run(params(
        r#"{app="a"}"#,
        9 * S,
        10 * S,
        0,
        10,
        Direction::Forward,
    ))
    .unwrap();
    let QueryData::Streams(streams) = out.data else {
        panic!()
    };
    assert_eq!(
        streams[0].labels,
        Labels::from_pairs([("app", "a"), ("trace", "t9")])
    );
    assert_eq!(
        streams[0].entries[0].structured_metadata,
        vec![Label::new("trace", "t9")]
    );
}

#[test]
fn metric_shapes() {
    let out = run(params(
        r#"sum by (level) (count_over_time({app=~"a|b"} | logfmt [5s]))"#,
        0,
        9 * S,
        0,
        0,
        Direction::Backward,
    ))
    .unwrap();
    // (4s, 9s]: i=5..9 → error 5,7,9 ×2 apps = 6, info 6,8 ×2 = 4.
    assert_eq!(
        out.data,
        QueryData::Vector(vec![
            (Labels::from_pairs([("level", "error")]), 9000, 6.0),
            (Labels::from_pairs([("level", "info")]), 9000, 4.0),
        ])
    );
    let out = run(params(
        r#"count_over_time({app="a"}[2s])"#,
        2 * S,
        4 * S,
        2 * S,
        0,
        Direction::Backward,
    ))
    .unwrap();
    assert_eq!(
        out.data,
        QueryData::Matrix(vec![(
            Labels::from_pairs([("app", "a")]),
            vec![(2000, 2.0), (4000, 2.0)]
        )])
    );
    let out = run(params("1 + 1", 0, 5 * S, 0, 0, Direction::Backward)).unwrap();
    assert_eq!(out.data, QueryData::Scalar(5000, 2.0));
}

#[test]
fn limits_are_named() {
    let engine = LogqlEngine::new(LogqlOptions {
        max_series: 1,
        max_entries: 5,
        ..LogqlOptions::default()
    });
    let q = params(
        r#"count_over_time({app=~"a|b"}[5s])"#,
        0,
        9 * S,
        0,
        0,
        Direction::Backward,
    );
    let e = futures::executor::block_on(engine.query(&store(), &tenant(), &q)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert!(e.to_string().contains("max_series"), "{e}");
    let q = params(r#"{app="a"}"#, 0, 9 * S, 0, 6, Direction::Backward);
    let e = futures::executor::block_on(engine.query(&store(), &tenant(), &q)).unwrap_err();
    assert!(e.to_string().contains("max_entries"), "{e}");
    let q = params(
        r#"count_over_time({app="a"}[1s])"#,
        0,
        100_000 * S,
        S,
        0,
        Direction::Backward,
    );
    let e = futures::executor::block_on(engine.query(&store(), &tenant(), &q)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    let q = params(
        r#"count_over_time({app="a"}"#,
        0,
        S,
        0,
        0,
        Direction::Backward,
    );
    let e = futures::executor::block_on(engine.query(&store(), &tenant(), &q)).unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::BadQuery, 400));
}

#[test]
fn timeout_stops_the_query() {
    let s = MemLogStore::new();
    let entries: Vec<LogEntry> = (0..200_000)
        .map(|i| LogEntry {
            ts: i,
            line: "x".repeat(50),
            metadata: vec![],
        })
        .collect();
    s.append(&tenant(), &Labels::from_pairs([("app", "a")]), entries);
    let engine = LogqlEngine::new(LogqlOptions {
        timeout: Duration::from_nanos(1),
        ..LogqlOptions::default()
    });
    let q = params(
        r#"count_over_time({app="a"} | json [1h])"#,
        0,
        3_600 * S,
        0,
        0,
        Direction::Backward,
    );
    let e = futures::executor::block_on(engine.query(&s, &tenant(), &q)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

/// Records the hints it is given.
struct Recorder {
    inner: MemLogStore,
    hints: Arc<Mutex<Vec<LogSelectHints>>>,
}

struct RecorderQuerier {
    inner: Box<dyn LogQuerier>,
    hints: Arc<Mutex<Vec<LogSelectHints>>>,
}

impl LogQueryable for Recorder {
    fn log_querier(
        &self,
        t: &TenantId,
        s: i64,
        e: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        Ok(Box::new(RecorderQuerier {
            inner: self.inner.log_querier(t, s, e)?,
            hints: Arc::clone(&self.hints),
        }))
    }
}

#[async_trait]
impl LogQuerier for RecorderQuerier {
    async fn select(
        &self,
        hints: &LogSelectHints,
        m: &[Matcher],
    ) -> Result<LogStreamSet, StorageError> {
        self.hints.lock().unwrap().push(hints.clone());
        self.inner.select(hints, m).await
    }
    async fn label_names(&self, m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(m).await
    }
    async fn label_values(&self, n: &str, m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(n, m).await
    }
    async fn index_stats(&self, m: &[Matcher]) -> Result<LogIndexStats, StorageError> {
        self.inner.index_stats(m).await
    }
}

#[test]
fn literals_and_ranges_reach_storage() {
    let rec = Recorder {
        inner: store(),
        hints: Arc::default(),
    };
    let engine = LogqlEngine::default();
    let q = params(
        r#"count_over_time({app="a"} |= "error" |~ "x" | json |= "late" [5s] offset 1s)"#,
        10 * S,
        20 * S,
        5 * S,
        0,
        Direction::Backward,
    );
    futures::executor::block_on(engine.query(&rec, &tenant(), &q)).unwrap();
    let h = rec.hints.lock().unwrap()[0].clone();
    assert_eq!(
        h.required_literals,
        vec!["error".to_string(), "late".to_string()]
    );
    assert_eq!((h.start, h.end), (4 * S, 19 * S + 1));
}

#[test]
fn compiled_log_query_for_tail() {
    let c = compile_log_query(r#"{app="a"} |= "err" | logfmt | level="error""#).unwrap();
    assert_eq!(c.matchers().len(), 1);
    let stream = Labels::from_pairs([("app", "a")]);
    let e = LogEntry {
        ts: 1,
        line: "level=error msg=err".into(),
        metadata: vec![],
    };
    let (labels, line) = c.process(&stream, &e).unwrap();
    assert_eq!(labels.get("msg"), Some("err"));
    assert_eq!(line, "level=error msg=err");
    let e2 = LogEntry {
        ts: 1,
        line: "level=info msg=err".into(),
        metadata: vec![],
    };
    assert!(c.process(&stream, &e2).is_none());
    assert!(c.process(&Labels::from_pairs([("app", "b")]), &e).is_none());
    assert!(compile_log_query(r#"rate({app="a"}[1m])"#).is_err());
    assert!(parse(r#"{app="a"}"#).is_ok());
}

#[test]
fn a_raised_cancel_flag_stops_the_query() {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let q = params(
        r#"count_over_time({app="a"}[5s])"#,
        5 * S,
        9 * S,
        S,
        100,
        Direction::Backward,
    );
    let engine = LogqlEngine::new(LogqlOptions::default()).with_cancel(Arc::clone(&flag));
    assert!(futures::executor::block_on(engine.query(&store(), &tenant(), &q)).is_ok());
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let err = futures::executor::block_on(engine.query(&store(), &tenant(), &q)).unwrap_err();
    assert!(matches!(err, pitot_logql::LogqlError::Canceled), "{err}");
    assert_eq!(err.kind(), ErrorKind::Timeout);
}
