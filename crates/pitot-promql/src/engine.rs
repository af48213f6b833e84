//! The query entry points: parse, fetch every selector's data once, evaluate, and shape
//! the result.

use crate::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pitot_core::{Labels, Matcher, Sample, TenantId, METRIC_NAME};
use pitot_storage_api::{Queryable, SelectHints};
use promql_parser::label::MatchOp as ParserMatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, VectorSelector};

use crate::error::PromqlError;
use crate::eval::{
    duration_ms, offset_ms, selector_key, system_time_ms, Annotations, Evaluator, Fetched, Grid,
    SelectedSeries, Series, Val,
};
use crate::value::{QueryResult, Value};

/// Most points a range query may return per series, as Prometheus' API enforces.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine settings; the defaults are Prometheus' defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (Prometheus
    /// `--query.lookback-delta`, 5m).
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory at once (Prometheus `--query.max-samples`).
    /// Checked for the points of every selector and range window at a step, for the
    /// step grid of subqueries, and for the result.
    pub max_samples: usize,
    /// Longest a query may run (Prometheus `--query.timeout`).
    pub timeout: Duration,
    /// Step of subqueries written without one (`x[1h:]`): Prometheus uses the global
    /// evaluation interval, 1m by default.
    pub default_subquery_step: Duration,
    /// Prometheus 3's experimental delayed name removal (feature flag
    /// `promql-delayed-name-removal`, off by default in the Prometheus server, on in
    /// Prometheus' own test engine): an operation that drops `__name__` only marks the
    /// series and names are removed when the result is built. Off, the name is removed at
    /// the node that drops it, and series that then share a label set are an error there.
    pub delayed_name_removal: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
            delayed_name_removal: false,
        }
    }
}

/// The PromQL engine. It holds only settings: storage is handed in per query, so one
/// engine serves every tenant and every storage composition.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
    /// Raised by the caller when the query's requester is gone: evaluation stops at its
    /// next deadline check with [`PromqlError::Canceled`].
    cancel: Option<Arc<AtomicBool>>,
}

/// Parses a PromQL expression, mapping parser errors to [`PromqlError::Parse`].
/// Duration expressions are evaluated as for an instant query (`step()` and `range()`
/// are 0).
pub fn parse(query: &str) -> Result<Expr, PromqlError> {
    parse_for_query(query, 0, 0)
}

/// Entries the parse cache holds before it starts over.
const PARSE_CACHE_ENTRIES: usize = 1024;
/// Longer texts are parsed every time (so the cache stays within a few MiB).
const PARSE_CACHE_MAX_TEXT: usize = 4096;

static PARSE_CACHE_HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static PARSE_CACHE_MISSES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Lookups of the parse cache of [`parse_for_query`] so far, as (hits, misses): the
/// operator's hit ratio on `/metrics`. Texts too long to cache count as neither.
pub fn parse_cache_stats() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        PARSE_CACHE_HITS.load(Relaxed),
        PARSE_CACHE_MISSES.load(Relaxed),
    )
}

/// Parses a PromQL expression for a query with the given step and range (ms), which
/// duration expressions such as `x[step()]` refer to.
///
/// Dashboards and rules send the same texts again and again, and rewriting and parsing
/// one took 40-60 us, about a tenth of a small range query: expressions that parsed are
/// kept by text, step and range (which `step()` and `range()` stand for; errors are not
/// kept), and the cache starts over when full.
pub fn parse_for_query(query: &str, step_ms: i64, range_ms: i64) -> Result<Expr, PromqlError> {
    type Key = (String, i64, i64);
    static CACHE: std::sync::OnceLock<std::sync::Mutex<HashMap<Key, Expr>>> =
        std::sync::OnceLock::new();
    let parse = || {
        let ctx = crate::preprocess::DurationContext { step_ms, range_ms };
        parse_guarded(&crate::preprocess::expand(query, ctx)?)
    };
    if query.len() > PARSE_CACHE_MAX_TEXT {
        return parse();
    }
    let cache = CACHE.get_or_init(Default::default);
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let key = (query.to_owned(), step_ms, range_ms);
    if let Some(expr) = lock().get(&key) {
        PARSE_CACHE_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(expr.clone());
    }
    PARSE_CACHE_MISSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let expr = parse()?;
    let mut cached = lock();
    if cached.len() >= PARSE_CACHE_ENTRIES {
        cached.clear();
    }
    cached.insert(key, expr.clone());
    Ok(expr)
}

/// Runs the third-party parser so that a panic inside it (it converts huge numbers to
/// durations without checking, for one) becomes a parse error instead of taking the
/// request down: no query text may crash the server.
pub fn parse_guarded(text: &str) -> Result<Expr, PromqlError> {
    match std::panic::catch_unwind(|| promql_parser::parser::parse(text)) {
        Ok(result) => result.map_err(PromqlError::Parse),
        Err(_) => Err(PromqlError::Parse(
            "the query could not be parsed (a number or duration in it is out of range)".into(),
        )),
    }
}

impl Engine {
    /// Builds an engine.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts, cancel: None }
    }

    /// This engine, stopping its queries once `cancel` is raised (the client went
    /// away): a query running on its own thread would otherwise run to its timeout.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// The engine's settings.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at one instant `t_ms`.
    pub async fn instant(
        &self,
        q: &dyn Queryable,
        tenant: &TenantId,
        query: &str,
        t_ms: i64,
    ) -> Result<QueryResult, PromqlError> {
        let expr = parse(query)?;
        self.instant_expr(q, tenant, &expr, query, t_ms).await
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` (inclusive); the result
    /// is always a matrix.
    pub async fn range(
        &self,
        q: &dyn Queryable,
        tenant: &TenantId,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, PromqlError> {
        let expr = parse_for_query(query, step_ms, end_ms.saturating_sub(start_ms))?;
        self.range_expr(q, tenant, &expr, query, start_ms, end_ms, step_ms)
            .await
    }

    /// Like [`Engine::instant`] for an already parsed expression; `query` is its text,
    /// used to locate annotations.
    pub async fn instant_expr(
        &self,
        q: &dyn Queryable,
        tenant: &TenantId,
        expr: &Expr,
        query: &str,
        t_ms: i64,
    ) -> Result<QueryResult, PromqlError> {
        let grid = Grid {
            start: t_ms,
            end: t_ms,
            step: 0,
        };
        let (val, annotations) = self.run(q, tenant, expr, query, grid).await?;
        let value = match val {
            Val::Scalar(xs) => Value::Scalar(t_ms, xs[0]),
            Val::String(s) => Value::String(t_ms, s),
            Val::Vector(series) => {
                let series = finalize_series(series)?;
                let out: Vec<(Labels, Sample)> = series
                    .into_iter()
                    .filter_map(|s| s.points[0].map(|v| (s.labels, Sample::new(t_ms, v))))
                    .collect();
                self.check_result_size(out.len())?;
                Value::Vector(out)
            }
            Val::Matrix(series) => {
                let mut out: Vec<(Labels, Vec<Sample>)> = Vec::with_capacity(series.len());
                let mut seen: HashMap<Labels, ()> = HashMap::default();
                for s in series {
                    let labels = if s.drop_name {
                        crate::eval::drop_metric_name(&s.labels)
                    } else {
                        s.labels
                    };
                    if seen.insert(labels.clone(), ()).is_some() {
                        return Err(duplicate_labelset());
                    }
                    out.push((labels, s.samples));
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                self.check_result_size(out.iter().map(|s| s.1.len()).sum())?;
                Value::Matrix(out)
            }
        };
        Ok(QueryResult {
            value,
            warnings: annotations.warnings,
            infos: annotations.infos,
        })
    }

    /// Like [`Engine::range`] for an already parsed expression.
    #[allow(clippy::too_many_arguments)]
    pub async fn range_expr(
        &self,
        q: &dyn Queryable,
        tenant: &TenantId,
        expr: &Expr,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, PromqlError> {
        check_time("start time", start_ms)?;
        check_time("end time", end_ms)?;
        if step_ms <= 0 {
            return Err(PromqlError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        if (end_ms - start_ms) / step_ms >= MAX_POINTS_PER_SERIES {
            return Err(PromqlError::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                let name = match other {
                    ValueType::Matrix => "range vector",
                    ValueType::String => "string",
                    _ => "unknown",
                };
                return Err(PromqlError::BadQuery(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let grid = Grid {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let (val, annotations) = self.run(q, tenant, expr, query, grid).await?;
        let matrix = match val {
            Val::Scalar(xs) => vec![(
                Labels::default(),
                xs.iter()
                    .enumerate()
                    .map(|(i, v)| Sample::new(grid.at(i), *v))
                    .collect::<Vec<_>>(),
            )],
            Val::Vector(series) => {
                let mut out: Vec<(Labels, Vec<Sample>)> = finalize_series(series)?
                    .into_iter()
                    .map(|s| {
                        let samples = s
                            .points
                            .iter()
                            .enumerate()
                            .filter_map(|(i, p)| p.map(|v| Sample::new(grid.at(i), v)))
                            .collect();
                        (s.labels, samples)
                    })
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            _ => {
                return Err(PromqlError::BadQuery(
                    "range query must return a scalar or an instant vector".into(),
                ))
            }
        };
        self.check_result_size(matrix.iter().map(|s| s.1.len()).sum())?;
        Ok(QueryResult {
            value: Value::Matrix(matrix),
            warnings: annotations.warnings,
            infos: annotations.infos,
        })
    }

    fn check_result_size(&self, n: usize) -> Result<(), PromqlError> {
        if n > self.opts.max_samples {
            return Err(PromqlError::TooManySamples {
                limit: self.opts.max_samples,
            });
        }
        Ok(())
    }

    async fn run(
        &self,
        q: &dyn Queryable,
        tenant: &TenantId,
        expr: &Expr,
        query: &str,
        grid: Grid,
    ) -> Result<(Val, Annotations), PromqlError> {
        check_time("evaluation time", grid.start)?;
        check_time("evaluation time", grid.end)?;
        check_expr_times(expr)?;
        let started = Instant::now();
        let deadline = started.checked_add(self.opts.timeout);
        let ctx = CollectCtx {
            lookback: duration_ms(&self.opts.lookback_delta),
            query_start: grid.start,
            query_end: grid.end,
        };
        let mut needs: Vec<Need> = Vec::new();
        collect_selectors(expr, grid.start, grid.end, &ctx, &mut needs)?;
        let fetched = fetch(q, tenant, &needs).await?;
        let mut ev = Evaluator {
            fetched: &fetched,
            lookback: ctx.lookback,
            default_step: duration_ms(&self.opts.default_subquery_step).max(1),
            query_start: grid.start,
            query_end: grid.end,
            query_step: grid.step,
            deadline: deadline.map(|d| (d, self.opts.timeout.as_millis())),
            cancel: self.cancel.clone(),
            max_samples: self.opts.max_samples,
            samples_in_use: 0,
            annotations: Annotations::default(),
            query,
            delayed_name_removal: self.opts.delayed_name_removal,
        };
        let val = ev.eval(expr, &grid)?;
        Ok((val, ev.annotations))
    }
}

/// Largest absolute time, offset or range (ms) a query may use, about 142,000 years.
/// Bounding every input keeps all time arithmetic far from `i64` overflow.
const MAX_ABS_MS: i64 = 1 << 52;

fn check_time(what: &str, ms: i64) -> Result<(), PromqlError> {
    if ms.unsigned_abs() > MAX_ABS_MS as u64 {
        return Err(PromqlError::BadQuery(format!(
            "{what} {ms}ms is out of bounds"
        )));
    }
    Ok(())
}

fn check_duration(what: &str, d: &Duration) -> Result<(), PromqlError> {
    if d.as_millis() > MAX_ABS_MS as u128 {
        return Err(PromqlError::BadQuery(format!(
            "{what} {d:?} is out of bounds"
        )));
    }
    Ok(())
}

fn check_offset(o: &Option<promql_parser::parser::Offset>) -> Result<(), PromqlError> {
    use promql_parser::parser::Offset;
    match o {
        Some(Offset::Pos(d)) | Some(Offset::Neg(d)) => check_duration("offset", d),
        None => Ok(()),
    }
}

fn check_at(at: &Option<promql_parser::parser::AtModifier>) -> Result<(), PromqlError> {
    match at {
        Some(promql_parser::parser::AtModifier::At(t)) => check_time("@ time", system_time_ms(t)),
        _ => Ok(()),
    }
}

/// Rejects offsets, ranges, steps and `@` times too large to compute with.
fn check_expr_times(e: &Expr) -> Result<(), PromqlError> {
    match e {
        Expr::VectorSelector(vs) => {
            check_offset(&vs.offset)?;
            check_at(&vs.at)
        }
        Expr::MatrixSelector(ms) => {
            check_offset(&ms.vs.offset)?;
            check_at(&ms.vs.at)?;
            check_duration("range", &ms.range)
        }
        Expr::Subquery(sq) => {
            check_offset(&sq.offset)?;
            check_at(&sq.at)?;
            check_duration("subquery range", &sq.range)?;
            if let Some(step) = &sq.step {
                check_duration("subquery step", step)?;
            }
            check_expr_times(&sq.expr)
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                check_expr_times(p)?;
            }
            check_expr_times(&a.expr)
        }
        Expr::Unary(u) => check_expr_times(&u.expr),
        Expr::Binary(b) => {
            check_expr_times(&b.lhs)?;
            check_expr_times(&b.rhs)
        }
        Expr::Paren(p) => check_expr_times(&p.expr),
        Expr::Call(c) => {
            for a in &c.args.args {
                check_expr_times(a)?;
            }
            Ok(())
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Ok(()),
    }
}

fn duplicate_labelset() -> PromqlError {
    PromqlError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Removes names marked for removal, merges series that end up with the same labels, and
/// fails if two of them have a point at the same step.
pub(crate) fn finalize_series(series: Vec<Series>) -> Result<Vec<Series>, PromqlError> {
    use std::hash::BuildHasher;
    let state = foldhash::fast::RandomState::default();
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    // Positions in `out` by label hash: each label set is hashed once and never cloned.
    let mut index: hashbrown::HashTable<(u64, usize)> = hashbrown::HashTable::new();
    for s in series {
        let labels = if s.drop_name {
            crate::eval::without_metric_name(s.labels)
        } else {
            s.labels
        };
        let hash = state.hash_one(&labels);
        match index.find(hash, |&(h, i)| h == hash && out[i].labels == labels) {
            Some(&(_, i)) => {
                let target = &mut out[i];
                for (t, p) in target.points.iter_mut().zip(s.points) {
                    if p.is_some() {
                        if t.is_some() {
                            return Err(duplicate_labelset());
                        }
                        *t = p;
                    }
                }
            }
            None => {
                if s.points.iter().all(Option::is_none) {
                    continue;
                }
                index.insert_unique(hash, (hash, out.len()), |&(h, _)| h);
                out.push(Series {
                    labels,
                    drop_name: false,
                    points: s.points,
                });
            }
        }
    }
    Ok(out)
}

struct CollectCtx {
    lookback: i64,
    query_start: i64,
    query_end: i64,
}

impl CollectCtx {
    fn at(&self, at: &Option<promql_parser::parser::AtModifier>) -> Option<i64> {
        use promql_parser::parser::AtModifier;
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }
}

/// A selector's storage matchers (one list per `or` alternative), the key its data is
/// stored under, and the time range its evaluation reads.
struct Need {
    key: usize,
    matchers: Vec<Vec<Matcher>>,
    mint: i64,
    maxt: i64,
}

/// Finds every selector and the time range it needs when the enclosing expression is
/// evaluated over `[start, end]`.
fn collect_selectors(
    e: &Expr,
    start: i64,
    end: i64,
    ctx: &CollectCtx,
    out: &mut Vec<Need>,
) -> Result<(), PromqlError> {
    match e {
        Expr::VectorSelector(vs) => {
            let off = offset_ms(&vs.offset);
            let (a, b) = match ctx.at(&vs.at) {
                Some(at) => (at, at),
                None => (start, end),
            };
            out.push(Need {
                key: selector_key(vs),
                matchers: selector_matchers(vs)?,
                mint: a - off - ctx.lookback,
                maxt: b - off,
            });
        }
        Expr::MatrixSelector(ms) => {
            let off = offset_ms(&ms.vs.offset);
            let (a, b) = match ctx.at(&ms.vs.at) {
                Some(at) => (at, at),
                None => (start, end),
            };
            out.push(Need {
                key: selector_key(&ms.vs),
                matchers: selector_matchers(&ms.vs)?,
                mint: a - off - duration_ms(&ms.range),
                maxt: b - off,
            });
        }
        Expr::Subquery(sq) => {
            let off = offset_ms(&sq.offset);
            let (a, b) = match ctx.at(&sq.at) {
                Some(at) => (at, at),
                None => (start, end),
            };
            collect_selectors(
                &sq.expr,
                a - off - duration_ms(&sq.range),
                b - off,
                ctx,
                out,
            )?;
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect_selectors(p, start, end, ctx, out)?;
            }
            collect_selectors(&a.expr, start, end, ctx, out)?;
        }
        Expr::Unary(u) => collect_selectors(&u.expr, start, end, ctx, out)?,
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, start, end, ctx, out)?;
            collect_selectors(&b.rhs, start, end, ctx, out)?;
        }
        Expr::Paren(p) => collect_selectors(&p.expr, start, end, ctx, out)?,
        Expr::Call(c) if c.func.name == "info" => {
            // The second argument only looks like a selector: it chooses info series.
            if let Some(first) = c.args.args.first() {
                collect_selectors(first, start, end, ctx, out)?;
            }
            let selector = match c.args.args.get(1).map(|a| crate::eval::unparen(a)) {
                Some(Expr::VectorSelector(vs)) => Some(vs),
                _ => None,
            };
            let (off, at) = match selector {
                Some(vs) => (offset_ms(&vs.offset), ctx.at(&vs.at)),
                None => (0, None),
            };
            let (a, b) = at.map_or((start, end), |at| (at, at));
            out.push(Need {
                key: crate::eval::call_key(c),
                matchers: vec![info_matchers(selector)?.0],
                mint: a - off - ctx.lookback,
                maxt: b - off,
            });
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                collect_selectors(a, start, end, ctx, out)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

/// The matchers that select info series for `info()` (names default to `target_info`;
/// only negated name matchers mean any `.+_info`), and the data-label matchers among them.
pub(crate) fn info_matchers(
    selector: Option<&VectorSelector>,
) -> Result<(Vec<Matcher>, Vec<Matcher>), PromqlError> {
    let mut name_matchers = Vec::new();
    let mut data_matchers = Vec::new();
    if let Some(vs) = selector {
        for group in selector_matchers(vs)? {
            for m in group {
                if m.name == METRIC_NAME {
                    name_matchers.push(m);
                } else {
                    data_matchers.push(m);
                }
            }
        }
    }
    let positive = name_matchers.iter().any(|m| {
        matches!(
            m.op,
            pitot_core::MatchOp::Equal(_) | pitot_core::MatchOp::Regex(_)
        )
    });
    if name_matchers.is_empty() {
        name_matchers.push(Matcher::equal(METRIC_NAME, "target_info"));
    } else if !positive {
        name_matchers.push(
            Matcher::regex(METRIC_NAME, ".+_info")
                .map_err(|e| PromqlError::BadQuery(e.to_string()))?,
        );
    }
    let mut all = name_matchers;
    all.extend(data_matchers.iter().cloned());
    Ok((all, data_matchers))
}

/// The storage matchers of a selector: one list per `or` alternative.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, PromqlError> {
    let mut groups: Vec<Vec<&promql_parser::label::Matcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(vs.matchers.matchers.iter().collect());
    } else {
        for g in &vs.matchers.or_matchers {
            groups.push(g.iter().collect());
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let mut ms = Vec::with_capacity(g.len() + 1);
        if let Some(name) = &vs.name {
            ms.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in g {
            let op = match m.op {
                ParserMatchOp::Equal => "=",
                ParserMatchOp::NotEqual => "!=",
                ParserMatchOp::Re(_) => "=~",
                ParserMatchOp::NotRe(_) => "!~",
            };
            let matcher = Matcher::from_op(m.name.clone(), op, &m.value)
                .map_err(|e| PromqlError::BadQuery(e.to_string()))?;
            ms.push(matcher);
        }
        out.push(ms);
    }
    Ok(out)
}

/// Selects the series of every selector, once per selector node (nodes decode them on use).
async fn fetch(
    q: &dyn Queryable,
    tenant: &TenantId,
    needs: &[Need],
) -> Result<Fetched, PromqlError> {
    let mut fetched = Fetched::default();
    if needs.is_empty() {
        return Ok(fetched);
    }
    let mint = needs.iter().map(|n| n.mint).min().unwrap_or(0);
    let maxt = needs.iter().map(|n| n.maxt).max().unwrap_or(0);
    let querier = q.querier(tenant, mint, maxt)?;
    for need in needs {
        let hints = SelectHints {
            start: need.mint,
            end: need.maxt,
            labels_only: false,
        };
        let mut series_out: Vec<SelectedSeries> = Vec::new();
        for matchers in &need.matchers {
            let set = querier.select(&hints, matchers).await?;
            series_out.extend(
                set.series
                    .into_iter()
                    .map(|s| SelectedSeries::new(s, need.mint, need.maxt)),
            );
        }
        if need.matchers.len() > 1 {
            // Alternatives of one selector can select the same series; keep the first.
            let mut seen: HashSet<Labels> = HashSet::default();
            series_out.retain(|s| seen.insert(s.labels().clone()));
        }
        fetched.insert(need.key, series_out);
    }
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_parses_equal_fresh_ones_and_errors_are_not_kept() {
        let text = "sum by (mode) (rate(cpu_seconds_total{instance=~\"a.*\"}[5m]))";
        let fresh = parse_guarded(text).expect("parses");
        let first = parse_for_query(text, 60_000, 3_600_000).expect("parses");
        let again = parse_for_query(text, 60_000, 3_600_000).expect("parses from the cache");
        assert_eq!(fresh.to_string(), first.to_string());
        assert_eq!(fresh.to_string(), again.to_string());
        for _ in 0..2 {
            assert!(parse_for_query("sum by (", 0, 0).is_err());
        }
        let long = format!("x{{a=\"{}\"}}", "a".repeat(PARSE_CACHE_MAX_TEXT));
        assert!(parse_for_query(&long, 0, 0).is_ok());
        // The step is part of the key: `step()` means another duration.
        let by_step = |step_ms| {
            parse_for_query("rate(x[step()])", step_ms, 0)
                .expect("parses")
                .to_string()
        };
        assert_eq!(by_step(60_000), "rate(x[1m])");
        assert_eq!(by_step(30_000), "rate(x[30s])");
        assert_eq!(by_step(60_000), "rate(x[1m])");
    }

    /// Storage without series (the query below reads none).
    struct NoData;

    impl Queryable for NoData {
        fn querier(
            &self,
            _: &TenantId,
            _: i64,
            _: i64,
        ) -> Result<Box<dyn pitot_storage_api::Querier>, pitot_storage_api::StorageError> {
            Ok(Box::new(NoData))
        }
    }

    #[async_trait::async_trait]
    impl pitot_storage_api::Querier for NoData {
        async fn select(
            &self,
            _: &SelectHints,
            _: &[Matcher],
        ) -> Result<pitot_storage_api::SeriesSet, pitot_storage_api::StorageError> {
            Ok(Default::default())
        }
        async fn label_names(
            &self,
            _: &[Matcher],
        ) -> Result<Vec<String>, pitot_storage_api::StorageError> {
            Ok(Vec::new())
        }
        async fn label_values(
            &self,
            _: &str,
            _: &[Matcher],
        ) -> Result<Vec<String>, pitot_storage_api::StorageError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_raised_cancel_flag_stops_the_query() {
        let run = |engine: Engine| {
            let tenant = TenantId::new("t").unwrap();
            let query = engine.instant(&NoData, &tenant, "count_over_time(vector(1)[1h:1s])", 0);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let result = match std::future::Future::poll(std::pin::pin!(query), &mut cx) {
                std::task::Poll::Ready(result) => result,
                std::task::Poll::Pending => panic!("storage without data never waits"),
            };
            result
        };
        let flag = Arc::new(AtomicBool::new(false));
        assert!(run(Engine::default().with_cancel(Arc::clone(&flag))).is_ok());
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        let err = run(Engine::default().with_cancel(flag)).unwrap_err();
        assert!(matches!(err, PromqlError::Canceled), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::Canceled);
    }
}
