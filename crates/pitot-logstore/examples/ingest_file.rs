//! Loads a raw log file (one entry per line, e.g. from
//! `python3 /work/shared/bench/loggen.py --bytes 200M --out /tmp/logs.txt`) into a
//! LogStore on a temp dir and prints ingest throughput, the compression ratio after a
//! flush, and needle select+scan times.
//!
//! `cargo run --release -p pitot-logstore --example ingest_file -- /tmp/logs.txt [--repeat N] [--level L] [--no-fsync]`
//!
//! Streams are derived from the line mix: JSON lines by their `"app"` field, nginx
//! lines as `ingress-nginx`, text lines by their component, each split round-robin over
//! four pods. Timestamps spread the file over one hour per repeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use pitot_core::{Labels, Matcher, TenantId};
use pitot_logstore::{LogStore, LogStoreOptions};
use pitot_storage_api::{LogAppender, LogEntry, LogQueryable, LogSelectHints, LogStreamBatch};

const HOUR: i64 = 3_600_000_000_000;
const PUSH_LINES: usize = 2000;
const WRITERS: usize = 4;

fn app_of(line: &str) -> String {
    if line.starts_with('{') {
        if let Some(i) = line.find("\"app\":\"") {
            let rest = &line[i + 7..];
            return rest[..rest.find('"').unwrap_or(0)].to_string();
        }
        return "json".into();
    }
    if line.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) && line.contains(" - - [") {
        return "ingress-nginx".into();
    }
    // text: "<ts> <LEVEL> [thread] component: message"
    match line.find("] ") {
        Some(i) => {
            let rest = &line[i + 2..];
            rest[..rest.find(':').unwrap_or(0)].replace('.', "-")
        }
        None => "other".into(),
    }
}

/// CPU seconds used by this process so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/logs.txt".into());
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let repeat = flag("--repeat").unwrap_or(1) as usize;
    let level = flag("--level").map_or(LogStoreOptions::default().zstd_level, |l| l as i32);
    let fsync = !args.iter().any(|a| a == "--no-fsync");

    let text = std::fs::read_to_string(&path).expect("read the log file");
    let lines: Vec<&str> = text.lines().collect();
    let raw_per_repeat: usize = lines.iter().map(|l| l.len()).sum();
    let mut pod_counter: HashMap<String, usize> = HashMap::new();
    let streams: Vec<Arc<Labels>> = {
        let mut cache: HashMap<(String, usize), Arc<Labels>> = HashMap::new();
        lines
            .iter()
            .map(|l| {
                let app = app_of(l);
                let n = pod_counter.entry(app.clone()).or_default();
                *n += 1;
                let pod = *n % 4;
                Arc::clone(cache.entry((app.clone(), pod)).or_insert_with(|| {
                    Arc::new(Labels::from_pairs([
                        ("app", app.clone()),
                        ("pod", format!("{app}-{pod}")),
                        ("env", "prod".to_string()),
                    ]))
                }))
            })
            .collect()
    };
    let distinct: std::collections::HashSet<&Labels> = streams.iter().map(|s| &**s).collect();
    println!(
        "{} lines, {:.1} MB raw per repeat, {} streams, repeat {repeat}, zstd level {level}, fsync {fsync}",
        lines.len(),
        raw_per_repeat as f64 / 1e6,
        distinct.len()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let objects = dir.path().join("objects");
    std::fs::create_dir_all(&objects).unwrap();
    let object_store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(&objects).unwrap());
    let options = LogStoreOptions {
        zstd_level: level,
        chunk_target_bytes: flag("--chunk-kib").map_or(1 << 20, |k| k as usize * 1024),
        wal_fsync: fsync,
        ..LogStoreOptions::default()
    };
    let store = Arc::new(
        LogStore::open(&dir.path().join("wal"), Arc::clone(&object_store), options)
            .await
            .unwrap(),
    );
    let tenant = TenantId::new("bench").unwrap();
    let t0 = 1_795_600_000_000_000_000i64;
    let step = HOUR / lines.len() as i64;

    let mut ingest_wall = 0.0;
    let mut ingest_cpu = 0.0;
    for r in 0..repeat {
        // Build every push first (the distributor's work), then time the appends.
        let mut pushes: Vec<Vec<LogStreamBatch>> = Vec::new();
        for (p, chunk) in lines.chunks(PUSH_LINES).enumerate() {
            let mut by_stream: HashMap<*const Labels, LogStreamBatch> = HashMap::new();
            for (j, line) in chunk.iter().enumerate() {
                let i = p * PUSH_LINES + j;
                let labels = &streams[i];
                by_stream
                    .entry(Arc::as_ptr(labels))
                    .or_insert_with(|| LogStreamBatch {
                        labels: (**labels).clone(),
                        entries: Vec::new(),
                    })
                    .entries
                    .push(LogEntry {
                        ts: t0 + r as i64 * HOUR + i as i64 * step,
                        line: line.to_string(),
                        metadata: Vec::new(),
                    });
            }
            pushes.push(by_stream.into_values().collect());
        }
        let queue = Arc::new(parking_lot::Mutex::new(std::collections::VecDeque::from(
            pushes,
        )));
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let mut tasks = Vec::new();
        for _ in 0..WRITERS {
            let (queue, store, tenant) = (Arc::clone(&queue), Arc::clone(&store), tenant.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().pop_front();
                    let Some(push) = next else { break };
                    let out = store.append_logs(&tenant, push).await.unwrap();
                    assert_eq!(out.rejected_total(), 0);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        ingest_wall += wall0.elapsed().as_secs_f64();
        ingest_cpu += cpu_seconds() - cpu0;
    }
    let raw = (raw_per_repeat * repeat) as f64;
    println!(
        "ingest: {:.1} MB/s wall, {:.1} MB per CPU-second ({:.2} s wall, {:.2} CPU-s)",
        raw / 1e6 / ingest_wall,
        raw / 1e6 / ingest_cpu,
        ingest_wall,
        ingest_cpu
    );
    let head = store.stats();
    println!(
        "head: {} streams, {} chunks, {:.1} MB held, wal {} fsyncs for {} records",
        head.streams,
        head.head_chunks,
        head.head_bytes as f64 / 1e6,
        head.wal.fsyncs,
        head.wal.records_appended
    );

    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    store.flush(true).await.unwrap();
    let stats = store.stats();
    let mut chunk_bytes = 0;
    let mut filter_bytes = 0;
    let mut index_bytes = 0;
    let mut listing = object_store.list(None);
    while let Some(meta) = listing.next().await {
        let meta = meta.unwrap();
        match meta.location.filename() {
            Some("chunks") => chunk_bytes += meta.size,
            Some("filters") => filter_bytes += meta.size,
            Some(_) => index_bytes += meta.size,
            None => {}
        }
    }
    let stored = (chunk_bytes + filter_bytes + index_bytes) as f64;
    println!(
        "flush: {:.2} s ({:.2} CPU-s); stored {:.1} MB = chunks {:.1} MB + filters {:.1} MB ({:.1}%) + index/meta {:.2} MB; ratio {:.2}x (chunks only {:.2}x), {} blocks, {} chunks",
        wall0.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
        stored / 1e6,
        chunk_bytes as f64 / 1e6,
        filter_bytes as f64 / 1e6,
        100.0 * filter_bytes as f64 / stored,
        index_bytes as f64 / 1e6,
        raw / stored,
        raw / chunk_bytes as f64,
        stats.blocks,
        stats.block_chunks
    );

    // Needles: a trace id from the middle of the file, a word, an absent one.
    let trace = lines[lines.len() / 2..]
        .iter()
        .find_map(|l| {
            l.find("\"trace_id\":\"")
                .map(|i| l[i + 12..i + 44].to_string())
        })
        .unwrap_or_default();
    let order = lines[lines.len() / 3..]
        .iter()
        .find_map(|l| l.find("order_id=").map(|i| l[i + 9..i + 19].to_string()))
        .unwrap_or_default();
    let needles = [
        trace.as_str(),
        order.as_str(),
        "insufficient_funds",
        "rare-needle",
        "GET /healthz",
    ];
    let selectors: [(&str, Vec<Matcher>); 2] = [
        ("{app=\"ledger\"}", vec![Matcher::equal("app", "ledger")]),
        ("{env=\"prod\"} (all)", vec![Matcher::equal("env", "prod")]),
    ];
    for (name, matchers) in &selectors {
        let q = store
            .log_querier(&tenant, t0, t0 + repeat as i64 * HOUR + 1)
            .unwrap();
        let stats = q.index_stats(matchers).await.unwrap();
        println!(
            "selector {name}: {} streams, {} chunks, {:.1} MB raw",
            stats.streams,
            stats.chunks,
            stats.bytes as f64 / 1e6
        );
        for needle in needles {
            let start = Instant::now();
            let hints = LogSelectHints {
                required_literals: vec![needle.to_string()],
                ..LogSelectHints::default()
            };
            let set = q.select(&hints, matchers).await.unwrap();
            let selected = start.elapsed().as_secs_f64();
            let mut found = 0usize;
            for s in &set.streams {
                found += s.entries().filter(|e| e.line.contains(needle)).count();
            }
            println!(
                "  |= {needle:?}: {found} lines, {} streams, select {:.3} s, total {:.3} s",
                set.streams.len(),
                selected,
                start.elapsed().as_secs_f64()
            );
        }
    }
    store.close().unwrap();
}
