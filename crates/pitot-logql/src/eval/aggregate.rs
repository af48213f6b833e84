//! Vector aggregations (`sum`, `avg`, `topk`, ... `by`/`without`), step by step.

use std::collections::HashMap;

use pitot_core::Labels;

use super::series::Projection;
use super::Series;
use crate::ast::{Grouping, VectorOp};

/// Aggregates series per step within each group.
pub fn aggregate(
    op: VectorOp,
    k: Option<usize>,
    grouping: Option<&Grouping>,
    input: Vec<Series>,
    n_steps: usize,
) -> Vec<Series> {
    match op {
        VectorOp::Sort | VectorOp::SortDesc => return sort(op, input),
        VectorOp::Topk | VectorOp::Bottomk => {
            return topk(op, k.unwrap_or(1), grouping, input, n_steps)
        }
        _ => {}
    }
    let proj = match grouping {
        Some(g) => Projection::from_grouping(Some(g)),
        None => Projection::By(vec![]),
    };
    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, s) in input.iter().enumerate() {
        let key = proj.apply(&s.labels);
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let mut points = Vec::with_capacity(n_steps);
        for step in 0..n_steps {
            let vals = members.iter().filter_map(|&i| input[i].points[step]);
            points.push(reduce(op, vals));
        }
        if points.iter().any(Option::is_some) {
            out.push(Series { labels, points });
        }
    }
    out
}

fn reduce(op: VectorOp, vals: impl Iterator<Item = f64>) -> Option<f64> {
    let mut n = 0.0f64;
    let mut sum = 0.0f64;
    let mut min = f64::NAN;
    let mut max = f64::NAN;
    let (mut mean, mut aux) = (0.0f64, 0.0f64);
    for v in vals {
        n += 1.0;
        sum += v;
        if n == 1.0 {
            min = v;
            max = v;
        } else {
            if v < min || min.is_nan() {
                min = v;
            }
            if v > max || max.is_nan() {
                max = v;
            }
        }
        let delta = v - mean;
        mean += delta / n;
        aux += delta * (v - mean);
    }
    if n == 0.0 {
        return None;
    }
    Some(match op {
        VectorOp::Sum => sum,
        VectorOp::Avg => mean,
        VectorOp::Min => min,
        VectorOp::Max => max,
        VectorOp::Count => n,
        VectorOp::Stdvar => aux / n,
        VectorOp::Stddev => (aux / n).sqrt(),
        _ => sum,
    })
}

fn topk(
    op: VectorOp,
    k: usize,
    grouping: Option<&Grouping>,
    input: Vec<Series>,
    n_steps: usize,
) -> Vec<Series> {
    let proj = match grouping {
        Some(g) => Projection::from_grouping(Some(g)),
        None => Projection::By(vec![]),
    };
    let keys: Vec<Labels> = input.iter().map(|s| proj.apply(&s.labels)).collect();
    let mut keep = vec![vec![None; n_steps]; input.len()];
    #[allow(clippy::needless_range_loop)]
    for step in 0..n_steps {
        let mut groups: HashMap<&Labels, Vec<(usize, f64)>> = HashMap::new();
        for (i, s) in input.iter().enumerate() {
            if let Some(v) = s.points[step] {
                groups.entry(&keys[i]).or_default().push((i, v));
            }
        }
        for (_, mut members) in groups {
            members.sort_by(|a, b| {
                let o = if op == VectorOp::Topk {
                    cmp_desc(a.1, b.1)
                } else {
                    cmp_asc(a.1, b.1)
                };
                o.then_with(|| input[a.0].labels.cmp(&input[b.0].labels))
            });
            for &(i, v) in members.iter().take(k) {
                keep[i][step] = Some(v);
            }
        }
    }
    input
        .into_iter()
        .zip(keep)
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .map(|(s, points)| Series {
            labels: s.labels,
            points,
        })
        .collect()
}

/// Descending with NaN last.
fn cmp_desc(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Ascending with NaN last.
fn cmp_asc(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Orders series by their first (instant) value; the order is kept in the output.
fn sort(op: VectorOp, mut input: Vec<Series>) -> Vec<Series> {
    let key = |s: &Series| {
        s.points
            .iter()
            .flatten()
            .next()
            .copied()
            .unwrap_or(f64::NAN)
    };
    input.sort_by(|a, b| {
        let o = if op == VectorOp::Sort {
            cmp_asc(key(a), key(b))
        } else {
            cmp_desc(key(a), key(b))
        };
        o.then_with(|| a.labels.cmp(&b.labels))
    });
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, &str)], v: f64) -> Series {
        Series {
            labels: Labels::from_pairs(pairs.iter().copied()),
            points: vec![Some(v)],
        }
    }

    #[test]
    fn sum_by_and_topk() {
        let input = vec![
            s(&[("a", "1"), ("b", "x")], 1.0),
            s(&[("a", "1"), ("b", "y")], 2.0),
            s(&[("a", "2"), ("b", "x")], 5.0),
        ];
        let g = Grouping {
            without: false,
            labels: vec!["a".into()],
        };
        let out = aggregate(VectorOp::Sum, None, Some(&g), input.clone(), 1);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].points[0], Some(3.0));
        let top = aggregate(VectorOp::Topk, Some(1), None, input.clone(), 1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].points[0], Some(5.0));
        let c = aggregate(VectorOp::Count, None, None, input, 1);
        assert_eq!(c[0].points[0], Some(3.0));
    }
}
