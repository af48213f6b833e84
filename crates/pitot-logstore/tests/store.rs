//! End-to-end behaviour of the log store through the storage contract.

use std::sync::Arc;
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use pitot_core::{Label, Labels, Matcher, TenantId};
use pitot_logstore::{LogStore, LogStoreOptions};
use pitot_storage_api::{
    LogAppender, LogEntry, LogQueryable, LogRejectReason, LogSelectHints, LogStreamBatch,
};
use tempfile::TempDir;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

struct Env {
    dir: TempDir,
    options: LogStoreOptions,
}

impl Env {
    fn new() -> Env {
        Env::with(LogStoreOptions {
            wal_fsync: false,
            ..LogStoreOptions::default()
        })
    }

    fn with(options: LogStoreOptions) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            options,
        }
    }

    async fn open(&self) -> LogStore {
        let objects = self.dir.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&objects).unwrap());
        LogStore::open(&self.dir.path().join("wal"), store, self.options.clone())
            .await
            .unwrap()
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn labels(app: &str) -> Labels {
    Labels::from_pairs([("app", app), ("env", "prod")])
}

fn entry(ts: i64, line: &str) -> LogEntry {
    LogEntry {
        ts,
        line: line.to_string(),
        metadata: Vec::new(),
    }
}

fn batch(app: &str, entries: Vec<LogEntry>) -> LogStreamBatch {
    LogStreamBatch {
        labels: labels(app),
        entries,
    }
}

/// Every (labels, entries) a select returns.
async fn read(
    store: &LogStore,
    t: &TenantId,
    matchers: &[Matcher],
    literals: &[&str],
) -> Vec<(Labels, Vec<LogEntry>)> {
    let querier = store.log_querier(t, i64::MIN / 2, i64::MAX / 2).unwrap();
    let hints = LogSelectHints {
        required_literals: literals.iter().map(|s| s.to_string()).collect(),
        ..LogSelectHints::default()
    };
    let set = querier.select(&hints, matchers).await.unwrap();
    set.streams
        .iter()
        .map(|s| (s.labels.clone(), s.entries().collect()))
        .collect()
}

fn lines(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.line.as_str()).collect()
}

#[tokio::test]
async fn append_and_select_with_matchers() {
    let env = Env::new();
    let store = env.open().await;
    let t = tenant("t1");
    let out = store
        .append_logs(
            &t,
            vec![
                batch("web", vec![entry(T0, "GET /"), entry(T0 + 1, "GET /a")]),
                batch("api", vec![entry(T0 + 2, "POST /x")]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (out.accepted, out.new_streams, out.rejected_total()),
        (3, 2, 0)
    );
    assert_eq!(out.accepted_bytes, 5 + 6 + 7);

    let all = read(&store, &t, &[Matcher::equal("env", "prod")], &[]).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, labels("api"), "streams are sorted by labels");
    assert_eq!(lines(&all[1].1), ["GET /", "GET /a"]);

    let web = read(&store, &t, &[Matcher::regex("app", "w.*").unwrap()], &[]).await;
    assert_eq!(web.len(), 1);
    let none = read(&store, &t, &[Matcher::equal("app", "nope")], &[]).await;
    assert!(none.is_empty());
    let absent_label = read(&store, &t, &[Matcher::equal("team", "")], &[]).await;
    assert_eq!(
        absent_label.len(),
        2,
        "a missing label matches the empty string"
    );

    let q = store.log_querier(&t, 0, i64::MAX).unwrap();
    assert_eq!(q.label_names(&[]).await.unwrap(), ["app", "env"]);
    assert_eq!(q.label_values("app", &[]).await.unwrap(), ["api", "web"]);
    let stats = q
        .index_stats(&[Matcher::equal("app", "web")])
        .await
        .unwrap();
    assert_eq!(
        (stats.streams, stats.chunks, stats.entries, stats.bytes),
        (1, 1, 2, 11)
    );
}

#[tokio::test]
async fn out_of_order_window_and_duplicates() {
    for chunk_target_bytes in [1 << 20, 40] {
        let env = Env::with(LogStoreOptions {
            wal_fsync: false,
            out_of_order_window: Duration::from_secs(60),
            chunk_target_bytes,
            ..LogStoreOptions::default()
        });
        let store = env.open().await;
        let t = tenant("t1");
        let mut entries: Vec<LogEntry> = (0..20)
            .map(|i| entry(T0 + i * SEC, &format!("line {i:02}")))
            .collect();
        entries.push(entry(T0 + 5 * SEC, "line 05")); // exact duplicate
        entries.push(entry(T0 + 5 * SEC, "line 05 again")); // same time, other line
        entries.push(entry(T0 - 40 * SEC, "late but in window"));
        entries.push(entry(T0 - 42 * SEC, "too late"));
        entries.push(entry(T0 + 19 * SEC, "line 19")); // duplicate of the newest
        let out = store
            .append_logs(&t, vec![batch("web", entries)])
            .await
            .unwrap();
        assert_eq!(out.accepted, 24);
        assert_eq!(out.rejected, vec![(LogRejectReason::TooFarBehind, 1)]);
        assert_eq!(out.first_rejection.unwrap().ts, T0 - 42 * SEC);

        let got = read(&store, &t, &[], &[]).await;
        let got = &got[0].1;
        let ts: Vec<i64> = got.iter().map(|e| e.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ascending: {ts:?}");
        assert_eq!(got[0].line, "late but in window");
        if chunk_target_bytes > 1000 {
            // Duplicates of buffered entries are stored once (Loki's head-block rule).
            assert_eq!(got.len(), 22);
            let at5: Vec<&str> = got
                .iter()
                .filter(|e| e.ts == T0 + 5 * SEC)
                .map(|e| e.line.as_str())
                .collect();
            assert_eq!(at5, ["line 05", "line 05 again"]);
        }
    }
}

#[tokio::test]
async fn wal_replay_after_reopen_without_flush() {
    let env = Env::with(LogStoreOptions {
        wal_fsync: false,
        chunk_target_bytes: 200,
        ..LogStoreOptions::default()
    });
    let t = tenant("t1");
    let expected: Vec<String> = (0..100).map(|i| format!("entry number {i}")).collect();
    {
        let store = env.open().await;
        for (i, line) in expected.iter().enumerate() {
            let mut e = entry(T0 + i as i64, line);
            if i == 7 {
                e.metadata = vec![Label::new("trace_id", "abc")];
            }
            store
                .append_logs(&t, vec![batch("web", vec![e])])
                .await
                .unwrap();
        }
        // Dropped without flush or close.
    }
    let store = env.open().await;
    let got = read(&store, &t, &[], &[]).await;
    assert_eq!(lines(&got[0].1), expected);
    assert_eq!(got[0].1[7].metadata, vec![Label::new("trace_id", "abc")]);
    // The stream keeps its identity: new appends land in it.
    store
        .append_logs(&t, vec![batch("web", vec![entry(T0 + 1000, "after")])])
        .await
        .unwrap();
    assert_eq!(read(&store, &t, &[], &[]).await[0].1.len(), 101);
}

#[tokio::test]
async fn flush_then_reopen_reads_from_blocks_and_refuses_flushed_range() {
    let env = Env::with(LogStoreOptions {
        wal_fsync: false,
        chunk_target_bytes: 300,
        ..LogStoreOptions::default()
    });
    let t = tenant("t1");
    let all: Vec<String> = (0..200)
        .map(|i| format!("request {i} ok user={}", i * 31))
        .collect();
    {
        let store = env.open().await;
        let entries = all[..150]
            .iter()
            .enumerate()
            .map(|(i, l)| entry(T0 + i as i64 * SEC, l))
            .collect();
        store
            .append_logs(&t, vec![batch("web", entries)])
            .await
            .unwrap();
        // Two hours later, the oldest chunks are settled and old enough for a block.
        let flushed = store.flush_at(false, T0 + 3 * 3600 * SEC).await.unwrap();
        assert_eq!(flushed.blocks, 1);
        assert!(store.stats().blocks == 1 && store.stats().head_chunks == 0);
        let entries = all[150..]
            .iter()
            .enumerate()
            .map(|(i, l)| entry(T0 + (150 + i) as i64 * SEC, l))
            .collect();
        store
            .append_logs(&t, vec![batch("web", entries)])
            .await
            .unwrap();
        // Older than what was flushed: refused.
        let late = store
            .append_logs(&t, vec![batch("web", vec![entry(T0 + 10 * SEC, "late")])])
            .await
            .unwrap();
        assert_eq!(late.rejected_total(), 1);
        let got = read(&store, &t, &[], &[]).await;
        assert_eq!(lines(&got[0].1), all);
    }
    let store = env.open().await;
    let got = read(&store, &t, &[], &[]).await;
    assert_eq!(
        lines(&got[0].1),
        all,
        "blocks + replayed head, each entry once"
    );
    let found = read(&store, &t, &[], &["request 10 ok"]).await;
    assert_eq!(lines(&found[0].1), ["request 10 ok user=310"]);

    // Force-flush everything, reopen: all from blocks, WAL checkpointed.
    store.flush(true).await.unwrap();
    drop(store);
    let store = env.open().await;
    assert_eq!(store.stats().head_entries, 0);
    let got = read(&store, &t, &[], &[]).await;
    assert_eq!(lines(&got[0].1), all);
}

#[tokio::test]
async fn checkpoint_keeps_head_entries_across_restarts() {
    let env = Env::with(LogStoreOptions {
        wal_fsync: false,
        chunk_target_bytes: 100,
        ..LogStoreOptions::default()
    });
    let t = tenant("t1");
    let mut expected = Vec::new();
    {
        let store = env.open().await;
        for round in 0..3 {
            for app in ["a", "b"] {
                let entries: Vec<LogEntry> = (0..30)
                    .map(|i| {
                        entry(
                            T0 + (round * 100 + i) * SEC,
                            &format!("{app} round {round} entry {i}"),
                        )
                    })
                    .collect();
                if app == "a" {
                    expected.extend(entries.iter().map(|e| e.line.clone()));
                }
                store
                    .append_logs(&t, vec![batch(app, entries)])
                    .await
                    .unwrap();
            }
            // Not due: only seals, then checkpoints (force=false writes no block yet).
            store.flush_at(false, T0).await.unwrap();
        }
        store
            .flush_at(true, T0 + 250 * SEC)
            .await
            .unwrap_or_default();
    }
    let store = env.open().await;
    let got = read(&store, &t, &[Matcher::equal("app", "a")], &[]).await;
    assert_eq!(lines(&got[0].1), expected);
}

#[tokio::test]
async fn retention_deletes_old_blocks_per_tenant() {
    let env = Env::new();
    let store = env.open().await;
    let (a, b) = (tenant("a"), tenant("b"));
    for t in [&a, &b] {
        store
            .append_logs(t, vec![batch("web", vec![entry(T0, "old")])])
            .await
            .unwrap();
    }
    store.flush_at(true, T0).await.unwrap();
    for t in [&a, &b] {
        store
            .append_logs(
                t,
                vec![batch("web", vec![entry(T0 + 10 * 86400 * SEC, "new")])],
            )
            .await
            .unwrap();
    }
    store.flush_at(true, T0).await.unwrap();
    assert_eq!(store.stats().blocks, 4);
    let now = T0 + 12 * 86400 * SEC;
    let keep = |t: &TenantId| {
        if t.as_str() == "a" {
            Duration::from_secs(5 * 86400)
        } else {
            Duration::ZERO
        }
    };
    assert_eq!(store.apply_retention_with(now, &keep).await.unwrap(), 1);
    assert_eq!(lines(&read(&store, &a, &[], &[]).await[0].1), ["new"]);
    assert_eq!(
        lines(&read(&store, &b, &[], &[]).await[0].1),
        ["old", "new"]
    );
    // The default retention (31 days) keeps everything else.
    assert_eq!(store.apply_retention(now).await.unwrap(), 0);
    drop(store);
    let store = env.open().await;
    assert_eq!(store.stats().blocks, 3);
}

#[tokio::test]
async fn tenants_are_isolated() {
    let env = Env::new();
    let store = env.open().await;
    let (a, b) = (tenant("a"), tenant("b"));
    store
        .append_logs(&a, vec![batch("web", vec![entry(T0, "secret of a")])])
        .await
        .unwrap();
    store
        .append_logs(&b, vec![batch("web", vec![entry(T0, "b line")])])
        .await
        .unwrap();
    store.flush_at(true, T0).await.unwrap();
    store
        .append_logs(&a, vec![batch("web", vec![entry(T0 + 1, "head of a")])])
        .await
        .unwrap();
    let got_b = read(&store, &b, &[], &[]).await;
    assert_eq!(lines(&got_b[0].1), ["b line"]);
    let got_a = read(&store, &a, &[], &[]).await;
    assert_eq!(lines(&got_a[0].1), ["secret of a", "head of a"]);
    assert!(read(&store, &tenant("c"), &[], &[]).await.is_empty());
    let q = store.log_querier(&tenant("c"), 0, i64::MAX).unwrap();
    assert!(q.label_names(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn required_literals_filter_lines_in_head_and_blocks() {
    let env = Env::with(LogStoreOptions {
        wal_fsync: false,
        chunk_target_bytes: 2000,
        ..LogStoreOptions::default()
    });
    let store = env.open().await;
    let t = tenant("t1");
    let entries: Vec<LogEntry> = (0..1000)
        .map(|i| {
            let line = if i == 777 {
                "payment failed reason=insufficient_funds order=4bf92f3577b3".to_string()
            } else {
                format!("payment ok order={:012x}", i * 7919)
            };
            entry(T0 + i, &line)
        })
        .collect();
    store
        .append_logs(&t, vec![batch("pay", entries)])
        .await
        .unwrap();
    for _ in 0..2 {
        let got = read(&store, &t, &[], &["insufficient_funds"]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.len(), 1);
        assert_eq!(got[0].1[0].ts, T0 + 777);
        let both = read(&store, &t, &[], &["insufficient", "4bf92f"]).await;
        assert_eq!(both[0].1.len(), 1);
        // A filter false positive may return the stream, never a line.
        let rare = read(&store, &t, &[], &["rare-needle-not-there"]).await;
        assert!(rare.iter().all(|s| s.1.is_empty()));
        let short = read(&store, &t, &[], &["ok"]).await;
        assert_eq!(short[0].1.len(), 999);
        store.flush_at(true, T0).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_during_a_flush_see_every_entry_once() {
    let env = Env::with(LogStoreOptions {
        wal_fsync: false,
        chunk_target_bytes: 256,
        ..LogStoreOptions::default()
    });
    let store = Arc::new(env.open().await);
    let t = tenant("t1");
    for app in ["a", "b", "c", "d"] {
        let entries = (0..300)
            .map(|i| entry(T0 + i * SEC, &format!("{app} line {i}")))
            .collect();
        store
            .append_logs(&t, vec![batch(app, entries)])
            .await
            .unwrap();
    }
    let reader = {
        let (store, t) = (Arc::clone(&store), t.clone());
        tokio::spawn(async move {
            for _ in 0..200 {
                let got = read(&store, &t, &[], &[]).await;
                let n: usize = got.iter().map(|s| s.1.len()).sum();
                assert_eq!(n, 1200);
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..3 {
        store.flush_at(true, T0).await.unwrap();
    }
    reader.await.unwrap();
    assert_eq!(store.stats().head_entries, 0);
}

#[tokio::test]
async fn a_deleted_data_source_key_loses_head_blocks_and_wal() {
    let env = Env::new();
    let owner = tenant("acme");
    let audit = owner.storage_key("audit");
    let all = [Matcher::equal("env", "prod")];
    {
        let store = env.open().await;
        for key in [&owner, &audit] {
            store
                .append_logs(key, vec![batch("web", vec![entry(T0, "sealed")])])
                .await
                .unwrap();
        }
        store.flush(true).await.unwrap();
        for key in [&owner, &audit] {
            store
                .append_logs(key, vec![batch("web", vec![entry(T0 + SEC, "in head")])])
                .await
                .unwrap();
        }
        assert_eq!(read(&store, &audit, &all, &[]).await[0].1.len(), 2);
        store.delete_tenant(&audit).await.unwrap();
        assert!(read(&store, &audit, &all, &[]).await.is_empty());
        assert_eq!(read(&store, &owner, &all, &[]).await[0].1.len(), 2);
        store.close().unwrap();
    }
    let store = env.open().await;
    assert!(read(&store, &audit, &all, &[]).await.is_empty());
    let kept = read(&store, &owner, &all, &[]).await;
    assert_eq!(lines(&kept[0].1), ["sealed", "in head"]);
}
