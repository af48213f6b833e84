//! Binary operators between scalars and vectors (with `on`/`ignoring`/`group_*`
//! matching as in Prometheus; division and modulo by zero give NaN as in Loki) and
//! `label_replace`.

use std::collections::HashMap;

use pitot_core::{Label, Labels};

use super::series::SeriesTable;
use super::{Series, Value};
use crate::ast::{BinModifier, BinOp, Cardinality, VectorMatching};
use crate::error::LogqlError;

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => {
            if b == 0.0 {
                f64::NAN
            } else {
                a / b
            }
        }
        BinOp::Mod => {
            if b == 0.0 {
                f64::NAN
            } else {
                a % b
            }
        }
        BinOp::Pow => a.powf(b),
        _ => f64::NAN,
    }
}

fn compare(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Eq => a == b,
        BinOp::Ne => a != b,
        BinOp::Gt => a > b,
        BinOp::Ge => a >= b,
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        _ => false,
    }
}

/// `lhs op rhs` for two numbers where `vector_side` says which one is a sample (0 for
/// scalar-scalar); `None` drops the sample.
fn elem(op: BinOp, return_bool: bool, l: f64, r: f64, keep_value: f64) -> Option<f64> {
    if op.is_comparison() {
        let ok = compare(op, l, r);
        if return_bool {
            return Some(if ok { 1.0 } else { 0.0 });
        }
        return ok.then_some(keep_value);
    }
    Some(arith(op, l, r))
}

/// Evaluates a binary operation.
pub fn binary(op: BinOp, m: &BinModifier, l: Value, r: Value) -> Result<Value, LogqlError> {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => Ok(Value::Scalar(
            a.iter()
                .zip(&b)
                .map(|(x, y)| {
                    if op.is_comparison() {
                        if compare(op, *x, *y) {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        arith(op, *x, *y)
                    }
                })
                .collect(),
        )),
        (Value::Vector(v), Value::Scalar(s)) => {
            Ok(Value::Vector(vector_scalar(op, m, v, &s, false)))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            Ok(Value::Vector(vector_scalar(op, m, v, &s, true)))
        }
        (Value::Vector(a), Value::Vector(b)) => {
            if op.is_set() {
                Ok(Value::Vector(set_op(op, m.matching.as_ref(), a, b)))
            } else {
                vector_vector(op, m, a, b).map(Value::Vector)
            }
        }
    }
}

fn vector_scalar(op: BinOp, m: &BinModifier, v: Vec<Series>, s: &[f64], swap: bool) -> Vec<Series> {
    let mut out = Vec::with_capacity(v.len());
    for mut series in v {
        for (i, p) in series.points.iter_mut().enumerate() {
            if let Some(x) = *p {
                let (l, r) = if swap { (s[i], x) } else { (x, s[i]) };
                *p = elem(op, m.return_bool, l, r, x);
            }
        }
        if series.points.iter().any(Option::is_some) {
            out.push(series);
        }
    }
    out
}

fn signature(labels: &Labels, matching: Option<&VectorMatching>) -> Labels {
    match matching {
        None => labels.clone(),
        Some(vm) => Labels::from_unsorted(
            labels
                .iter()
                .filter(|l| vm.labels.iter().any(|n| n == l.name) == vm.on)
                .cloned()
                .collect(),
        ),
    }
}

fn set_op(
    op: BinOp,
    matching: Option<&VectorMatching>,
    a: Vec<Series>,
    b: Vec<Series>,
) -> Vec<Series> {
    let n_steps = a.first().or(b.first()).map(|s| s.points.len()).unwrap_or(0);
    let sig_b: Vec<Labels> = b.iter().map(|s| signature(&s.labels, matching)).collect();
    let sig_a: Vec<Labels> = a.iter().map(|s| signature(&s.labels, matching)).collect();
    let mut out: SeriesTable<Vec<Option<f64>>> = SeriesTable::default();
    for step in 0..n_steps {
        let rhs_sigs: std::collections::HashSet<&Labels> = b
            .iter()
            .zip(&sig_b)
            .filter(|(s, _)| s.points[step].is_some())
            .map(|(_, sig)| sig)
            .collect();
        let lhs_sigs: std::collections::HashSet<&Labels> = a
            .iter()
            .zip(&sig_a)
            .filter(|(s, _)| s.points[step].is_some())
            .map(|(_, sig)| sig)
            .collect();
        for (s, sig) in a.iter().zip(&sig_a) {
            let Some(v) = s.points[step] else { continue };
            let keep = match op {
                BinOp::And => rhs_sigs.contains(sig),
                BinOp::Unless => !rhs_sigs.contains(sig),
                _ => true,
            };
            if keep {
                let i = out.index_of_labels(&s.labels, || vec![None; n_steps]);
                out.entries[i].1[step] = Some(v);
            }
        }
        if op == BinOp::Or {
            for (s, sig) in b.iter().zip(&sig_b) {
                let Some(v) = s.points[step] else { continue };
                if !lhs_sigs.contains(sig) {
                    let i = out.index_of_labels(&s.labels, || vec![None; n_steps]);
                    out.entries[i].1[step] = Some(v);
                }
            }
        }
    }
    out.entries
        .into_iter()
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .map(|(labels, points)| Series { labels, points })
        .collect()
}

fn result_labels(many: &Labels, one: &Labels, vm: Option<&VectorMatching>) -> Labels {
    let Some(vm) = vm else {
        return many.clone();
    };
    let mut labels: Vec<Label> = match vm.card {
        Cardinality::OneToOne => many
            .iter()
            .filter(|l| vm.labels.iter().any(|n| n == l.name) == vm.on)
            .cloned()
            .collect(),
        _ => many.iter().cloned().collect(),
    };
    for name in &vm.include {
        labels.retain(|l| l.name != name);
        if let Some(v) = one.get(name) {
            labels.push(Label::new(name.clone(), v));
        }
    }
    Labels::from_unsorted(labels)
}

fn vector_vector(
    op: BinOp,
    m: &BinModifier,
    a: Vec<Series>,
    b: Vec<Series>,
) -> Result<Vec<Series>, LogqlError> {
    let n_steps = a.first().or(b.first()).map(|s| s.points.len()).unwrap_or(0);
    let vm = m.matching.as_ref();
    let card = vm.map(|v| v.card).unwrap_or(Cardinality::OneToOne);
    // Iterate the "many" side; look the "one" side up.
    let (many, one, swapped) = match card {
        Cardinality::OneToMany => (&b, &a, true),
        _ => (&a, &b, false),
    };
    let sig_many: Vec<Labels> = many.iter().map(|s| signature(&s.labels, vm)).collect();
    let sig_one: Vec<Labels> = one.iter().map(|s| signature(&s.labels, vm)).collect();
    let mut out: SeriesTable<Vec<Option<f64>>> = SeriesTable::default();
    for step in 0..n_steps {
        let mut one_by_sig: HashMap<&Labels, usize> = HashMap::new();
        for (i, s) in one.iter().enumerate() {
            if s.points[step].is_none() {
                continue;
            }
            if one_by_sig.insert(&sig_one[i], i).is_some() {
                return Err(LogqlError::Execution(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                    sig_one[i],
                    if swapped { "left" } else { "right" }
                )));
            }
        }
        let mut seen_one: HashMap<&Labels, usize> = HashMap::new();
        for (i, s) in many.iter().enumerate() {
            let Some(mv) = s.points[step] else { continue };
            let Some(&j) = one_by_sig.get(&sig_many[i]) else {
                continue;
            };
            if card == Cardinality::OneToOne {
                if let Some(prev) = seen_one.insert(&sig_many[i], i) {
                    let _ = prev;
                    return Err(LogqlError::Execution(format!(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right): {}",
                        sig_many[i]
                    )));
                }
            }
            let ov = one[j].points[step].unwrap_or(f64::NAN);
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let Some(v) = elem(op, m.return_bool, l, r, l) else {
                continue;
            };
            let labels = result_labels(&s.labels, &one[j].labels, vm);
            let idx = out.index_of_labels(&labels, || vec![None; n_steps]);
            if out.entries[idx].1[step].is_some() {
                return Err(LogqlError::Execution(format!(
                    "multiple matches for labels: grouping labels must ensure unique matches: {labels}"
                )));
            }
            out.entries[idx].1[step] = Some(v);
        }
    }
    Ok(out
        .entries
        .into_iter()
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .map(|(labels, points)| Series { labels, points })
        .collect())
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub fn label_replace(
    v: Value,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Value, LogqlError> {
    let Value::Vector(series) = v else {
        return Err(LogqlError::Invalid(
            "label_replace expects a vector, got a scalar".into(),
        ));
    };
    let re = regex::Regex::new(&format!("^(?s:{regex})$")).map_err(|e| {
        LogqlError::Invalid(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    let n_steps = series.first().map(|s| s.points.len()).unwrap_or(0);
    let mut out: SeriesTable<Vec<Option<f64>>> = SeriesTable::default();
    for s in series {
        let value = s.labels.get(src).unwrap_or("");
        let labels = match re.captures(value) {
            Some(caps) => {
                let mut res = String::new();
                caps.expand(replacement, &mut res);
                let mut l: Vec<Label> =
                    s.labels.iter().filter(|l| l.name != dst).cloned().collect();
                if !res.is_empty() {
                    l.push(Label::new(dst, res));
                }
                Labels::from_unsorted(l)
            }
            None => s.labels.clone(),
        };
        let idx = out.index_of_labels(&labels, || vec![None; n_steps]);
        for (i, p) in s.points.into_iter().enumerate() {
            if p.is_some() {
                if out.entries[idx].1[i].is_some() {
                    return Err(LogqlError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                out.entries[idx].1[i] = p;
            }
        }
    }
    Ok(Value::Vector(
        out.entries
            .into_iter()
            .map(|(labels, points)| Series { labels, points })
            .collect(),
    ))
}
