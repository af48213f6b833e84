//! Metric and log query evaluation.
//!
//! Evaluation has two phases, as in Pitot's PromQL engine. First every log range of
//! the query is located and its streams selected from storage (the only `async` work);
//! then the tree is evaluated synchronously for all steps at once: a node's value is a
//! scalar per step or a set of series with an optional point per step.
//!
//! Range aggregations walk each stream's entries once, in order, through the compiled
//! pipeline, keeping only the samples that fall in some step's window; streams are
//! split between worker threads. `sum by/without (...)` over an additive range
//! aggregation (`count_over_time`, `rate`, `bytes_*`, `sum_over_time`) is grouped while
//! scanning, so a parser that yields a distinct label set per line does not create a
//! series per line.

mod aggregate;
mod binary;
pub mod logs;
mod range;
pub mod series;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pitot_core::Labels;
use pitot_storage_api::LogStream;

use crate::ast::{MetricExpr, RangeOp, VectorOp};
use crate::error::LogqlError;
use crate::LogqlOptions;

/// Counters shared by the workers of one query.
#[derive(Debug, Default)]
pub struct Counters {
    /// Entries read from storage.
    pub lines: AtomicU64,
    /// Line bytes read from storage.
    pub bytes: AtomicU64,
    /// Streams walked.
    pub streams: AtomicU64,
    /// Entries that passed the pipeline.
    pub post_filter_lines: AtomicU64,
}

impl Counters {
    pub(crate) fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// One series of a vector value: an optional point per step.
#[derive(Debug, Clone)]
pub struct Series {
    /// The labels.
    pub labels: Labels,
    /// One slot per step.
    pub points: Vec<Option<f64>>,
}

/// The value of an expression node.
#[derive(Debug, Clone)]
pub enum Value {
    /// A number per step.
    Scalar(Vec<f64>),
    /// Series.
    Vector(Vec<Series>),
}

/// Whether a query's cancel flag is raised.
pub(crate) fn canceled(cancel: Option<&std::sync::atomic::AtomicBool>) -> bool {
    cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
}

/// Everything evaluation needs besides the tree.
pub struct EvalCtx<'a> {
    /// Step timestamps (ns).
    pub steps: Vec<i64>,
    /// Limits.
    pub opts: &'a LogqlOptions,
    /// When the query must give up.
    pub deadline: Instant,
    /// Raised when the requester is gone.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Counters for stats.
    pub counters: &'a Counters,
    /// Selected streams for each range aggregation, in tree order.
    pub selections: Vec<Vec<LogStream>>,
    /// The next selection to consume.
    pub next_selection: usize,
}

impl EvalCtx<'_> {
    /// Fails when past the deadline.
    pub fn check_deadline(&self) -> Result<(), LogqlError> {
        pitot_core::yield_point();
        if canceled(self.cancel) {
            return Err(LogqlError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(LogqlError::Timeout(self.opts.timeout));
        }
        Ok(())
    }

    fn check_series(&self, n: usize) -> Result<(), LogqlError> {
        if n > self.opts.max_series {
            return Err(LogqlError::Limit {
                limit: "max_series",
                message: format!(
                    "maximum number of series ({}) reached for a single query",
                    self.opts.max_series
                ),
            });
        }
        Ok(())
    }
}

/// Visits the log ranges of a tree in evaluation order (what phase one selects).
pub fn visit_ranges<'e>(e: &'e MetricExpr, f: &mut impl FnMut(&'e MetricExpr)) {
    match e {
        MetricExpr::RangeAgg { .. } => f(e),
        MetricExpr::VectorAgg { inner, .. } | MetricExpr::LabelReplace { inner, .. } => {
            visit_ranges(inner, f)
        }
        MetricExpr::Binary { lhs, rhs, .. } => {
            visit_ranges(lhs, f);
            visit_ranges(rhs, f);
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
    }
}

fn is_additive(op: RangeOp) -> bool {
    matches!(
        op,
        RangeOp::Count | RangeOp::Rate | RangeOp::Bytes | RangeOp::BytesRate | RangeOp::Sum
    )
}

/// Evaluates a metric expression.
pub fn eval(ctx: &mut EvalCtx<'_>, e: &MetricExpr) -> Result<Value, LogqlError> {
    ctx.check_deadline()?;
    match e {
        MetricExpr::Literal(v) => Ok(Value::Scalar(vec![*v; ctx.steps.len()])),
        MetricExpr::Vector(v) => Ok(Value::Vector(vec![Series {
            labels: Labels::default(),
            points: vec![Some(*v); ctx.steps.len()],
        }])),
        MetricExpr::RangeAgg {
            op,
            param,
            range,
            grouping,
        } => {
            let series = range::eval_range(ctx, *op, *param, range, grouping.as_ref())?;
            ctx.check_series(series.len())?;
            Ok(Value::Vector(series))
        }
        MetricExpr::VectorAgg {
            op,
            param,
            inner,
            grouping,
        } => {
            // Group additive range aggregations while scanning.
            if *op == VectorOp::Sum {
                if let (
                    MetricExpr::RangeAgg {
                        op: rop,
                        param: rparam,
                        range,
                        grouping: None,
                    },
                    Some(g),
                ) = (inner.as_ref(), grouping)
                {
                    if is_additive(*rop) {
                        let series = range::eval_range(ctx, *rop, *rparam, range, Some(g))?;
                        ctx.check_series(series.len())?;
                        return Ok(Value::Vector(series));
                    }
                }
            }
            let v = eval(ctx, inner)?;
            let Value::Vector(series) = v else {
                return Err(LogqlError::Invalid(
                    "expected type vector in aggregation expression, got scalar".into(),
                ));
            };
            let k = param.map(|p| p as usize);
            Ok(Value::Vector(aggregate::aggregate(
                *op,
                k,
                grouping.as_ref(),
                series,
                ctx.steps.len(),
            )))
        }
        MetricExpr::Binary {
            op,
            lhs,
            rhs,
            modifier,
        } => {
            let l = eval(ctx, lhs)?;
            let r = eval(ctx, rhs)?;
            let v = binary::binary(*op, modifier, l, r)?;
            if let Value::Vector(s) = &v {
                ctx.check_series(s.len())?;
            }
            Ok(v)
        }
        MetricExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src,
            regex,
        } => {
            let v = eval(ctx, inner)?;
            binary::label_replace(v, dst, replacement, src, regex)
        }
    }
}
