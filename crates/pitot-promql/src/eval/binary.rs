//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators, and
//! vector matching with `on`/`ignoring` and `group_left`/`group_right`.

use std::collections::HashMap;

use pitot_core::{Labels, METRIC_NAME};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::labels::{effective, keep_only, remove};
use super::{Evaluator, Grid, Series, Val};
use crate::error::PromqlError;

/// Applies an arithmetic operator.
pub(crate) fn arith(op: u8, a: f64, b: f64) -> f64 {
    match op {
        T_ADD => a + b,
        T_SUB => a - b,
        T_MUL => a * b,
        T_DIV => a / b,
        T_MOD => a % b,
        T_POW => a.powf(b),
        T_ATAN2 => a.atan2(b),
        _ => f64::NAN,
    }
}

fn is_comparison(op: u8) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn compare(op: u8, a: f64, b: f64) -> bool {
    match op {
        T_EQLC => a == b,
        T_NEQ => a != b,
        T_GTR => a > b,
        T_LSS => a < b,
        T_GTE => a >= b,
        T_LTE => a <= b,
        _ => false,
    }
}

/// Result of applying `op` to one pair: the value, or `None` when a filtering comparison
/// drops the element.
fn apply(op: u8, return_bool: bool, a: f64, b: f64) -> Option<f64> {
    if is_comparison(op) {
        let holds = compare(op, a, b);
        if return_bool {
            Some(if holds { 1.0 } else { 0.0 })
        } else if holds {
            Some(a)
        } else {
            None
        }
    } else {
        Some(arith(op, a, b))
    }
}

/// The labels a match is decided on.
fn signature(labels: &Labels, drop_name: bool, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => keep_only(&effective(labels, drop_name), &on.labels),
        Some(LabelModifier::Exclude(ign)) => {
            let mut names = ign.labels.clone();
            names.push(METRIC_NAME.to_string());
            remove(labels, &names)
        }
        None => remove(labels, &[METRIC_NAME.to_string()]),
    }
}

impl Evaluator<'_> {
    pub(super) fn eval_binary(&mut self, b: &BinaryExpr, g: &Grid) -> Result<Val, PromqlError> {
        let op = b.op.id();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, g)?;
        let rhs = self.eval(&b.rhs, g)?;
        match (lhs, rhs) {
            (Val::Scalar(a), Val::Scalar(c)) => Ok(Val::Scalar(
                a.iter()
                    .zip(&c)
                    .map(|(x, y)| apply(op, true, *x, *y).unwrap_or(f64::NAN))
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => {
                Ok(Val::Vector(vector_scalar(op, return_bool, v, &s, false)))
            }
            (Val::Scalar(s), Val::Vector(v)) => {
                Ok(Val::Vector(vector_scalar(op, return_bool, v, &s, true)))
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let default_modifier = BinModifier::default();
                let modifier = b.modifier.as_ref().unwrap_or(&default_modifier);
                match op {
                    T_LAND => Ok(Val::Vector(set_and(l, &r, &modifier.matching, g.len()))),
                    T_LOR => Ok(Val::Vector(set_or(l, r, &modifier.matching, g.len()))),
                    T_LUNLESS => Ok(Val::Vector(set_unless(l, &r, &modifier.matching, g.len()))),
                    _ => Ok(Val::Vector(vector_vector(op, modifier, l, r, g.len())?)),
                }
            }
            _ => Err(PromqlError::BadQuery(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }
}

fn vector_scalar(op: u8, return_bool: bool, v: Vec<Series>, s: &[f64], swap: bool) -> Vec<Series> {
    let drops_name = !is_comparison(op) || return_bool;
    let mut out = Vec::with_capacity(v.len());
    for mut series in v {
        for (i, p) in series.points.iter_mut().enumerate() {
            let Some(x) = *p else { continue };
            let (a, b) = if swap { (s[i], x) } else { (x, s[i]) };
            let mut r = apply(op, return_bool, a, b);
            // A filtering comparison keeps the vector's value, whichever side it is on.
            if is_comparison(op) && !return_bool && r.is_some() {
                r = Some(x);
            }
            *p = r;
        }
        if drops_name {
            series.drop_name = true;
        }
        if series.points.iter().any(Option::is_some) {
            out.push(series);
        }
    }
    out
}

/// Per signature, at which steps at least one series is present.
fn presence_by_signature(
    v: &[Series],
    matching: &Option<LabelModifier>,
    n: usize,
) -> HashMap<Labels, Vec<bool>> {
    let mut map: HashMap<Labels, Vec<bool>> = HashMap::new();
    for s in v {
        let sig = signature(&s.labels, s.drop_name, matching);
        let entry = map.entry(sig).or_insert_with(|| vec![false; n]);
        for (i, p) in s.points.iter().enumerate() {
            if p.is_some() {
                entry[i] = true;
            }
        }
    }
    map
}

fn set_and(l: Vec<Series>, r: &[Series], matching: &Option<LabelModifier>, n: usize) -> Vec<Series> {
    let present = presence_by_signature(r, matching, n);
    let mut out = Vec::new();
    for mut s in l {
        let sig = signature(&s.labels, s.drop_name, matching);
        match present.get(&sig) {
            None => continue,
            Some(mask) => {
                for (i, p) in s.points.iter_mut().enumerate() {
                    if !mask[i] {
                        *p = None;
                    }
                }
            }
        }
        if s.points.iter().any(Option::is_some) {
            out.push(s);
        }
    }
    out
}

fn set_unless(
    l: Vec<Series>,
    r: &[Series],
    matching: &Option<LabelModifier>,
    n: usize,
) -> Vec<Series> {
    let present = presence_by_signature(r, matching, n);
    let mut out = Vec::new();
    for mut s in l {
        let sig = signature(&s.labels, s.drop_name, matching);
        if let Some(mask) = present.get(&sig) {
            for (i, p) in s.points.iter_mut().enumerate() {
                if mask[i] {
                    *p = None;
                }
            }
        }
        if s.points.iter().any(Option::is_some) {
            out.push(s);
        }
    }
    out
}

fn set_or(
    l: Vec<Series>,
    r: Vec<Series>,
    matching: &Option<LabelModifier>,
    n: usize,
) -> Vec<Series> {
    let present = presence_by_signature(&l, matching, n);
    let mut out = l;
    for mut s in r {
        let sig = signature(&s.labels, s.drop_name, matching);
        if let Some(mask) = present.get(&sig) {
            for (i, p) in s.points.iter_mut().enumerate() {
                if mask[i] {
                    *p = None;
                }
            }
        }
        if s.points.iter().any(Option::is_some) {
            out.push(s);
        }
    }
    out
}

/// The result labels of one matched pair, built from the "many" side (`lhs` for
/// one-to-one and group_left).
fn result_labels(
    op: u8,
    modifier: &BinModifier,
    many: &Series,
    one: &Series,
) -> (Labels, bool) {
    let drops_name = !is_comparison(op) || modifier.return_bool;
    let mut labels = many.labels.clone();
    let mut drop_name = many.drop_name || drops_name;
    match &modifier.card {
        VectorMatchCardinality::OneToOne => match &modifier.matching {
            Some(LabelModifier::Include(on)) => {
                labels = keep_only(&effective(&labels, drop_name), &on.labels);
                drop_name = false;
            }
            Some(LabelModifier::Exclude(ign)) => {
                labels = remove(&labels, &ign.labels);
            }
            None => {}
        },
        VectorMatchCardinality::ManyToOne(include) | VectorMatchCardinality::OneToMany(include) => {
            let one_labels = effective(&one.labels, one.drop_name);
            for name in &include.labels {
                let value = one_labels.get(name).unwrap_or("").to_string();
                labels = super::labels::set(&labels, name, &value);
                if name == METRIC_NAME {
                    drop_name = value.is_empty();
                }
            }
        }
        VectorMatchCardinality::ManyToMany => {}
    }
    (labels, drop_name)
}

fn vector_vector(
    op: u8,
    modifier: &BinModifier,
    l: Vec<Series>,
    r: Vec<Series>,
    n: usize,
) -> Result<Vec<Series>, PromqlError> {
    let matching = &modifier.matching;
    // The side whose match groups must be unique per step, and which side is "many".
    let (one_side, many_side, one_is_left) = match modifier.card {
        VectorMatchCardinality::OneToMany(_) => (&l, &r, true),
        _ => (&r, &l, false),
    };
    let one_to_one = matches!(modifier.card, VectorMatchCardinality::OneToOne);

    let mut one_groups: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in one_side.iter().enumerate() {
        one_groups
            .entry(signature(&s.labels, s.drop_name, matching))
            .or_default()
            .push(i);
    }
    // Which one-side series is present per signature and step; duplicates are an error.
    let mut one_at: HashMap<Labels, Vec<Option<usize>>> = HashMap::new();
    for (sig, idxs) in &one_groups {
        let mut at = vec![None; n];
        for &i in idxs {
            for (step, p) in one_side[i].points.iter().enumerate() {
                if p.is_none() {
                    continue;
                }
                if let Some(prev) = at[step] {
                    let (a, b): (&Series, &Series) = (&one_side[prev], &one_side[i]);
                    let side = if one_is_left { "left" } else { "right" };
                    return Err(PromqlError::Execution(format!(
                        "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        a.labels, b.labels
                    )));
                }
                at[step] = Some(i);
            }
        }
        one_at.insert(sig.clone(), at);
    }

    let mut out: Vec<Series> = Vec::new();
    let mut out_index: HashMap<(Labels, bool), usize> = HashMap::new();
    // For one-to-one matching, which many-side series took a one-side series per step.
    let mut taken: HashMap<(usize, usize), usize> = HashMap::new();
    let mut pair_labels: HashMap<(usize, usize), usize> = HashMap::new();

    for (mi, ms) in many_side.iter().enumerate() {
        let sig = signature(&ms.labels, ms.drop_name, matching);
        let Some(at) = one_at.get(&sig) else { continue };
        for step in 0..n {
            let Some(mv) = ms.points[step] else { continue };
            let Some(oi) = at[step] else { continue };
            let os = &one_side[oi];
            let ov = os.points[step].expect("present by construction");
            if one_to_one {
                if let Some(prev) = taken.insert((oi, step), mi) {
                    if prev != mi {
                        return Err(PromqlError::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                }
            }
            let (a, b) = if one_is_left { (ov, mv) } else { (mv, ov) };
            let Some(value) = apply(op, modifier.return_bool, a, b) else {
                continue;
            };
            let out_idx = match pair_labels.get(&(mi, oi)) {
                Some(&i) => i,
                None => {
                    let key = result_labels(op, modifier, ms, os);
                    let i = match out_index.get(&key) {
                        Some(&i) => i,
                        None => {
                            out.push(Series {
                                labels: key.0.clone(),
                                drop_name: key.1,
                                points: vec![None; n],
                            });
                            out_index.insert(key, out.len() - 1);
                            out.len() - 1
                        }
                    };
                    pair_labels.insert((mi, oi), i);
                    i
                }
            };
            if out[out_idx].points[step].is_some() {
                return Err(PromqlError::Execution(if one_to_one {
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()
                } else {
                    "multiple matches for labels: grouping labels must ensure unique matches".into()
                }));
            }
            out[out_idx].points[step] = Some(value);
        }
    }
    Ok(out)
}
