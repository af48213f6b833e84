//! The evaluator: walks the AST once per query, evaluating every node for all steps of
//! the query's time grid at once.
//!
//! A node's value is one of [`Val`]: a scalar per step, or a vector of series whose
//! points are indexed by step. Evaluating all steps together lets a selector walk each
//! decoded series once with a moving cursor, and lets aggregations and binary operators
//! compute their grouping and matching signatures once per series instead of once per
//! step. Per-step semantics (matching errors, `topk`, `or`) are still decided step by
//! step over the present points.

mod aggregate;
mod binary;
mod functions;
mod labels;
mod range_fns;

use crate::HashMap;
use std::time::Instant;

use pitot_core::{is_stale_nan, Labels, Sample};
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use crate::error::PromqlError;

pub(crate) use labels::{drop_metric_name, without_metric_name};

/// The evaluation time grid: `start`, `start + step`, … up to `end` inclusive (ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    /// Number of steps.
    pub fn len(&self) -> usize {
        if self.step <= 0 || self.end < self.start {
            return 1;
        }
        ((self.end - self.start) / self.step + 1) as usize
    }

    /// Time of step `i`.
    pub fn at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One selected series, decoded on use: a node decodes each series into a reused buffer
/// and turns it into points at once, so a query never holds all selected samples in
/// memory (a `count` over 100k series would otherwise hold hundreds of MB of them).
#[derive(Debug)]
pub(crate) struct SelectedSeries {
    source: pitot_storage_api::Series,
    /// The time range the selector needs (ms, inclusive).
    mint: i64,
    maxt: i64,
}

impl SelectedSeries {
    pub fn new(source: pitot_storage_api::Series, mint: i64, maxt: i64) -> Self {
        SelectedSeries { source, mint, maxt }
    }

    pub fn labels(&self) -> &Labels {
        &self.source.labels
    }

    /// Replaces `out` with the series' ascending samples, stale markers kept.
    pub fn decode_into(&self, out: &mut Vec<Sample>) {
        out.clear();
        self.source.collect_range(self.mint, self.maxt, out);
    }
}

/// Decoded storage data per vector-selector node (keyed by node address).
pub(crate) type Fetched = HashMap<usize, Vec<SelectedSeries>>;

/// The key of a selector node in [`Fetched`].
pub(crate) fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// The key of an `info()` call's info-series data in [`Fetched`].
pub(crate) fn call_key(c: &promql_parser::parser::Call) -> usize {
    c as *const promql_parser::parser::Call as usize
}

/// A series of an instant-vector value: one optional point per grid step.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    /// The metric name is logically removed; it is physically removed at the end of the
    /// query (Prometheus' delayed name removal), so that intermediate results of different
    /// metrics do not collide.
    pub drop_name: bool,
    pub points: Vec<Option<f64>>,
}

impl Series {
    fn is_empty(&self) -> bool {
        self.points.iter().all(Option::is_none)
    }
}

/// A series of a range-vector value: samples in ascending time order.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub drop_name: bool,
    pub samples: Vec<Sample>,
}

/// The value of a node over the whole grid.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
    /// Only produced at the top of an instant query (`x[5m]`, `rate(x[5m])[10m:]`).
    Matrix(Vec<RangeSeries>),
    String(String),
}

/// One series of range-vector data: a stored series decoded on use, or the samples a
/// subquery computed.
pub(crate) struct WindowSeries<'a> {
    /// Borrowed from the selected series (cloned only for series that produce a
    /// result), owned for subqueries.
    pub labels: std::borrow::Cow<'a, Labels>,
    pub drop_name: bool,
    pub samples: WindowSamples<'a>,
}

/// Where a [`WindowSeries`]' samples come from.
pub(crate) enum WindowSamples<'a> {
    /// Decoded on use, staleness markers dropped.
    Stored(&'a SelectedSeries),
    /// Computed by a subquery.
    Owned(Vec<Sample>),
}

impl WindowSeries<'_> {
    /// The series' samples without staleness markers, decoded into `scratch` when stored.
    pub fn samples<'s>(&'s self, scratch: &'s mut Vec<Sample>) -> &'s [Sample] {
        match &self.samples {
            WindowSamples::Owned(samples) => samples,
            WindowSamples::Stored(series) => {
                series.decode_into(scratch);
                if scratch.iter().any(|x| is_stale_nan(x.v)) {
                    scratch.retain(|x| !is_stale_nan(x.v));
                }
                scratch
            }
        }
    }
}

/// Range-vector data prepared for a range function: per series all samples, and per step
/// the window `(end - range, end]`.
pub(crate) struct Windows<'a> {
    pub series: Vec<WindowSeries<'a>>,
    /// Window end per grid step (ms).
    pub ends: Vec<i64>,
    /// Window length (ms).
    pub range: i64,
}

impl Windows<'_> {
    /// The samples of a series' `samples` inside the window of step `i`.
    pub fn window<'s>(&self, samples: &'s [Sample], i: usize) -> &'s [Sample] {
        window_slice(samples, self.ends[i] - self.range, self.ends[i])
    }

    /// The index range of every step's window into a series' `samples`, written to
    /// `out`. Window ends only move forward across steps (or stay put under `@`), so one
    /// sweep with two cursors finds them all.
    pub fn ranges(&self, samples: &[Sample], out: &mut Vec<(usize, usize)>) {
        out.clear();
        let (mut a, mut b) = (0usize, 0usize);
        let mut prev_end = i64::MIN;
        for &end in &self.ends {
            if end < prev_end {
                // Not monotonic: restart the cursors.
                a = 0;
                b = 0;
            }
            prev_end = end;
            let start = end - self.range;
            while a < samples.len() && samples[a].t <= start {
                a += 1;
            }
            if b < a {
                b = a;
            }
            while b < samples.len() && samples[b].t <= end {
                b += 1;
            }
            out.push((a, b.max(a)));
        }
    }
}

/// Series below this count are evaluated on the calling thread.
const PARALLEL_SERIES: usize = 256;

/// [`pitot_core::parallel_chunks`] over a query's series: independent series of one query
/// use both cores of a small machine.
pub(crate) fn parallel_chunks<T: Sync, R: Send, E: Send>(
    items: &[T],
    f: impl Fn(&[T]) -> Result<Vec<R>, E> + Sync,
) -> Result<Vec<R>, E> {
    pitot_core::parallel_chunks(items, PARALLEL_SERIES, f)
}

/// Samples with `lo < t <= hi`.
pub(crate) fn window_slice(samples: &[Sample], lo: i64, hi: i64) -> &[Sample] {
    let a = samples.partition_point(|s| s.t <= lo);
    let b = samples.partition_point(|s| s.t <= hi);
    if a >= b {
        &[]
    } else {
        &samples[a..b]
    }
}

/// Annotations collected while evaluating.
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    pub fn warn(&mut self, msg: String) {
        let msg = format!("PromQL warning: {msg}");
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub fn info(&mut self, msg: String) {
        let msg = format!("PromQL info: {msg}");
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }
}

/// Settings and per-query state of one evaluation.
pub(crate) struct Evaluator<'a> {
    pub fetched: &'a Fetched,
    pub lookback: i64,
    pub default_step: i64,
    /// The query's own start and end, which `@ start()` and `@ end()` refer to.
    pub query_start: i64,
    pub query_end: i64,
    /// The query's step (0 for instant queries), which `step()` returns.
    pub query_step: i64,
    pub deadline: Option<(Instant, u128)>,
    /// Raised when the requester is gone.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    pub max_samples: usize,
    pub samples_in_use: usize,
    pub annotations: Annotations,
    /// The query text, to locate annotation positions.
    pub query: &'a str,
    /// Prometheus' delayed name removal: names marked for removal stay until the result
    /// is built. Off, [`Evaluator::eval`] removes them at the node that marked them.
    pub delayed_name_removal: bool,
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

pub(crate) fn duration_ms(d: &std::time::Duration) -> i64 {
    d.as_millis() as i64
}

/// Removes redundant parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl<'a> Evaluator<'a> {
    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    pub fn check_deadline(&self) -> Result<(), PromqlError> {
        pitot_core::yield_point();
        if self.is_canceled() {
            return Err(PromqlError::Canceled);
        }
        if let Some((deadline, timeout_ms)) = self.deadline {
            if Instant::now() > deadline {
                return Err(PromqlError::Timeout { timeout_ms });
            }
        }
        Ok(())
    }

    /// Whether the requester is gone.
    pub fn is_canceled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Accounts for `n` more samples held in memory and fails over the limit.
    pub fn use_samples(&mut self, n: usize) -> Result<(), PromqlError> {
        self.samples_in_use = self.samples_in_use.saturating_add(n);
        if self.samples_in_use > self.max_samples {
            return Err(PromqlError::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }

    /// Fails when `series` series of `steps` points each would exceed the sample limit.
    /// Vectors hold one slot per step, present or not, so this bounds their memory the
    /// way `max_samples` bounds Prometheus' (which holds only present points).
    pub fn check_dense(&self, series: usize, steps: usize) -> Result<(), PromqlError> {
        if series.saturating_mul(steps) > self.max_samples {
            return Err(PromqlError::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }

    /// Releases samples accounted with [`Evaluator::use_samples`].
    pub fn release_samples(&mut self, n: usize) {
        self.samples_in_use = self.samples_in_use.saturating_sub(n);
    }

    /// Evaluates `e` over every step of `g`.
    pub fn eval(&mut self, e: &Expr, g: &Grid) -> Result<Val, PromqlError> {
        let val = self.eval_node(e, g)?;
        if self.delayed_name_removal {
            return Ok(val);
        }
        // Without delayed name removal the name goes at the node that drops it; series
        // that then share a label set at a step are an error, as in Prometheus.
        Ok(match val {
            Val::Vector(series) if series.iter().any(|s| s.drop_name) => {
                Val::Vector(crate::engine::finalize_series(series)?)
            }
            other => other,
        })
    }

    fn eval_node(&mut self, e: &Expr, g: &Grid) -> Result<Val, PromqlError> {
        self.check_deadline()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; g.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, g),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, g)?;
                Ok(match v {
                    Val::Scalar(mut xs) => {
                        for x in &mut xs {
                            *x = -*x;
                        }
                        Val::Scalar(xs)
                    }
                    Val::Vector(mut series) => {
                        for s in &mut series {
                            s.drop_name = true;
                            for p in s.points.iter_mut().flatten() {
                                *p = -*p;
                            }
                        }
                        Val::Vector(series)
                    }
                    other => other,
                })
            }
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, g, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                let w = self.eval_windows(e, g)?;
                // A range vector is only a result at the top of an instant query.
                let mut scratch = Vec::new();
                let series = w
                    .series
                    .iter()
                    .filter_map(|s| {
                        let samples = w.window(s.samples(&mut scratch), 0).to_vec();
                        (!samples.is_empty()).then(|| RangeSeries {
                            labels: s.labels.clone().into_owned(),
                            drop_name: s.drop_name,
                            samples,
                        })
                    })
                    .collect();
                Ok(Val::Matrix(series))
            }
            Expr::Binary(b) => self.eval_binary(b, g),
            Expr::Aggregate(a) => self.eval_aggregate(a, g),
            Expr::Call(c) => self.eval_call(c, g),
            Expr::Extension(_) => Err(PromqlError::BadQuery(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// Evaluates an expression that must be a scalar (function parameters).
    pub fn eval_scalar(&mut self, e: &Expr, g: &Grid) -> Result<Vec<f64>, PromqlError> {
        match self.eval(e, g)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(PromqlError::BadQuery(format!(
                "expected scalar expression, got {e}"
            ))),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub fn eval_vector(&mut self, e: &Expr, g: &Grid) -> Result<Vec<Series>, PromqlError> {
        match self.eval(e, g)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(_) => Err(PromqlError::BadQuery(format!(
                "expected instant vector, got scalar in {e}"
            ))),
            _ => Err(PromqlError::BadQuery(format!(
                "expected instant vector in {e}"
            ))),
        }
    }

    /// Evaluates a vector selector: for every step, the newest sample in the lookback
    /// window `(t - lookback, t]`, unless that sample is a staleness marker. With
    /// `timestamps`, the point is the sample's own time in seconds instead of its value.
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        g: &Grid,
        timestamps: bool,
    ) -> Result<Vec<Series>, PromqlError> {
        let Some(data) = self.fetched.get(&selector_key(vs)) else {
            return Err(PromqlError::Execution(format!(
                "selector {vs} was not prepared"
            )));
        };
        let offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let this = &*self;
        // Each part decodes its series into one reused buffer and keeps only the points.
        let computed = parallel_chunks(data, |part| {
            let mut scratch = Vec::new();
            let mut out = Vec::with_capacity(part.len());
            for s in part {
                s.decode_into(&mut scratch);
                out.push(this.instant_points(&scratch, g, offset, at, timestamps));
            }
            Ok::<_, std::convert::Infallible>(out)
        })
        .unwrap_or_else(|never| match never {});
        let mut out = Vec::new();
        let mut loaded = 0usize;
        for (s, points) in data.iter().zip(computed) {
            let present = points.iter().filter(|p| p.is_some()).count();
            if present == 0 {
                continue;
            }
            loaded += present;
            self.check_dense(out.len() + 1, g.len())?;
            out.push(Series {
                labels: s.labels().clone(),
                drop_name: false,
                points,
            });
        }
        self.use_samples(loaded)?;
        self.release_samples(loaded);
        Ok(out)
    }

    /// [`Evaluator::instant_samples`] as points: the sample's value, or with
    /// `timestamps` its time in seconds.
    fn instant_points(
        &self,
        samples: &[Sample],
        g: &Grid,
        offset: i64,
        at: Option<i64>,
        timestamps: bool,
    ) -> Vec<Option<f64>> {
        self.instant_map(samples, g, offset, at, |smp| {
            if timestamps {
                smp.t as f64 / 1000.0
            } else {
                smp.v
            }
        })
    }

    /// For every step, the newest sample in `(t - lookback, t]` (with `t` shifted by the
    /// offset, or fixed by `@`), unless it is a staleness marker.
    pub fn instant_samples(
        &self,
        samples: &[Sample],
        g: &Grid,
        offset: i64,
        at: Option<i64>,
    ) -> Vec<Option<Sample>> {
        self.instant_map(samples, g, offset, at, |smp| smp)
    }

    /// [`Evaluator::instant_samples`] with each picked sample mapped by `f`, without an
    /// intermediate vector of samples.
    fn instant_map<P: Clone>(
        &self,
        samples: &[Sample],
        g: &Grid,
        offset: i64,
        at: Option<i64>,
        f: impl Fn(Sample) -> P,
    ) -> Vec<Option<P>> {
        let pick = |idx: usize, r: i64| -> Option<P> {
            let smp = samples[..idx].last()?;
            (smp.t > r - self.lookback && !is_stale_nan(smp.v)).then(|| f(*smp))
        };
        let n = g.len();
        if let Some(at) = at {
            let r = at - offset;
            let idx = samples.partition_point(|x| x.t <= r);
            return vec![pick(idx, r); n];
        }
        let mut points = Vec::with_capacity(n);
        let mut idx = 0usize;
        for i in 0..n {
            let r = g.at(i) - offset;
            while idx < samples.len() && samples[idx].t <= r {
                idx += 1;
            }
            points.push(pick(idx, r));
        }
        points
    }

    /// Evaluates a range-vector expression (matrix selector or subquery, possibly in
    /// parentheses) into per-step windows.
    pub fn eval_windows(&mut self, e: &Expr, g: &Grid) -> Result<Windows<'a>, PromqlError> {
        self.eval_windows_accounting(e, g, true)
    }

    /// [`Evaluator::eval_windows`], leaving the sample accounting to the caller when
    /// `account` is false (a range function counts the windows it walks anyway, with
    /// [`Evaluator::account_peak`]).
    pub fn eval_windows_accounting(
        &mut self,
        e: &Expr,
        g: &Grid,
        account: bool,
    ) -> Result<Windows<'a>, PromqlError> {
        match unparen(e) {
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vs;
                let Some(data) = self.fetched.get(&selector_key(vs)) else {
                    return Err(PromqlError::Execution(format!(
                        "selector {vs} was not prepared"
                    )));
                };
                let offset = offset_ms(&vs.offset);
                let at = self.at_ms(&vs.at);
                let ends: Vec<i64> = (0..g.len())
                    .map(|i| at.unwrap_or_else(|| g.at(i)) - offset)
                    .collect();
                let series = data
                    .iter()
                    .map(|s| WindowSeries {
                        labels: std::borrow::Cow::Borrowed(s.labels()),
                        drop_name: false,
                        samples: WindowSamples::Stored(s),
                    })
                    .collect();
                let w = Windows {
                    series,
                    ends,
                    range: duration_ms(&ms.range),
                };
                if account {
                    self.account_windows(&w)?;
                }
                Ok(w)
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, g, account),
            other => Err(PromqlError::BadQuery(format!(
                "expected a range vector, got {other}"
            ))),
        }
    }

    fn account_windows(&mut self, w: &Windows<'_>) -> Result<(), PromqlError> {
        // The largest number of samples held by the windows of any one step.
        let n = w.ends.len();
        let parts = parallel_chunks(&w.series, |part| {
            let mut per_step = vec![0usize; n];
            let mut ranges = Vec::with_capacity(n);
            let mut scratch = Vec::new();
            for s in part {
                w.ranges(s.samples(&mut scratch), &mut ranges);
                for (count, (a, b)) in per_step.iter_mut().zip(&ranges) {
                    *count += b - a;
                }
            }
            Ok::<_, std::convert::Infallible>(vec![per_step])
        });
        let mut per_step = vec![0usize; n];
        for part in parts.unwrap_or_else(|never| match never {}) {
            for (total, count) in per_step.iter_mut().zip(part) {
                *total += count;
            }
        }
        self.account_peak(&per_step)
    }

    /// Fails when the largest per-step count of samples held in windows is over the limit.
    pub fn account_peak(&mut self, per_step: &[usize]) -> Result<(), PromqlError> {
        let peak = per_step.iter().copied().max().unwrap_or(0);
        self.use_samples(peak)?;
        self.release_samples(peak);
        Ok(())
    }

    fn eval_subquery(
        &mut self,
        sq: &SubqueryExpr,
        g: &Grid,
        account: bool,
    ) -> Result<Windows<'a>, PromqlError> {
        let offset = offset_ms(&sq.offset);
        let at = self.at_ms(&sq.at);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.default_step);
        let ends: Vec<i64> = (0..g.len())
            .map(|i| at.unwrap_or_else(|| g.at(i)) - offset)
            .collect();
        let lo = ends.iter().copied().min().unwrap_or(0) - range;
        let hi = ends.iter().copied().max().unwrap_or(0);
        // Inner steps are aligned to absolute multiples of the step; the first one lies
        // strictly after the earliest window start (windows are left-open).
        let first = (lo.div_euclid(step) + 1) * step;
        let series = if first > hi {
            Vec::new()
        } else {
            let inner = Grid {
                start: first,
                end: hi - (hi - first).rem_euclid(step),
                step,
            };
            // Every inner step is a sample of each resulting series.
            if inner.len() > self.max_samples {
                return Err(PromqlError::TooManySamples {
                    limit: self.max_samples,
                });
            }
            let val = self.eval(&sq.expr, &inner)?;
            let vector = match val {
                Val::Vector(v) => v,
                Val::Scalar(xs) => vec![Series {
                    labels: Labels::default(),
                    drop_name: false,
                    points: xs.into_iter().map(Some).collect(),
                }],
                _ => {
                    return Err(PromqlError::BadQuery(
                        "subquery is only allowed on instant vector".into(),
                    ))
                }
            };
            vector
                .into_iter()
                .map(|s| WindowSeries {
                    samples: WindowSamples::Owned(
                        s.points
                            .iter()
                            .enumerate()
                            .filter_map(|(i, p)| p.map(|v| Sample::new(inner.at(i), v)))
                            .collect(),
                    ),
                    labels: std::borrow::Cow::Owned(s.labels),
                    drop_name: s.drop_name,
                })
                .collect()
        };
        let w = Windows {
            series,
            ends,
            range,
        };
        if account {
            self.account_windows(&w)?;
        }
        Ok(w)
    }
}

/// Milliseconds since the epoch of a `SystemTime`, negative before it.
pub(crate) fn system_time_ms(t: &std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Drops empty series.
pub(crate) fn retain_nonempty(v: &mut Vec<Series>) {
    v.retain(|s| !s.is_empty());
}

impl Evaluator<'_> {
    /// The `line:col` of a sub-expression in the query text, for annotations. The parser
    /// keeps no positions, so the expression's printed form is searched for; the start of
    /// the query is the fallback.
    pub fn position_of(&self, e: Option<&Expr>) -> String {
        let Some(e) = e else {
            return "1:1".into();
        };
        let text = e.to_string();
        if let Some(offset) = self.query.find(&text) {
            return position_at(self.query, offset);
        }
        // The conformance runner pins `@` on selectors; look for the unpinned form.
        let unpinned = strip_at(&text);
        let offset = self.query.find(&unpinned).unwrap_or(0);
        position_at(self.query, offset)
    }

    /// The `line:col` of argument `index` of the first call of function or aggregation
    /// `name` in the query text (annotations point at the argument they are about).
    /// Falls back to the argument's printed form, then to the start of the query.
    pub fn position_of_arg(&self, name: &str, index: usize, fallback: Option<&Expr>) -> String {
        match find_arg(self.query, name, index) {
            Some(offset) => position_at(self.query, offset),
            None => self.position_of(fallback),
        }
    }

    /// The `line:col` of the first call of function `name` in the query text.
    pub fn position_of_call(&self, name: &str) -> String {
        let bytes = self.query.as_bytes();
        let mut from = 0;
        while let Some(i) = self.query[from..].find(name) {
            let at = from + i;
            let before_ok =
                at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
            let rest = self.query[at + name.len()..].trim_start();
            if before_ok && rest.starts_with('(') {
                return position_at(self.query, at);
            }
            from = at + name.len();
        }
        "1:1".into()
    }
}

/// Byte offset of argument `index` of the first call `name(…)` (or aggregation
/// `name by (…) (…)`) in `query`.
fn find_arg(query: &str, name: &str, index: usize) -> Option<usize> {
    let bytes = query.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut from = 0;
    while let Some(i) = query[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        if (at > 0 && is_ident(bytes[at - 1])) || (from < bytes.len() && is_ident(bytes[from])) {
            continue;
        }
        let mut p = skip_spaces(bytes, from);
        // An aggregation may carry its grouping before the arguments.
        for kw in ["by", "without"] {
            if query[p..].starts_with(kw) && !bytes.get(p + kw.len()).is_some_and(|b| is_ident(*b))
            {
                p = skip_spaces(bytes, p + kw.len());
                if bytes.get(p) == Some(&b'(') {
                    p = query[p..].find(')').map(|c| p + c + 1)?;
                    p = skip_spaces(bytes, p);
                }
            }
        }
        if bytes.get(p) != Some(&b'(') {
            continue;
        }
        // Walk to the start of argument `index`.
        let mut depth = 0i32;
        let mut current = 0usize;
        let mut k = p + 1;
        let mut start = skip_spaces(bytes, k);
        if index == 0 {
            return Some(start);
        }
        while k < bytes.len() {
            match bytes[k] {
                b'"' | b'\'' | b'`' => {
                    let q = bytes[k];
                    k += 1;
                    while k < bytes.len() && bytes[k] != q {
                        if bytes[k] == b'\\' && q != b'`' {
                            k += 1;
                        }
                        k += 1;
                    }
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    if depth == 0 {
                        return None;
                    }
                    depth -= 1;
                }
                b',' if depth == 0 => {
                    current += 1;
                    start = skip_spaces(bytes, k + 1);
                    if current == index {
                        return Some(start);
                    }
                }
                _ => {}
            }
            k += 1;
        }
        let _ = start;
        return None;
    }
    None
}

fn skip_spaces(bytes: &[u8], mut p: usize) -> usize {
    while p < bytes.len() && bytes[p].is_ascii_whitespace() {
        p += 1;
    }
    p
}

/// Removes `@ <number>` modifiers from an expression's printed form.
fn strip_at(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" @ ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn position_at(text: &str, offset: usize) -> String {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

/// Calls `f` on every vector selector of `e`, including those of matrix selectors.
pub(crate) fn visit_selectors<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e VectorSelector)) {
    match e {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&ms.vs),
        Expr::Subquery(sq) => visit_selectors(&sq.expr, f),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                visit_selectors(p, f);
            }
            visit_selectors(&a.expr, f);
        }
        Expr::Unary(u) => visit_selectors(&u.expr, f),
        Expr::Binary(b) => {
            visit_selectors(&b.lhs, f);
            visit_selectors(&b.rhs, f);
        }
        Expr::Paren(p) => visit_selectors(&p.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                visit_selectors(a, f);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// `labels` with the metric name replaced.
pub(crate) fn labels_with_name(labels: &Labels, name: &str) -> Labels {
    labels::set(labels, pitot_core::METRIC_NAME, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_positions() {
        assert_eq!(
            find_arg("histogram_quantile(0.5, x)", "histogram_quantile", 1),
            Some(24)
        );
        assert_eq!(find_arg("rate(x[5m])", "rate", 0), Some(5));
        assert_eq!(
            find_arg("quantile by (a) (0.5, x)", "quantile", 0),
            Some(17)
        );
        assert_eq!(
            find_arg("sum(quantile_over_time(2, x[1m]))", "quantile_over_time", 0),
            Some(23)
        );
        assert_eq!(find_arg(r#"f("a,b", c)"#, "f", 1), Some(9));
        assert_eq!(position_at("a\nbc", 3), "2:2");
    }

    #[test]
    fn grid_steps() {
        let g = Grid {
            start: 0,
            end: 60_000,
            step: 15_000,
        };
        assert_eq!(g.len(), 5);
        assert_eq!(g.at(4), 60_000);
        let instant = Grid {
            start: 5,
            end: 5,
            step: 0,
        };
        assert_eq!(instant.len(), 1);
    }
}
