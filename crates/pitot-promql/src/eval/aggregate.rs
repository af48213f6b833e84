//! Aggregation operators with `by`/`without` grouping.
//!
//! Group keys are computed once per series; values are then accumulated per step.

use crate::HashMap;

use pitot_core::{Labels, METRIC_NAME};
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMITK, T_LIMIT_RATIO, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::labels::{format_float, keep_only, remove, set};
use super::{Evaluator, Grid, Series, Val};
use crate::error::PromqlError;

/// Compensated (Kahan–Neumaier) summation step: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Sum of values with compensation.
pub(crate) fn kahan_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in values {
        (s, c) = kahan_inc(v, s, c);
    }
    if s.is_infinite() {
        s
    } else {
        s + c
    }
}

/// Mean of values: compensated sum divided by count, or, when the sum of finite values
/// overflows, the compensated sum of `v / n`.
pub(crate) fn mean(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let s = kahan_sum(values.iter().copied());
    if s.is_finite() || values.iter().any(|v| !v.is_finite()) {
        return s / n;
    }
    kahan_sum(values.iter().map(|v| v / n))
}

/// Population variance by Welford's online algorithm.
pub(crate) fn variance(values: &[f64]) -> f64 {
    let mut count = 0.0;
    let mut mean = 0.0;
    let mut m2 = 0.0;
    for &v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// The φ-quantile of values, interpolating between the nearest ranks; NaN sorts as the
/// smallest value.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_low_cmp(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Orders floats ascending with NaN below everything.
pub(crate) fn nan_low_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).expect("not NaN"),
    }
}

/// A stable 64-bit hash of a label set (FNV-1a), used for deterministic sampling.
fn labels_hash(labels: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for l in labels.iter() {
        for b in l
            .name
            .bytes()
            .chain([0xff])
            .chain(l.value.bytes())
            .chain([0xff])
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The group of a series. `by` reads the labels as stored, including a metric name that
/// is only marked for removal (delayed name removal lets `sum by (__name__)` work on
/// function results); `without` always drops the name.
fn group_key(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
        Some(LabelModifier::Include(by)) => keep_only(labels, &by.labels),
        Some(LabelModifier::Exclude(without)) => {
            remove(labels, &super::labels::with_identity(&without.labels))
        }
    }
}

fn is_invalid_byte(c: char) -> bool {
    (c as u32) >= crate::preprocess::INVALID_BYTE_BASE
        && (c as u32) <= crate::preprocess::INVALID_BYTE_BASE + 0xff
}

/// Whether `name` can be a label name: Prometheus 3 accepts any valid UTF-8, and
/// string literals with invalid UTF-8 reach the engine as private-use characters.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(is_invalid_byte)
}

/// Go's `%q` rendering of a string, for error messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_invalid_byte(c) => out.push_str(&format!(
                "\\x{:02x}",
                c as u32 - crate::preprocess::INVALID_BYTE_BASE
            )),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The per-group points of the aggregations that fold each step's values one at a time
/// in series order (`sum`, `count`, `group`, `min`, `max`), or `None` for the others.
/// Walking series by series reads each series' points once, in memory order, where
/// walking step by step across a group's series touches every series once per step.
/// The values of a step are folded in the same order either way, so sums are identical.
fn fold_series(
    op: promql_parser::parser::token::TokenId,
    input: &[Series],
    group_of: &[usize],
    groups: usize,
    n: usize,
) -> Option<Vec<Vec<Option<f64>>>> {
    #[derive(Clone, Copy)]
    struct Acc {
        value: f64,
        compensation: f64,
        count: u64,
    }
    let fold: fn(&mut Acc, f64) = match op {
        T_SUM => |acc, v| {
            (acc.value, acc.compensation) = kahan_inc(v, acc.value, acc.compensation);
        },
        T_COUNT => |acc, _| acc.value += 1.0,
        T_GROUP => |acc, _| acc.value = 1.0,
        T_MIN => |acc, v| {
            if acc.count == 0 || v < acc.value || acc.value.is_nan() {
                acc.value = v;
            }
        },
        T_MAX => |acc, v| {
            if acc.count == 0 || v > acc.value || acc.value.is_nan() {
                acc.value = v;
            }
        },
        _ => return None,
    };
    let empty = Acc {
        value: 0.0,
        compensation: 0.0,
        count: 0,
    };
    let mut accs = vec![empty; groups * n];
    for (s, &gi) in input.iter().zip(group_of) {
        let row = &mut accs[gi * n..(gi + 1) * n];
        for (acc, point) in row.iter_mut().zip(&s.points) {
            if let Some(v) = *point {
                fold(acc, v);
                acc.count += 1;
            }
        }
    }
    Some(
        accs.chunks(n.max(1))
            .map(|row| {
                row.iter()
                    .map(|acc| {
                        (acc.count > 0).then(|| {
                            if op == T_SUM && acc.value.is_finite() {
                                acc.value + acc.compensation
                            } else {
                                acc.value
                            }
                        })
                    })
                    .collect()
            })
            .collect(),
    )
}

impl Evaluator<'_> {
    pub(super) fn eval_aggregate(
        &mut self,
        a: &AggregateExpr,
        g: &Grid,
    ) -> Result<Val, PromqlError> {
        let op = a.op.id();
        let n = g.len();
        let param = match &a.param {
            Some(p) if op != T_COUNT_VALUES => Some(self.eval_scalar(p, g)?),
            _ => None,
        };
        let label_param = match (&a.param, op) {
            (Some(p), T_COUNT_VALUES) => match self.eval(p, g)? {
                Val::String(s) => Some(s),
                _ => {
                    return Err(PromqlError::BadQuery(
                        "count_values expects a string parameter".into(),
                    ))
                }
            },
            _ => None,
        };
        let input = self.eval_vector(&a.expr, g)?;

        // Group series once.
        let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::default();
        for s in &input {
            let key = group_key(&s.labels, &a.modifier);
            let gi = match index.get(&key) {
                Some(&gi) => gi,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push(key);
                    groups.len() - 1
                }
            };
            group_of.push(gi);
        }
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
        for (si, gi) in group_of.iter().enumerate() {
            members[*gi].push(si);
        }

        match op {
            T_TOPK | T_BOTTOMK => {
                let ks = param.expect("topk has a parameter");
                self.eval_topk(op == T_TOPK, &ks, input, &members, n)
            }
            T_LIMITK | T_LIMIT_RATIO => {
                let ps = param.expect("limitk has a parameter");
                let pos = self.position_of_arg(&a.op.to_string(), 0, a.param.as_deref());
                self.eval_limit(op == T_LIMITK, &ps, input, &members, n, &pos)
            }
            T_COUNT_VALUES => {
                let label = label_param.expect("count_values has a parameter");
                if !is_valid_label_name(&label) {
                    return Err(PromqlError::Execution(format!(
                        "invalid label name {}",
                        go_quote(&label)
                    )));
                }
                let mut out: Vec<Series> = Vec::new();
                let mut out_index: HashMap<Labels, usize> = HashMap::default();
                for (gi, idxs) in members.iter().enumerate() {
                    for step in 0..n {
                        for &si in idxs {
                            let Some(v) = input[si].points[step] else {
                                continue;
                            };
                            let labels = set(&groups[gi], &label, &format_float(v));
                            // A kept metric name stays marked for removal, as for the
                            // other aggregations (unless the count label is the name).
                            let drop_name = label != METRIC_NAME
                                && groups[gi].get(METRIC_NAME).is_some()
                                && idxs.first().is_some_and(|&si| input[si].drop_name);
                            let oi = *out_index.entry(labels.clone()).or_insert_with(|| {
                                out.push(Series {
                                    labels,
                                    drop_name,
                                    points: vec![None; n],
                                });
                                out.len() - 1
                            });
                            let p = &mut out[oi].points[step];
                            *p = Some(p.unwrap_or(0.0) + 1.0);
                        }
                    }
                }
                Ok(Val::Vector(out))
            }
            _ => {
                if op == T_QUANTILE {
                    if let Some(qs) = &param {
                        if let Some(q) = qs.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                            self.annotations.warn(format!(
                                "quantile value should be between 0 and 1, got {} ({})",
                                format_float(*q),
                                self.position_of_arg("quantile", 0, a.param.as_deref())
                            ));
                        }
                    }
                }
                let mut folded = fold_series(op, &input, &group_of, groups.len(), n);
                let mut out = Vec::with_capacity(groups.len());
                let mut values: Vec<f64> = Vec::new();
                for (gi, idxs) in members.iter().enumerate() {
                    let mut points = match folded.as_mut() {
                        Some(folded) => std::mem::take(&mut folded[gi]),
                        None => vec![None; n],
                    };
                    if folded.is_none() {
                        for (step, point) in points.iter_mut().enumerate() {
                            values.clear();
                            values.extend(idxs.iter().filter_map(|&si| input[si].points[step]));
                            if values.is_empty() {
                                continue;
                            }
                            *point = Some(match op {
                                T_SUM => kahan_sum(values.iter().copied()),
                                T_AVG => mean(&values),
                                T_COUNT => values.len() as f64,
                                T_GROUP => 1.0,
                                T_MIN => values.iter().copied().fold(f64::NAN, |m, v| {
                                    if v < m || m.is_nan() {
                                        v
                                    } else {
                                        m
                                    }
                                }),
                                T_MAX => values.iter().copied().fold(f64::NAN, |m, v| {
                                    if v > m || m.is_nan() {
                                        v
                                    } else {
                                        m
                                    }
                                }),
                                T_STDVAR => variance(&values),
                                T_STDDEV => variance(&values).sqrt(),
                                T_QUANTILE => {
                                    let q = param.as_ref().expect("quantile has a parameter")[step];
                                    quantile(q, &mut values)
                                }
                                other => {
                                    return Err(PromqlError::BadQuery(format!(
                                        "unsupported aggregation {}",
                                        promql_parser::parser::token::TokenType::new(other)
                                    )))
                                }
                            });
                        }
                    }
                    // A kept metric name stays marked for removal if the group's first
                    // series had it marked.
                    let drop_name = groups[gi].get(METRIC_NAME).is_some()
                        && idxs.first().is_some_and(|&si| input[si].drop_name);
                    out.push(Series {
                        labels: groups[gi].clone(),
                        drop_name,
                        points,
                    });
                }
                Ok(Val::Vector(out))
            }
        }
    }

    /// `limitk` keeps `k` series per group, chosen by label hash so that the same series
    /// are kept at every step; `limit_ratio` keeps the series whose hash falls in the
    /// first `r` (or, for negative `r`, the last `|r|`) fraction of the hash space.
    fn eval_limit(
        &mut self,
        limitk: bool,
        params: &[f64],
        input: Vec<Series>,
        members: &[Vec<usize>],
        n: usize,
        param_pos: &str,
    ) -> Result<Val, PromqlError> {
        let hashes: Vec<u64> = input.iter().map(|s| labels_hash(&s.labels)).collect();
        let mut keep: Vec<Vec<bool>> = vec![vec![false; n]; input.len()];
        for step in 0..n {
            let p = params[step];
            if p.is_nan() {
                return Err(PromqlError::Execution(if limitk {
                    "Parameter value is NaN".into()
                } else {
                    "Ratio value is NaN".into()
                }));
            }
            if limitk {
                if p.abs() > 9.223372036854775e18 {
                    return Err(PromqlError::Execution(format!(
                        "Scalar value {} overflows int64",
                        format_float(p)
                    )));
                }
                let k = p.trunc();
                if k < 1.0 {
                    continue;
                }
                for idxs in members {
                    let mut present: Vec<usize> = idxs
                        .iter()
                        .copied()
                        .filter(|&si| input[si].points[step].is_some())
                        .collect();
                    present.sort_by_key(|&si| hashes[si]);
                    for si in present.into_iter().take(k.min(usize::MAX as f64) as usize) {
                        keep[si][step] = true;
                    }
                }
            } else {
                let r = if !(-1.0..=1.0).contains(&p) {
                    self.annotations.warn(format!(
                        "ratio value should be between -1 and 1, got {} ({param_pos})",
                        format_float(p)
                    ));
                    p.clamp(-1.0, 1.0)
                } else {
                    p
                };
                for (si, s) in input.iter().enumerate() {
                    if s.points[step].is_none() {
                        continue;
                    }
                    let ratio = hashes[si] as f64 / u64::MAX as f64;
                    keep[si][step] = if r >= 0.0 {
                        ratio < r
                    } else {
                        ratio >= 1.0 + r
                    };
                }
            }
        }
        let mut out = Vec::new();
        for (si, mut s) in input.into_iter().enumerate() {
            for (step, p) in s.points.iter_mut().enumerate() {
                if !keep[si][step] {
                    *p = None;
                }
            }
            if s.points.iter().any(Option::is_some) {
                out.push(s);
            }
        }
        Ok(Val::Vector(out))
    }

    fn eval_topk(
        &mut self,
        top: bool,
        ks: &[f64],
        input: Vec<Series>,
        members: &[Vec<usize>],
        n: usize,
    ) -> Result<Val, PromqlError> {
        let mut keep: Vec<Vec<bool>> = vec![vec![false; n]; input.len()];
        // Instant queries return each group's selection in rank order.
        let mut order: Vec<usize> = Vec::new();
        let mut present: Vec<(usize, f64)> = Vec::new();
        for step in 0..n {
            let k = ks[step];
            if k.is_nan() {
                return Err(PromqlError::Execution("Parameter value is NaN".into()));
            }
            if k.abs() > 9.223372036854775e18 {
                return Err(PromqlError::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_float(k)
                )));
            }
            let k = k.trunc();
            if k < 1.0 {
                continue;
            }
            for idxs in members {
                present.clear();
                present.extend(
                    idxs.iter()
                        .filter_map(|&si| input[si].points[step].map(|v| (si, v))),
                );
                // Ranked by value (NaN last), ties by series order: a total order, so
                // selecting the first k and sorting only those gives what sorting all
                // series would.
                let rank = |a: &(usize, f64), b: &(usize, f64)| {
                    let by_value = match (a.1.is_nan(), b.1.is_nan()) {
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if top => nan_low_cmp(a.1, b.1).reverse(),
                        _ => nan_low_cmp(a.1, b.1),
                    };
                    by_value.then(a.0.cmp(&b.0))
                };
                let k = (k.min(usize::MAX as f64) as usize).min(present.len());
                if k == 0 {
                    continue;
                }
                if k < present.len() {
                    present.select_nth_unstable_by(k - 1, rank);
                    present.truncate(k);
                }
                present.sort_unstable_by(rank);
                for &(si, _) in present.iter() {
                    keep[si][step] = true;
                    if n == 1 {
                        order.push(si);
                    }
                }
            }
        }
        let mut input: Vec<Option<Series>> = input.into_iter().map(Some).collect();
        let mut out = Vec::new();
        let indices: Vec<usize> = if n == 1 {
            order
        } else {
            (0..input.len()).collect()
        };
        for si in indices {
            let Some(mut s) = input[si].take() else {
                continue;
            };
            for (step, p) in s.points.iter_mut().enumerate() {
                if !keep[si][step] {
                    *p = None;
                }
            }
            if s.points.iter().any(Option::is_some) {
                out.push(s);
            }
        }
        Ok(Val::Vector(out))
    }
}
