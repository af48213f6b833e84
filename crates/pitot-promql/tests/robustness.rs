//! Throws random well-formed and malformed queries at the engine: every query must
//! return a result or an error, never panic.

use pitot_core::{Labels, Sample, TenantId};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::{Engine, EngineOptions};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SELECTORS: &[&str] = &[
    "up",
    "up{job=\"a\"}",
    "req_total",
    "req_total{code=~\"2..\"}",
    "{__name__=~\"up|req_total\"}",
    "missing",
    "h_bucket",
];
const DURATIONS: &[&str] = &["1s", "1m", "5m", "90s", "1h", "0s", "1y", "10000d"];
const NUMBERS: &[&str] = &[
    "0", "1", "-1", "0.5", "NaN", "Inf", "-Inf", "1e308", "3", "100",
];
const RANGE_FNS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "count_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "absent_over_time",
    "mad_over_time",
    "ts_of_max_over_time",
];
const FNS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sgn",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "deg",
    "rad",
    "timestamp",
    "sort",
    "sort_desc",
    "absent",
    "hour",
    "month",
    "year",
    "day_of_week",
];
const AGGS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
];
const PARAM_AGGS: &[&str] = &["topk", "bottomk", "quantile", "limitk", "limit_ratio"];
const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2",
    "> bool", "== bool",
];
const MODS: &[&str] = &[
    "",
    "on(job)",
    "ignoring(code)",
    "on(job) group_left",
    "on() group_right(job)",
    "ignoring(job) group_left(code)",
    "fill(0)",
    "on(job) fill_left(1)",
];

fn vector_expr(r: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return r.pick(SELECTORS).to_string();
    }
    match r.below(14) {
        0 => format!(
            "{}({}[{}])",
            r.pick(RANGE_FNS),
            r.pick(SELECTORS),
            r.pick(DURATIONS)
        ),
        1 => format!("{}({})", r.pick(FNS), vector_expr(r, depth - 1)),
        2 => format!("{} by (job) ({})", r.pick(AGGS), vector_expr(r, depth - 1)),
        3 => format!(
            "{}({}, {})",
            r.pick(PARAM_AGGS),
            r.pick(NUMBERS),
            vector_expr(r, depth - 1)
        ),
        4 => {
            let op = r.pick(OPS);
            let m = if op == "and" || op == "or" || op == "unless" {
                r.pick(&["", "on(job)", "ignoring(code)"])
            } else {
                r.pick(MODS)
            };
            format!(
                "{} {op} {m} {}",
                vector_expr(r, depth - 1),
                vector_expr(r, depth - 1)
            )
        }
        5 => format!(
            "{} {} {}",
            vector_expr(r, depth - 1),
            r.pick(&["+", "*", ">", "/"]),
            r.pick(NUMBERS)
        ),
        6 => format!(
            "{}(({})[{}:{}])",
            r.pick(RANGE_FNS),
            vector_expr(r, depth - 1),
            r.pick(DURATIONS),
            r.pick(&["", "10s", "1m"])
        ),
        7 => format!(
            "{} offset {}",
            r.pick(SELECTORS),
            r.pick(&["5m", "-5m", "1y"])
        ),
        8 => format!(
            "{} @ {}",
            r.pick(SELECTORS),
            r.pick(&["0", "100", "start()", "end()", "-100"])
        ),
        9 => format!(
            "label_replace({}, \"dst\", \"$1\", \"job\", \"{}\")",
            vector_expr(r, depth - 1),
            r.pick(&["(.*)", "a(b", ".+", ""])
        ),
        10 => format!(
            "histogram_quantile({}, {})",
            r.pick(NUMBERS),
            vector_expr(r, depth - 1)
        ),
        _ => format!("count_values(\"v\", {})", vector_expr(r, depth - 1)),
    }
}

fn mutate(r: &mut Rng, q: &str) -> String {
    let mut chars: Vec<char> = q.chars().collect();
    for _ in 0..1 + r.below(3) {
        match r.below(3) {
            0 if !chars.is_empty() => {
                let at = r.below(chars.len());
                chars.truncate(at);
            }
            1 => {
                let at = r.below(chars.len() + 1);
                let c = [
                    '(', ')', '[', ']', '{', '}', '"', ':', '@', '-', 'x', ',', '9',
                ][r.below(13)];
                chars.insert(at, c);
            }
            _ if !chars.is_empty() => {
                let at = r.below(chars.len());
                chars.remove(at);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_queries_never_panic() {
    let storage = MemStorage::new();
    let tenant = TenantId::new("fuzz").unwrap();
    for (name, labels) in [
        ("up", vec![("job", "a")]),
        ("up", vec![("job", "b")]),
        ("req_total", vec![("job", "a"), ("code", "200")]),
        ("req_total", vec![("job", "a"), ("code", "500")]),
        ("h_bucket", vec![("le", "0.5")]),
        ("h_bucket", vec![("le", "+Inf")]),
    ] {
        let mut pairs = vec![("__name__", name)];
        pairs.extend(labels);
        let samples: Vec<Sample> = (0..50)
            .map(|i| Sample::new(i * 15_000, (i * 7 % 13) as f64))
            .collect();
        storage.append(&tenant, Labels::from_pairs(pairs), &samples);
    }
    let engine = Engine::new(EngineOptions {
        max_samples: 100_000,
        ..EngineOptions::default()
    });
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0usize;
    for i in 0..1500 {
        let depth = 1 + r.below(3) as u32;
        let mut q = vector_expr(&mut r, depth);
        if i % 3 == 0 {
            q = mutate(&mut r, &q);
        }
        let t = [0i64, 300_000, 600_000, -60_000][r.below(4)];
        let result = std::panic::catch_unwind(|| {
            let a = futures::executor::block_on(engine.instant(&storage, &tenant, &q, t));
            let b = futures::executor::block_on(engine.range(
                &storage,
                &tenant,
                &q,
                t,
                t + 600_000,
                60_000,
            ));
            usize::from(a.is_ok()) + usize::from(b.is_ok())
        });
        match result {
            Ok(n) => ok += n,
            Err(_) => panic!("query panicked: {q}"),
        }
    }
    // Most generated queries are valid: the test must exercise evaluation, not only
    // the parser.
    assert!(ok > 1500, "only {ok} of 3000 evaluations succeeded");
}

#[test]
fn extreme_times_are_rejected_not_overflowed() {
    let storage = MemStorage::new();
    let tenant = TenantId::new("fuzz").unwrap();
    let engine = Engine::default();
    for q in [
        "up offset 100000000y",
        "up[100000000y]",
        "up @ 1e300",
        "rate(up[5m:1ms])",
    ] {
        let _ = futures::executor::block_on(engine.instant(&storage, &tenant, q, 0));
    }
    for (start, end) in [
        (i64::MIN, i64::MAX),
        (i64::MAX - 1, i64::MAX),
        (0, i64::MAX),
    ] {
        let r = futures::executor::block_on(engine.range(&storage, &tenant, "up", start, end, 1));
        assert!(r.is_err());
    }
    let r = futures::executor::block_on(engine.instant(&storage, &tenant, "up", i64::MAX));
    assert!(r.is_err());
}
