//! Range aggregations: scan streams through the pipeline into per-series samples, then
//! slide each step's window `(t - offset - range, t - offset]` over them.

use pitot_core::{Label, Labels, MatchOp};
use pitot_storage_api::LogStream;

use super::series::{Projection, SeriesTable};
use super::{Counters, EvalCtx, Series};
use crate::ast::{Grouping, LogRange, RangeOp};
use crate::error::LogqlError;
use crate::pipeline::labels::{ERROR_DETAILS_LABEL, ERROR_LABEL};
use crate::pipeline::{Pipeline, PipelineState, Unwrapper};

/// Entries between deadline checks.
const CHECK_EVERY: u32 = 4096;

/// Samples of one output series.
#[derive(Debug, Default)]
struct Samples {
    points: Vec<(i64, f64)>,
    unsorted: bool,
}

impl Samples {
    fn push(&mut self, ts: i64, v: f64) {
        if let Some(&(last, _)) = self.points.last() {
            if ts < last {
                self.unsorted = true;
            }
        }
        self.points.push((ts, v));
    }
}

/// What one worker produced.
struct Partial {
    table: SeriesTable<Samples>,
    /// Steps (indexes) that saw at least one sample: for `absent_over_time`.
    present: Vec<bool>,
}

/// The window geometry of a range aggregation.
#[derive(Clone, Copy)]
struct Windows<'s> {
    steps: &'s [i64],
    range: i64,
    offset: i64,
}

impl Windows<'_> {
    /// Index of the first step whose window end is at or after `ts`.
    fn first_step_at_or_after(&self, ts: i64, from: usize) -> usize {
        let mut k = from;
        while k < self.steps.len() && self.steps[k] - self.offset < ts {
            k += 1;
        }
        k
    }

    /// Whether step `k` (the first whose window end is >= ts) covers `ts`.
    fn covers(&self, k: usize, ts: i64) -> bool {
        k < self.steps.len() && self.steps[k] - self.offset - self.range < ts
    }
}

fn pipeline_error(labels: &Labels) -> LogqlError {
    let err = labels.get(ERROR_LABEL).unwrap_or("");
    LogqlError::Execution(format!(
        "pipeline error: '{err}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    ))
}

struct ScanSpec<'a> {
    op: RangeOp,
    pipeline: &'a Pipeline,
    unwrap: Option<&'a Unwrapper>,
    projection: &'a Projection,
    windows: Windows<'a>,
    max_series: usize,
    deadline: std::time::Instant,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
    timeout: std::time::Duration,
    counters: &'a Counters,
}

fn scan(spec: &ScanSpec<'_>, streams: &[&LogStream]) -> Result<Partial, LogqlError> {
    let w = spec.windows;
    let first_lo = w.steps[0] - w.offset - w.range;
    let last_hi = w.steps[w.steps.len() - 1] - w.offset;
    let mut part = Partial {
        table: SeriesTable::default(),
        present: vec![false; w.steps.len()],
    };
    let mut st = PipelineState::default();
    let mut tick = 0u32;
    for stream in streams {
        spec.counters.add(&spec.counters.streams, 1);
        let mut lines = 0u64;
        let mut bytes = 0u64;
        let mut kept = 0u64;
        let mut k = 0usize;
        let mut stream_series: Option<usize> = None;
        for entry in stream.entries() {
            if entry.ts <= first_lo {
                continue;
            }
            if entry.ts > last_hi {
                break;
            }
            tick += 1;
            if tick >= CHECK_EVERY {
                tick = 0;
                pitot_core::yield_point();
                if super::canceled(spec.cancel) {
                    return Err(LogqlError::Canceled);
                }
                if std::time::Instant::now() > spec.deadline {
                    return Err(LogqlError::Timeout(spec.timeout));
                }
            }
            k = w.first_step_at_or_after(entry.ts, k);
            if !w.covers(k, entry.ts) {
                continue;
            }
            lines += 1;
            bytes += entry.line.len() as u64;
            if !spec.pipeline.process(
                &mut st,
                entry.ts,
                &entry.line,
                &stream.labels,
                &entry.metadata,
                spec.unwrap.is_some(),
            ) {
                continue;
            }
            let value = match spec.unwrap {
                Some(u) => match u.extract(&mut st.labels) {
                    Some(v) => v,
                    None => continue,
                },
                None => match spec.op {
                    RangeOp::Bytes | RangeOp::BytesRate => st.line(&entry.line).len() as f64,
                    _ => 1.0,
                },
            };
            kept += 1;
            if st.used_labels && st.labels.has_err() {
                return Err(pipeline_error(&st.labels.labels()));
            }
            // Every step from k on whose window holds ts sees a sample.
            let mut j = k;
            while w.covers(j, entry.ts) {
                part.present[j] = true;
                j += 1;
            }
            if spec.op == RangeOp::Absent {
                continue;
            }
            let idx = if st.used_labels {
                let lbs = &st.labels;
                let proj = spec.projection;
                part.table.index_of(
                    &|f: &mut dyn FnMut(&str, &str)| proj.visit_builder(lbs, |n, v| f(n, v)),
                    Samples::default,
                )
            } else {
                match stream_series {
                    Some(i) => i,
                    None => {
                        let proj = spec.projection;
                        let labels = &stream.labels;
                        let i = part.table.index_of(
                            &|f: &mut dyn FnMut(&str, &str)| {
                                proj.visit_labels(labels, |n, v| f(n, v))
                            },
                            Samples::default,
                        );
                        stream_series = Some(i);
                        i
                    }
                }
            };
            if part.table.len() > spec.max_series {
                return Err(LogqlError::Limit {
                    limit: "max_series",
                    message: format!(
                        "maximum number of series ({}) reached for a single query",
                        spec.max_series
                    ),
                });
            }
            part.table.entries[idx].1.push(entry.ts, value);
        }
        spec.counters.add(&spec.counters.lines, lines);
        spec.counters.add(&spec.counters.bytes, bytes);
        spec.counters.add(&spec.counters.post_filter_lines, kept);
    }
    Ok(part)
}

/// Labels of `absent_over_time`'s output: the selector's equality matchers.
fn absent_labels(range: &LogRange) -> Labels {
    let mut v: Vec<Label> = Vec::new();
    for m in &range.selector.matchers {
        if let MatchOp::Equal(val) = &m.op {
            if !v.iter().any(|l| l.name == m.name) {
                v.push(Label::new(m.name.clone(), val.clone()));
            }
        }
    }
    Labels::from_unsorted(v)
}

/// Evaluates a range aggregation for every step.
pub fn eval_range(
    ctx: &mut EvalCtx<'_>,
    op: RangeOp,
    param: Option<f64>,
    range: &LogRange,
    grouping: Option<&Grouping>,
) -> Result<Vec<Series>, LogqlError> {
    let streams = std::mem::take(&mut ctx.selections[ctx.next_selection]);
    ctx.next_selection += 1;
    let pipeline = Pipeline::compile(&range.selector.stages).map_err(LogqlError::Invalid)?;
    let unwrap = match &range.unwrap {
        Some(u) => Some(Unwrapper::compile(u).map_err(LogqlError::Invalid)?),
        None => None,
    };
    let projection = Projection::from_grouping(grouping);
    let pipeline = match &projection {
        Projection::By(names) => {
            let mut needed = names.clone();
            if let Some(u) = &range.unwrap {
                needed.push(u.label.clone());
                for f in &u.post_filters {
                    if let Ok(c) = crate::pipeline::filters::LabelFilterC::compile(f) {
                        c.names(&mut needed);
                    }
                }
            }
            pipeline.with_label_hints(&needed)
        }
        _ => pipeline,
    };
    let spec = ScanSpec {
        op,
        pipeline: &pipeline,
        unwrap: unwrap.as_ref(),
        projection: &projection,
        windows: Windows {
            steps: &ctx.steps,
            range: range.range,
            offset: range.offset,
        },
        max_series: ctx.opts.max_series,
        deadline: ctx.deadline,
        cancel: ctx.cancel,
        timeout: ctx.opts.timeout,
        counters: ctx.counters,
    };
    // Threads beyond the calling one come from the process-wide helper budget, so
    // concurrent queries never oversubscribe the cores.
    let helpers =
        pitot_core::HelperThreads::take(ctx.opts.parallelism.max(1).min(streams.len().max(1)) - 1);
    let workers = helpers.count() + 1;
    let partials: Vec<Partial> = if workers <= 1 {
        let refs: Vec<&LogStream> = streams.iter().collect();
        vec![scan(&spec, &refs)?]
    } else {
        let mut groups: Vec<Vec<&LogStream>> = vec![Vec::new(); workers];
        for (i, s) in streams.iter().enumerate() {
            groups[i % workers].push(s);
        }
        let results: Vec<Result<Partial, LogqlError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .map(|g| {
                    let spec = &spec;
                    scope.spawn(move || scan(spec, g))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogqlError::Execution("query worker panicked".into()))
                    })
                })
                .collect()
        });
        let mut out = Vec::new();
        for r in results {
            out.push(r?);
        }
        out
    };
    let n_steps = ctx.steps.len();
    if op == RangeOp::Absent {
        let mut present = vec![false; n_steps];
        for p in &partials {
            for (i, b) in p.present.iter().enumerate() {
                present[i] |= *b;
            }
        }
        if present.iter().all(|b| *b) {
            return Ok(Vec::new());
        }
        let points = present
            .iter()
            .map(|b| if *b { None } else { Some(1.0) })
            .collect();
        return Ok(vec![Series {
            labels: absent_labels(range),
            points,
        }]);
    }
    // Merge the workers' tables.
    let mut partials = partials.into_iter();
    let mut table = partials.next().map(|p| p.table).unwrap_or_default();
    for p in partials {
        for (labels, samples) in p.table.entries {
            let idx = table.index_of_labels(&labels, Samples::default);
            let dst = &mut table.entries[idx].1;
            if dst.points.is_empty() {
                *dst = samples;
            } else {
                dst.points.extend(samples.points);
                dst.unsorted = true;
            }
        }
        if table.len() > ctx.opts.max_series {
            return Err(LogqlError::Limit {
                limit: "max_series",
                message: format!(
                    "maximum number of series ({}) reached for a single query",
                    ctx.opts.max_series
                ),
            });
        }
    }
    let range_s = range.range as f64 / 1e9;
    let mut out = Vec::with_capacity(table.len());
    for (labels, mut samples) in table.entries {
        if samples.unsorted {
            samples.points.sort_by_key(|p| p.0);
        }
        let points = windows_apply(
            op,
            param,
            unwrap.is_some(),
            &samples.points,
            &ctx.steps,
            range.range,
            range.offset,
            range_s,
        );
        if points.iter().any(Option::is_some) {
            out.push(Series { labels, points });
        }
    }
    let _ = ERROR_DETAILS_LABEL;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn windows_apply(
    op: RangeOp,
    param: Option<f64>,
    unwrapped: bool,
    samples: &[(i64, f64)],
    steps: &[i64],
    range: i64,
    offset: i64,
    range_s: f64,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(steps.len());
    // Prefix sums make counts and byte sums O(1) per step for overlapping windows.
    let prefix: Option<Vec<f64>> = match (op, unwrapped) {
        (RangeOp::Bytes | RangeOp::BytesRate, _) => {
            let mut p = Vec::with_capacity(samples.len() + 1);
            p.push(0.0);
            let mut acc = 0.0;
            for s in samples {
                acc += s.1;
                p.push(acc);
            }
            Some(p)
        }
        _ => None,
    };
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut buf: Vec<f64> = Vec::new();
    for &t in steps {
        let end = t - offset;
        let start = end - range;
        while hi < samples.len() && samples[hi].0 <= end {
            hi += 1;
        }
        while lo < hi && samples[lo].0 <= start {
            lo += 1;
        }
        if lo > hi {
            lo = hi;
        }
        let w = &samples[lo..hi];
        if w.is_empty() {
            out.push(None);
            continue;
        }
        let n = w.len() as f64;
        let sum = |w: &[(i64, f64)]| w.iter().map(|s| s.1).sum::<f64>();
        let v = match op {
            RangeOp::Count => n,
            RangeOp::Rate if !unwrapped => n / range_s,
            RangeOp::Rate => sum(w) / range_s,
            RangeOp::Bytes | RangeOp::BytesRate => {
                let p = prefix
                    .as_ref()
                    .map(|p| p[hi] - p[lo])
                    .unwrap_or_else(|| sum(w));
                if op == RangeOp::BytesRate {
                    p / range_s
                } else {
                    p
                }
            }
            RangeOp::Sum => sum(w),
            RangeOp::Avg => sum(w) / n,
            RangeOp::Min => {
                let mut m = w[0].1;
                for s in w {
                    if s.1 < m || m.is_nan() {
                        m = s.1;
                    }
                }
                m
            }
            RangeOp::Max => {
                let mut m = w[0].1;
                for s in w {
                    if s.1 > m || m.is_nan() {
                        m = s.1;
                    }
                }
                m
            }
            RangeOp::Stdvar | RangeOp::Stddev => {
                let (mut count, mut mean, mut aux) = (0.0f64, 0.0f64, 0.0f64);
                for s in w {
                    count += 1.0;
                    let delta = s.1 - mean;
                    mean += delta / count;
                    aux += delta * (s.1 - mean);
                }
                let var = aux / count;
                if op == RangeOp::Stddev {
                    var.sqrt()
                } else {
                    var
                }
            }
            RangeOp::Quantile => {
                buf.clear();
                buf.extend(w.iter().map(|s| s.1));
                quantile(param.unwrap_or(0.0), &mut buf)
            }
            RangeOp::First => w[0].1,
            RangeOp::Last => w[w.len() - 1].1,
            RangeOp::RateCounter => extrapolated_rate(w, start, end, range_s),
            RangeOp::Absent => 1.0,
        };
        out.push(Some(v));
    }
    out
}

/// Prometheus' `quantile` over unsorted values.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus' extrapolated counter rate over `(start, end]`.
fn extrapolated_rate(w: &[(i64, f64)], start: i64, end: i64, range_s: f64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let first = w[0];
    let last = w[w.len() - 1];
    let mut result = last.1 - first.1;
    let mut prev = first.1;
    for s in &w[1..] {
        if s.1 < prev {
            result += prev;
        }
        prev = s.1;
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let mut to_start = secs(first.0 - start);
    let mut to_end = secs(end - last.0);
    let sampled = secs(last.0 - first.0);
    let avg = sampled / (w.len() as f64 - 1.0);
    let threshold = avg * 1.1;
    let mut interval = sampled;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    interval += to_start;
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    interval += to_end;
    result * (interval / sampled) / range_s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert!((quantile(0.4, &mut v) - 2.6).abs() < 1e-9);
        assert_eq!(quantile(1.5, &mut v), f64::INFINITY);
    }

    #[test]
    fn rate_counter_extrapolates_like_prometheus() {
        let s = 1_000_000_000i64;
        let w = [(90 * s, 100.0), (120 * s, 130.0)];
        assert!((extrapolated_rate(&w, 60 * s, 120 * s, 60.0) - 1.0).abs() < 1e-9);
    }
}
