#![allow(missing_docs)] // criterion_group! and criterion_main! generate undocumented items
//! Criterion benches of the hot paths over a line mix shaped like `shared/bench/loggen.py`
//! (nginx access lines, text app lines with key=value pairs, JSON lines):
//! literal and regex line filters, the json, logfmt and pattern parsers, and an
//! end-to-end `sum by (level) (count_over_time({...} | json [5m]))` on an in-memory store.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pitot_core::{Labels, TenantId};
use pitot_logql::ast::Expr;
use pitot_logql::logqltest::MemLogStore;
use pitot_logql::pipeline::{Pipeline, PipelineState};
use pitot_logql::{parse, Direction, LogqlEngine, LogqlOptions, QueryParams};
use pitot_storage_api::LogEntry;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/",
    "/api/v1/products",
    "/api/v1/cart",
    "/api/v1/checkout",
    "/healthz",
    "/metrics",
    "/api/v1/users/1234",
];
const LEVELS: &[&str] = &["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"];
const UAS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "curl/8.5.0",
    "Go-http-client/1.1",
];

fn nginx(r: &mut Rng) -> String {
    format!(
        r#"10.{}.{}.{} - - [25/Nov/2026:06:30:00 +0000] "GET {} HTTP/1.1" {} {} "-" "{}" rt=0.{:03} uct=0.000 req_id={:016x}"#,
        r.next() % 255,
        r.next() % 255,
        r.next() % 255,
        r.pick(PATHS),
        r.pick(&["200", "200", "200", "404", "500"]),
        r.next() % 20000,
        r.pick(UAS),
        r.next() % 1000,
        r.next()
    )
}

fn app(r: &mut Rng) -> String {
    format!(
        "2026-11-25T06:30:00.123Z {:<5} [worker-{}] payment.service: request completed method=GET path={} status={} dur_ms={} user_id={}",
        r.pick(LEVELS), r.next() % 4, r.pick(PATHS), r.pick(&["200", "201", "500"]), r.next() % 900, r.next() % 3_000_000
    )
}

fn json(r: &mut Rng) -> String {
    format!(
        r#"{{"ts":"2026-11-25T06:30:00.123Z","level":"{}","msg":"request done","app":"cart","caller":"order/service.go:{}","trace_id":"{:016x}{:016x}","span_id":"{:016x}","user_id":{},"latency_ms":{}.{},"status":{},"path":"{}"}}"#,
        r.pick(LEVELS).to_lowercase(),
        r.next() % 900,
        r.next(),
        r.next(),
        r.next(),
        r.next() % 3_000_000,
        r.next() % 300,
        r.next() % 1000,
        r.pick(&["200", "200", "500"]),
        r.pick(PATHS)
    )
}

fn lines(n: usize, kind: &str) -> Vec<String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| match kind {
            "nginx" => nginx(&mut r),
            "app" => app(&mut r),
            "json" => json(&mut r),
            _ => match i % 3 {
                0 => nginx(&mut r),
                1 => app(&mut r),
                _ => json(&mut r),
            },
        })
        .collect()
}

fn pipeline(q: &str) -> Pipeline {
    let Expr::Log(sel) = parse(q).unwrap() else {
        panic!()
    };
    Pipeline::compile(&sel.stages).unwrap()
}

fn bench_pipeline(c: &mut Criterion, name: &str, q: &str, input: &[String]) {
    let p = pipeline(q);
    let stream = Labels::from_pairs([("app", "x"), ("namespace", "shop"), ("pod", "x-1")]);
    let bytes: usize = input.iter().map(String::len).sum();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(name, |b| {
        let mut st = PipelineState::default();
        b.iter(|| {
            let mut kept = 0usize;
            for l in input {
                if p.process(&mut st, 0, l, &stream, &[], false) {
                    kept += 1;
                }
            }
            black_box(kept)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let mix = lines(20_000, "mix");
    bench_pipeline(c, "contains", r#"{app="x"} |= "needle""#, &mix);
    bench_pipeline(
        c,
        "regex",
        r#"{app="x"} |~ "status=5\\d\\d|\" 5\\d\\d ""#,
        &mix,
    );
    bench_pipeline(c, "json", r#"{app="x"} | json"#, &lines(20_000, "json"));
    bench_pipeline(c, "logfmt", r#"{app="x"} | logfmt"#, &lines(20_000, "app"));
    bench_pipeline(
        c,
        "pattern",
        r#"{app="x"} | pattern `<ip> - - [<_>] "<method> <path> <_>" <status> <size> <_>`"#,
        &lines(20_000, "nginx"),
    );

    // End to end through the engine.
    let store = MemLogStore::new();
    let tenant = TenantId::new("bench").unwrap();
    let json_lines = lines(100_000, "json");
    let bytes: usize = json_lines.iter().map(String::len).sum();
    let entries = json_lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| LogEntry {
            ts: i as i64 * 3_000_000,
            line,
            metadata: vec![],
        })
        .collect();
    store.append(&tenant, &Labels::from_pairs([("app", "cart")]), entries);
    let engine = LogqlEngine::new(LogqlOptions::default());
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    for (name, q) in [
        (
            "sum_by_level_count_json",
            r#"sum by (level) (count_over_time({app="cart"} | json [5m]))"#,
        ),
        (
            "count_contains",
            r#"count_over_time({app="cart"} |= "needle" [5m])"#,
        ),
    ] {
        let params = QueryParams {
            query: q.into(),
            start: 300_000_000_000,
            end: 300_000_000_000,
            step: 0,
            interval: None,
            limit: 100,
            direction: Direction::Backward,
            instant: true,
        };
        g.bench_function(name, |b| {
            b.iter(|| futures::executor::block_on(engine.query(&store, &tenant, &params)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
