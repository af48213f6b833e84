//! The public entry points: [`LogqlEngine::query`] for `/query` and `/query_range`,
//! and [`compile_log_query`] for `/tail` and label endpoints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pitot_core::{Label, Labels, Matcher, TenantId};
use pitot_storage_api::{LogEntry, LogQueryable, LogSelectHints, LogStream};

use crate::ast::{Expr, LogSelector, MetricExpr, VectorOp};
use crate::error::LogqlError;
use crate::eval::logs::{eval_logs, LogScan};
use crate::eval::{self, Counters, EvalCtx, Value};
use crate::parser::parse;
use crate::pipeline::{matches_stream, required_literals, Pipeline, PipelineState};

/// Engine limits and settings; one engine serves every tenant.
#[derive(Debug, Clone)]
pub struct LogqlOptions {
    /// Most series a metric query may produce (Loki's `max_query_series`).
    pub max_series: usize,
    /// Most entries a log query may ask for (Loki's `max_entries_limit_per_query`).
    pub max_entries: usize,
    /// Per-query timeout.
    pub timeout: Duration,
    /// Most steps of a range query (Loki refuses more than 11,000 points).
    pub max_points: usize,
    /// Worker threads per query for independent streams.
    pub parallelism: usize,
}

impl Default for LogqlOptions {
    fn default() -> Self {
        LogqlOptions {
            max_series: 500,
            max_entries: 5000,
            timeout: Duration::from_secs(300),
            max_points: 11_000,
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
        }
    }
}

/// Order of entries in a log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// One query request, as the HTTP layer decodes it.
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// The LogQL text.
    pub query: String,
    /// Start (ns). Log queries read `[start, end)`; range metric queries evaluate at
    /// `start, start+step, ... <= end`.
    pub start: i64,
    /// End (ns).
    pub end: i64,
    /// Step (ns); 0 for instant queries.
    pub step: i64,
    /// Loki's `interval` for log queries (only one entry per interval); unused today.
    pub interval: Option<i64>,
    /// Most entries for log queries.
    pub limit: usize,
    /// Entry order for log queries.
    pub direction: Direction,
    /// An instant query: metric queries evaluate once, at `end`.
    pub instant: bool,
}

/// One log entry of a log query result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    /// Timestamp (ns).
    pub ts: i64,
    /// The line after the pipeline.
    pub line: String,
    /// Structured metadata (for categorized-labels responses).
    pub structured_metadata: Vec<Label>,
    /// Labels added by parsers and formatters (for categorized-labels responses).
    pub parsed: Vec<Label>,
}

/// One stream of a log query result.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// The final label set (stream labels, structured metadata and parsed labels).
    pub labels: Labels,
    /// Entries in the query's direction.
    pub entries: Vec<ResultEntry>,
}

/// The data of a query result, in Loki's four result types.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    /// Log query result.
    Streams(Vec<StreamResult>),
    /// Instant metric result: labels, timestamp (ms), value.
    Vector(Vec<(Labels, i64, f64)>),
    /// Range metric result: labels and points (ms, value).
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
    /// Instant scalar result: timestamp (ms), value.
    Scalar(i64, f64),
}

/// Execution statistics for Loki's `stats` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    /// Entries read.
    pub total_lines_processed: u64,
    /// Line bytes read.
    pub total_bytes_processed: u64,
    /// Entries that passed the pipeline.
    pub post_filter_lines: u64,
    /// Streams selected.
    pub streams: u64,
    /// Entries returned (log queries).
    pub total_entries_returned: u64,
    /// Wall time.
    pub exec_time: Duration,
}

/// A query's answer.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// The result.
    pub data: QueryData,
    /// Execution statistics.
    pub stats: QueryStats,
    /// Storage warnings.
    pub warnings: Vec<String>,
}

/// Evaluates LogQL over any [`LogQueryable`].
///
/// Selection from storage is `async`; evaluation is CPU work done on the calling task
/// (and on scoped worker threads for independent streams), so callers on an async
/// runtime should run large queries where blocking is acceptable.
#[derive(Debug, Clone, Default)]
pub struct LogqlEngine {
    opts: LogqlOptions,
    /// Raised by the caller when the query's requester is gone: evaluation stops at its
    /// next deadline check with [`LogqlError::Canceled`].
    cancel: Option<Arc<AtomicBool>>,
}

impl LogqlEngine {
    /// An engine with the given limits.
    pub fn new(opts: LogqlOptions) -> Self {
        LogqlEngine { opts, cancel: None }
    }

    /// This engine, stopping its queries once `cancel` is raised (the client went
    /// away): a query running on its own thread would otherwise run to its timeout.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// The engine's options.
    pub fn options(&self) -> &LogqlOptions {
        &self.opts
    }

    /// Parses and runs one query for `tenant`.
    pub async fn query(
        &self,
        store: &dyn LogQueryable,
        tenant: &TenantId,
        q: &QueryParams,
    ) -> Result<QueryOutput, LogqlError> {
        let started = Instant::now();
        let deadline = started + self.opts.timeout;
        let expr = parse(&q.query)?;
        let counters = Counters::default();
        let mut warnings = Vec::new();
        let data = match &expr {
            Expr::Log(sel) => {
                if q.limit > self.opts.max_entries {
                    return Err(LogqlError::Limit {
                        limit: "max_entries",
                        message: format!(
                            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
                            q.limit, self.opts.max_entries
                        ),
                    });
                }
                let pipeline = Pipeline::compile(&sel.stages).map_err(LogqlError::Invalid)?;
                let querier = store.log_querier(tenant, q.start, q.end)?;
                let hints = LogSelectHints {
                    start: q.start,
                    end: q.end,
                    required_literals: required_literals(sel),
                    labels_only: false,
                };
                let set = querier.select(&hints, &sel.matchers).await?;
                warnings.extend(set.warnings);
                let scan = LogScan {
                    pipeline: &pipeline,
                    start: q.start,
                    end: q.end,
                    limit: q.limit,
                    direction: q.direction,
                    deadline,
                    cancel: self.cancel.as_deref(),
                    timeout: self.opts.timeout,
                    counters: &counters,
                    parallelism: self.opts.parallelism,
                };
                let streams: Vec<LogStream> = set
                    .streams
                    .into_iter()
                    .filter(|s| matches_stream(&sel.matchers, &s.labels))
                    .collect();
                QueryData::Streams(eval_logs(&scan, &streams)?)
            }
            Expr::Metric(m) => {
                let steps = self.steps(q)?;
                let mut selections = Vec::new();
                let mut ranges = Vec::new();
                eval::visit_ranges(m, &mut |e| ranges.push(e));
                if !ranges.is_empty() {
                    let mut min_start = i64::MAX;
                    let mut max_end = i64::MIN;
                    for e in &ranges {
                        if let MetricExpr::RangeAgg { range, .. } = e {
                            min_start = min_start.min(steps[0] - range.offset - range.range);
                            max_end = max_end.max(steps[steps.len() - 1] - range.offset + 1);
                        }
                    }
                    let querier = store.log_querier(tenant, min_start, max_end)?;
                    for e in &ranges {
                        let MetricExpr::RangeAgg { range, .. } = e else {
                            continue;
                        };
                        let hints = LogSelectHints {
                            start: steps[0] - range.offset - range.range,
                            end: steps[steps.len() - 1] - range.offset + 1,
                            required_literals: required_literals(&range.selector),
                            labels_only: false,
                        };
                        let set = querier.select(&hints, &range.selector.matchers).await?;
                        warnings.extend(set.warnings);
                        let matchers = &range.selector.matchers;
                        selections.push(
                            set.streams
                                .into_iter()
                                .filter(|s| matches_stream(matchers, &s.labels))
                                .collect(),
                        );
                    }
                }
                let mut ctx = EvalCtx {
                    steps: steps.clone(),
                    opts: &self.opts,
                    deadline,
                    cancel: self.cancel.as_deref(),
                    counters: &counters,
                    selections,
                    next_selection: 0,
                };
                let value = eval::eval(&mut ctx, m)?;
                to_query_data(value, &steps, q.instant || q.step == 0, is_sorted(m))
            }
        };
        let entries_returned = match &data {
            QueryData::Streams(s) => s.iter().map(|s| s.entries.len() as u64).sum(),
            _ => 0,
        };
        Ok(QueryOutput {
            data,
            stats: QueryStats {
                total_lines_processed: counters.lines.load(Ordering::Relaxed),
                total_bytes_processed: counters.bytes.load(Ordering::Relaxed),
                post_filter_lines: counters.post_filter_lines.load(Ordering::Relaxed),
                streams: counters.streams.load(Ordering::Relaxed),
                total_entries_returned: entries_returned,
                exec_time: started.elapsed(),
            },
            warnings,
        })
    }

    fn steps(&self, q: &QueryParams) -> Result<Vec<i64>, LogqlError> {
        if q.instant || q.step == 0 {
            return Ok(vec![q.end]);
        }
        if q.step < 0 {
            return Err(LogqlError::Invalid(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if q.end < q.start {
            return Err(LogqlError::Invalid(
                "end timestamp must not be before start time".into(),
            ));
        }
        let n = ((q.end - q.start) / q.step) as usize + 1;
        if n > self.opts.max_points {
            return Err(LogqlError::Limit {
                limit: "max_points",
                message: format!(
                    "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                    self.opts.max_points
                ),
            });
        }
        Ok((0..n).map(|i| q.start + i as i64 * q.step).collect())
    }
}

fn is_sorted(m: &MetricExpr) -> bool {
    matches!(
        m,
        MetricExpr::VectorAgg {
            op: VectorOp::Sort | VectorOp::SortDesc,
            ..
        }
    )
}

fn to_query_data(value: Value, steps: &[i64], instant: bool, keep_order: bool) -> QueryData {
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    match value {
        Value::Scalar(v) => {
            if instant {
                QueryData::Scalar(ms(steps[0]), v[0])
            } else {
                QueryData::Matrix(vec![(
                    Labels::default(),
                    steps.iter().zip(v).map(|(t, x)| (ms(*t), x)).collect(),
                )])
            }
        }
        Value::Vector(mut series) => {
            if !keep_order {
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            if instant {
                QueryData::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| s.points[0].map(|v| (s.labels, ms(steps[0]), v)))
                        .collect(),
                )
            } else {
                QueryData::Matrix(
                    series
                        .into_iter()
                        .map(|s| {
                            let pts = steps
                                .iter()
                                .zip(s.points)
                                .filter_map(|(t, p)| p.map(|v| (ms(*t), v)))
                                .collect::<Vec<_>>();
                            (s.labels, pts)
                        })
                        .filter(|(_, p)| !p.is_empty())
                        .collect(),
                )
            }
        }
    }
}

/// A log query compiled for entry-by-entry use (`/tail`, label endpoints).
#[derive(Debug, Clone)]
pub struct CompiledLogQuery {
    selector: LogSelector,
    pipeline: Pipeline,
}

/// Compiles a log query (a selector and pipeline, no metric functions).
pub fn compile_log_query(q: &str) -> Result<CompiledLogQuery, LogqlError> {
    match parse(q)? {
        Expr::Log(selector) => {
            let pipeline = Pipeline::compile(&selector.stages).map_err(LogqlError::Invalid)?;
            Ok(CompiledLogQuery { selector, pipeline })
        }
        Expr::Metric(_) => Err(LogqlError::Invalid(
            "a log query is required here, not a metric query".into(),
        )),
    }
}

impl CompiledLogQuery {
    /// The stream matchers, for selecting streams.
    pub fn matchers(&self) -> &[Matcher] {
        &self.selector.matchers
    }

    /// The literals every kept line contains (storage hints).
    pub fn required_literals(&self) -> Vec<String> {
        required_literals(&self.selector)
    }

    /// Runs the pipeline on one entry of a stream: the final labels and line, or `None`
    /// when the entry is filtered out. Allocates its scratch state per call; use
    /// [`Self::processor`] in loops.
    pub fn process(&self, stream: &Labels, entry: &LogEntry) -> Option<(Labels, String)> {
        self.processor().process(stream, entry)
    }

    /// A processor that reuses its buffers between entries.
    pub fn processor(&self) -> LogProcessor<'_> {
        LogProcessor {
            query: self,
            state: PipelineState::default(),
        }
    }
}

/// Stateful entry processor of a [`CompiledLogQuery`].
#[derive(Debug)]
pub struct LogProcessor<'a> {
    query: &'a CompiledLogQuery,
    state: PipelineState,
}

impl LogProcessor<'_> {
    /// See [`CompiledLogQuery::process`].
    pub fn process(&mut self, stream: &Labels, entry: &LogEntry) -> Option<(Labels, String)> {
        if !matches_stream(&self.query.selector.matchers, stream) {
            return None;
        }
        let st = &mut self.state;
        if !self
            .query
            .pipeline
            .process(st, entry.ts, &entry.line, stream, &entry.metadata, false)
        {
            return None;
        }
        let labels = if st.used_labels {
            st.labels.labels()
        } else {
            stream.clone()
        };
        Some((labels, st.line(&entry.line).to_string()))
    }
}
