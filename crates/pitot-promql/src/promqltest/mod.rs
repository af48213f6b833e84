//! A runner for Prometheus' PromQL test scripts (the `promqltest` format).
//!
//! Scripts `load` series into a [`MemStorage`] and `eval` queries against the engine,
//! comparing results, errors and annotations with the expectations written in the
//! script. Every instant `eval` is also checked the way Prometheus' own harness does: run
//! as a range query around the same time, and with `@` pinned on every selector at
//! several evaluation times, it must give the same answer.
//!
//! Native histograms are not evaluated by Pitot yet; with `skip_native_histograms` the
//! evals that read histogram data are counted as skipped instead of failed.

mod script;
mod storage;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use pitot_core::{Labels, Sample, TenantId};
use promql_parser::parser::{AtModifier, Expr};

pub use script::{
    parse_duration_ms, parse_script, Command, Eval, Load, MatchText, ScriptError, SlotValue,
};
pub use storage::MemStorage;

use crate::engine::{parse, parse_for_query, selector_matchers};
use crate::{Engine, EngineOptions, PromqlError, QueryResult, Value};

/// How the runner treats evals it cannot judge.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Count evals that read native histograms as skipped rather than failed.
    pub skip_native_histograms: bool,
    /// Evaluate without delayed name removal (the Prometheus server's default) instead
    /// of with it, as Prometheus' test engine and so the upstream scripts assume.
    pub immediate_name_removal: bool,
}

pub use pitot_core::conformance::{Failure, FileReport, Report};

/// The engine settings the scripts' expected values assume.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: Duration::from_secs(300),
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        default_subquery_step: Duration::from_secs(60),
        // Prometheus' test engine enables delayed name removal.
        delayed_name_removal: true,
    }
}

/// The `.test` files directly in `dir`, sorted.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every `.test` file in `dir`.
pub fn run_dir(dir: &Path, skip_native_histograms: bool) -> std::io::Result<Report> {
    let opts = RunOptions {
        skip_native_histograms,
        ..RunOptions::default()
    };
    let files = test_files(dir)?;
    Ok(Report {
        files: files.iter().map(|f| run_file_with(f, &opts)).collect(),
    })
}

/// Runs one script with default options (native histograms count as failures).
pub fn run_file(path: &Path) -> FileReport {
    run_file_with(path, &RunOptions::default())
}

/// The entry point of `pitot promqltest [--skip-native-histograms] PATH...`: runs files
/// and directories, prints one line per failure, the per-file table and the totals, and
/// returns the report.
pub fn run_cli(
    paths: &[PathBuf],
    skip_native_histograms: bool,
    out: &mut dyn Write,
) -> std::io::Result<Report> {
    let opts = RunOptions {
        skip_native_histograms,
        ..RunOptions::default()
    };
    let mut report = Report::default();
    for p in paths {
        let files = if p.is_dir() {
            test_files(p)?
        } else {
            vec![p.clone()]
        };
        for f in files {
            let fr = run_file_with(&f, &opts);
            for failure in &fr.failures {
                writeln!(out, "FAIL {failure}")?;
            }
            report.files.push(fr);
        }
    }
    write!(out, "{}", report.table())?;
    Ok(report)
}

/// Runs one script.
pub fn run_file_with(path: &Path, opts: &RunOptions) -> FileReport {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&name, &text, opts),
        Err(e) => FileReport {
            file: name,
            error: Some(e.to_string()),
            ..FileReport::default()
        },
    }
}

/// Runs a script given as text; `name` labels the report and failures.
pub fn run_script(name: &str, text: &str, opts: &RunOptions) -> FileReport {
    let mut report = FileReport {
        file: name.to_string(),
        ..FileReport::default()
    };
    let commands = match parse_script(text) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let mut runner = Runner::new(*opts);
    for cmd in &commands {
        match cmd {
            Command::Clear => runner.clear(),
            Command::Load(load) => runner.load(load),
            Command::Eval(eval) => match runner.eval(eval) {
                Outcome::Pass => report.passed += 1,
                Outcome::Skip => report.skipped += 1,
                Outcome::Fail(message) => {
                    report.failed += 1;
                    report.failures.push(Failure {
                        file: report.file.clone(),
                        line: eval.line,
                        query: eval.expr.clone(),
                        message,
                    });
                }
            },
        }
    }
    report
}

enum Outcome {
    Pass,
    Fail(String),
    Skip,
}

struct Runner {
    storage: MemStorage,
    /// Series that hold native-histogram samples, which Pitot does not store.
    histogram_series: HashSet<Labels>,
    tenant: TenantId,
    engine: Engine,
    opts: RunOptions,
}

/// Expected points of one series: `(t, value)`.
type ExpectedSeries = (Labels, Vec<(i64, f64)>);

impl Runner {
    fn new(opts: RunOptions) -> Self {
        Runner {
            storage: MemStorage::new(),
            histogram_series: HashSet::new(),
            tenant: TenantId::new("promqltest").expect("valid tenant"),
            engine: Engine::new(EngineOptions {
                delayed_name_removal: !opts.immediate_name_removal,
                ..test_engine_options()
            }),
            opts,
        }
    }

    fn clear(&mut self) {
        self.storage.clear();
        self.histogram_series.clear();
    }

    fn load(&mut self, load: &Load) {
        for (labels, values) in &load.series {
            let mut samples = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let t = i as i64 * load.interval_ms;
                match v {
                    SlotValue::Float(x) => samples.push(Sample::new(t, *x)),
                    SlotValue::Omitted => {}
                    SlotValue::Histogram => {
                        self.histogram_series.insert(labels.clone());
                    }
                }
            }
            self.storage.append(&self.tenant, labels.clone(), &samples);
        }
        if load.with_nhcb {
            // Classic histograms also appear as native histograms with custom buckets
            // under their base name.
            for (labels, _) in &load.series {
                if let Some(name) = labels.metric_name() {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        if let Some(base) = name.strip_suffix(suffix) {
                            let without_le = Labels::from_unsorted(
                                labels.iter().filter(|l| l.name != "le").cloned().collect(),
                            );
                            let l = crate::eval::labels_with_name(&without_le, base);
                            self.histogram_series.insert(l);
                        }
                    }
                }
            }
        }
    }

    fn reads_histograms(&self, expr: &Expr) -> bool {
        if self.histogram_series.is_empty() {
            return false;
        }
        let mut selectors = Vec::new();
        crate::eval::visit_selectors(expr, &mut |vs| selectors.push(vs.clone()));
        for vs in &selectors {
            let Ok(groups) = selector_matchers(vs) else {
                continue;
            };
            for matchers in groups {
                let hit = self.histogram_series.iter().any(|l| {
                    matchers
                        .iter()
                        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                });
                if hit {
                    return true;
                }
            }
        }
        false
    }

    fn eval(&mut self, eval: &Eval) -> Outcome {
        let expr = match eval.range {
            Some((start, end, step)) => parse_for_query(&eval.expr, step, end - start),
            None => parse(&eval.expr),
        };
        if self.opts.skip_native_histograms {
            if eval.mentions_histograms {
                return Outcome::Skip;
            }
            let reads = match &expr {
                Ok(e) => self.reads_histograms(e),
                // Without an AST, look for the names of histogram series in the text.
                Err(_) => self
                    .histogram_series
                    .iter()
                    .filter_map(|l| l.metric_name())
                    .any(|name| contains_word(&eval.expr, name)),
            };
            if reads {
                return Outcome::Skip;
            }
        }
        let expr = match expr {
            Ok(e) => e,
            Err(e) => {
                return match &eval.fail {
                    Some(m) => check_error_message(m, &e),
                    None => Outcome::Fail(format!("parse error: {e}")),
                };
            }
        };
        match (eval.at_ms, eval.range) {
            (Some(t), _) => self.eval_instant(eval, &expr, t),
            (None, Some((start, end, step))) => {
                let result = self.query_range(&expr, &eval.expr, start, end, step);
                match self.check(eval, result, start, step, false) {
                    Ok(()) => Outcome::Pass,
                    Err(m) => Outcome::Fail(m),
                }
            }
            (None, None) => Outcome::Fail("eval without time".into()),
        }
    }

    fn query_instant(&self, expr: &Expr, text: &str, t: i64) -> Result<QueryResult, PromqlError> {
        futures::executor::block_on(self.engine.instant_expr(
            &self.storage,
            &self.tenant,
            expr,
            text,
            t,
        ))
    }

    fn query_range(
        &self,
        expr: &Expr,
        text: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, PromqlError> {
        futures::executor::block_on(self.engine.range_expr(
            &self.storage,
            &self.tenant,
            expr,
            text,
            start,
            end,
            step,
        ))
    }

    fn eval_instant(&mut self, eval: &Eval, expr: &Expr, t: i64) -> Outcome {
        let result = self.query_instant(expr, &eval.expr, t);
        let (start, step) = eval
            .expected
            .range_vector
            .map(|(a, _, s)| (a, s))
            .unwrap_or((t, 0));
        if let Err(m) = self.check(eval, result, start, step, true) {
            return Outcome::Fail(m);
        }
        if eval.fail.is_some() {
            return Outcome::Pass;
        }
        // The same query as a range query around t must agree at t.
        let text = eval.expr.as_str();
        let scalar = eval.expected.scalar.is_some();
        let time_dependent = ["start()", "end()", "range()", "step()"]
            .iter()
            .any(|f| text.contains(f));
        let range_check = !eval.ordered
            && eval.expected.range_vector.is_none()
            && eval.expected.string.is_none()
            && !time_dependent;
        if range_check {
            let result = self.query_range(expr, text, t - 60_000, t + 60_000, 60_000);
            let at_t = result.map(|r| point_at(r, t, scalar));
            if let Err(m) = self.check(eval, at_t, t, 0, true) {
                return Outcome::Fail(format!("in range mode: {m}"));
            }
        }
        // Pinning every selector with `@ t` must not change the answer at other times.
        let time_functions = [
            "days_in_month",
            "day_of_month",
            "day_of_week",
            "day_of_year",
            "end",
            "hour",
            "minute",
            "month",
            "predict_linear",
            "range",
            "start",
            "step",
            "time",
            "timestamp",
            "year",
        ];
        let uses_time = time_functions.iter().any(|f| contains_call(text, f));
        if !uses_time && eval.expected.string.is_none() {
            let mut pinned = expr.clone();
            pin_at(&mut pinned, t);
            let times: Vec<i64> = if t == 0 {
                vec![-1000, 0, 1000]
            } else {
                vec![-10 * t, 0, t / 5, t, 10 * t]
            };
            for at in times {
                let result = self.query_instant(&pinned, text, at);
                if let Err(m) = self.check(eval, result, start, step, true) {
                    return Outcome::Fail(format!("with @ {t}ms evaluated at {at}ms: {m}"));
                }
                if range_check {
                    let result = self.query_range(&pinned, text, at - 60_000, at + 60_000, 60_000);
                    let at_t = result.map(|r| point_at(r, at, scalar));
                    if let Err(m) = self.check(eval, at_t, at, 0, true) {
                        return Outcome::Fail(format!("with @ {t}ms in range mode at {at}ms: {m}"));
                    }
                }
            }
        }
        Outcome::Pass
    }

    /// Compares one result with the expectations. `start`/`step` place expected values
    /// of matrices; `instant` tells whether the eval was an instant query.
    fn check(
        &self,
        eval: &Eval,
        result: Result<QueryResult, PromqlError>,
        start: i64,
        step: i64,
        instant: bool,
    ) -> Result<(), String> {
        let result = match (result, &eval.fail) {
            (Err(e), Some(m)) => {
                return match check_error_message(m, &e) {
                    Outcome::Pass => Ok(()),
                    Outcome::Fail(msg) => Err(msg),
                    Outcome::Skip => Ok(()),
                };
            }
            (Err(e), None) => return Err(format!("unexpected error: {e}")),
            (Ok(r), Some(_)) => {
                return Err(format!(
                    "expected an error, got a {} result",
                    r.value.type_name()
                ))
            }
            (Ok(r), None) => r,
        };
        check_annotations("warning", &eval.warn, eval.no_warn, &result.warnings)?;
        check_annotations("info", &eval.info, eval.no_info, &result.infos)?;
        let exp = &eval.expected;
        if let Some(s) = &exp.string {
            return match &result.value {
                Value::String(_, got) if got == s => Ok(()),
                other => Err(format!("expected string {s:?}, got {other:?}")),
            };
        }
        if let Some(x) = exp.scalar {
            return match &result.value {
                Value::Scalar(_, got) if almost_equal(x, *got) => Ok(()),
                other => Err(format!("expected scalar {x}, got {}", render(other))),
            };
        }
        let expected: Vec<ExpectedSeries> = exp
            .series
            .iter()
            .map(|(labels, values)| {
                let pts = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v {
                        SlotValue::Float(x) => Some((start + i as i64 * step, *x)),
                        _ => None,
                    })
                    .collect();
                (labels.clone(), pts)
            })
            .collect();
        match &result.value {
            Value::Vector(got) if instant && exp.range_vector.is_none() => {
                compare_vector(&expected, got, eval.ordered)
            }
            Value::Matrix(got) if !instant || exp.range_vector.is_some() => {
                compare_matrix(&expected, got)
            }
            other => Err(format!(
                "unexpected result type {}: {}",
                other.type_name(),
                render(other)
            )),
        }
    }
}

/// The points of a range result at time `t`, as an instant result; as a scalar (the
/// first series' point) when a scalar is expected.
fn point_at(r: QueryResult, t: i64, scalar: bool) -> QueryResult {
    let value = match r.value {
        Value::Matrix(m) => {
            let mut v = Vec::new();
            for (labels, samples) in m {
                if let Some(s) = samples.iter().find(|s| s.t == t) {
                    v.push((labels, *s));
                }
            }
            match (scalar, v.first()) {
                (true, Some((_, s))) => Value::Scalar(t, s.v),
                _ => Value::Vector(v),
            }
        }
        other => other,
    };
    QueryResult {
        value,
        warnings: r.warnings,
        infos: r.infos,
    }
}

fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let end = at + word.len();
        if (at == 0 || !is_ident(bytes[at - 1])) && (end >= bytes.len() || !is_ident(bytes[end])) {
            return true;
        }
        from = end;
    }
    false
}

fn contains_call(text: &str, name: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let rest = text[at + name.len()..].trim_start();
        if before_ok && rest.starts_with('(') {
            return true;
        }
        from = at + name.len();
    }
    false
}

/// Sets `@ t` on every selector and subquery that has none, without entering subqueries.
fn pin_at(e: &mut Expr, t: i64) {
    let at = if t >= 0 {
        UNIX_EPOCH + Duration::from_millis(t as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(t.unsigned_abs())
    };
    pin(e, &AtModifier::At(at));
}

fn pin(e: &mut Expr, at: &AtModifier) {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() {
                ms.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(sq) => {
            if sq.at.is_none() {
                sq.at = Some(at.clone());
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                pin(p, at);
            }
            pin(&mut a.expr, at);
        }
        Expr::Unary(u) => pin(&mut u.expr, at),
        Expr::Binary(b) => {
            pin(&mut b.lhs, at);
            pin(&mut b.rhs, at);
        }
        Expr::Paren(p) => pin(&mut p.expr, at),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                pin(a, at);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn check_error_message(m: &MatchText, e: &PromqlError) -> Outcome {
    let msg = e.to_string();
    match m {
        MatchText::Any => Outcome::Pass,
        MatchText::Exact(want) if *want == msg => Outcome::Pass,
        MatchText::Regex(re) => match regex::Regex::new(re) {
            Ok(r) if r.is_match(&msg) => Outcome::Pass,
            _ => Outcome::Fail(format!("error message mismatch: want /{re}/, got {msg:?}")),
        },
        MatchText::Exact(want) => Outcome::Fail(format!(
            "error message mismatch: want {want:?}, got {msg:?}"
        )),
    }
}

fn check_annotations(
    kind: &str,
    expected: &[MatchText],
    none: bool,
    got: &[String],
) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("expected no {kind}, got {got:?}"));
    }
    if expected.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected a {kind} annotation, got none"));
    }
    let matches = |m: &MatchText, s: &str| match m {
        MatchText::Any => true,
        MatchText::Exact(want) => want == s,
        MatchText::Regex(re) => regex::Regex::new(re).is_ok_and(|r| r.is_match(s)),
    };
    for m in expected {
        if !got.iter().any(|g| matches(m, g)) {
            return Err(format!(
                "message mismatch: expected {kind} {m:?}, got {got:?}"
            ));
        }
    }
    for g in got {
        if !expected.iter().any(|m| matches(m, g)) {
            return Err(format!("unexpected {kind} {g:?}"));
        }
    }
    Ok(())
}

/// Prometheus' `almost.Equal` with ε = 1e-6: relative to the sum of magnitudes, NaN
/// equals NaN, and no absolute tolerance around zero.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    const EPS: f64 = 1e-6;
    if pitot_core::is_stale_nan(a) || pitot_core::is_stale_nan(b) {
        return pitot_core::is_stale_nan(a) && pitot_core::is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPS * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPS
}

fn render(v: &Value) -> String {
    match v {
        Value::Scalar(_, x) => format!("scalar {x}"),
        Value::String(_, s) => format!("string {s:?}"),
        Value::Vector(v) => {
            let items: Vec<String> = v.iter().map(|(l, s)| format!("{l} {}", s.v)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Matrix(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(l, s)| {
                    let pts: Vec<String> = s.iter().map(|x| format!("{}@{}", x.v, x.t)).collect();
                    format!("{l} [{}]", pts.join(" "))
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn render_expected(e: &[ExpectedSeries]) -> String {
    let items: Vec<String> = e
        .iter()
        .map(|(l, pts)| {
            let p: Vec<String> = pts.iter().map(|(t, v)| format!("{v}@{t}")).collect();
            format!("{l} [{}]", p.join(" "))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn compare_vector(
    expected: &[ExpectedSeries],
    got: &[(Labels, Sample)],
    ordered: bool,
) -> Result<(), String> {
    let mismatch = || {
        let got_items: Vec<String> = got.iter().map(|(l, s)| format!("{l} {}", s.v)).collect();
        format!(
            "expected {}, got [{}]",
            render_expected(expected),
            got_items.join(", ")
        )
    };
    if expected.len() != got.len() {
        return Err(mismatch());
    }
    for (pos, (labels, sample)) in got.iter().enumerate() {
        let Some(ei) = expected.iter().position(|(l, _)| l == labels) else {
            return Err(format!("unexpected series {labels}; {}", mismatch()));
        };
        if ordered && ei != pos {
            return Err(format!("series {labels} at position {pos}, expected {ei}"));
        }
        let want = expected[ei].1.first().map(|p| p.1).unwrap_or(f64::NAN);
        if !almost_equal(want, sample.v) {
            return Err(format!(
                "value mismatch for {labels}: expected {want}, got {}",
                sample.v
            ));
        }
    }
    Ok(())
}

fn compare_matrix(
    expected: &[ExpectedSeries],
    got: &[(Labels, Vec<Sample>)],
) -> Result<(), String> {
    for pair in got.windows(2) {
        if pair[0].0 >= pair[1].0 {
            return Err(format!("matrix not sorted by labels at {}", pair[1].0));
        }
    }
    let mismatch = || {
        format!(
            "expected {}, got {}",
            render_expected(expected),
            render(&Value::Matrix(got.to_vec()))
        )
    };
    if expected.len() != got.len() {
        return Err(mismatch());
    }
    for (labels, samples) in got {
        let Some((_, want)) = expected.iter().find(|(l, _)| l == labels) else {
            return Err(format!("unexpected series {labels}; {}", mismatch()));
        };
        if want.len() != samples.len() {
            return Err(format!("point count mismatch for {labels}; {}", mismatch()));
        }
        for ((t, v), s) in want.iter().zip(samples) {
            if *t != s.t || !almost_equal(*v, s.v) {
                return Err(format!(
                    "point mismatch for {labels}: expected {v}@{t}, got {}@{}",
                    s.v, s.t
                ));
            }
        }
    }
    Ok(())
}
