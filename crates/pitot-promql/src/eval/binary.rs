//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators, and
//! vector matching with `on`/`ignoring` and `group_left`/`group_right`.

use crate::HashMap;

use pitot_core::Labels;
use promql_parser::parser::token::{
    TokenId, T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS,
    T_MOD, T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::labels::{keep_only, remove};
use super::{Evaluator, Grid, Series, Val};
use crate::error::PromqlError;

/// Applies an arithmetic operator.
pub(crate) fn arith(op: TokenId, a: f64, b: f64) -> f64 {
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

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn compare(op: TokenId, a: f64, b: f64) -> bool {
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
fn apply(op: TokenId, return_bool: bool, a: f64, b: f64) -> Option<f64> {
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

/// The labels a match is decided on (as stored, like aggregation grouping).
fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => keep_only(labels, &on.labels),
        Some(LabelModifier::Exclude(ign)) => {
            remove(labels, &super::labels::with_identity(&ign.labels))
        }
        None => remove(labels, &super::labels::with_identity(&[])),
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
                    _ => Ok(Val::Vector(vector_vector(
                        op,
                        modifier,
                        l,
                        r,
                        g.len(),
                        self.delayed_name_removal,
                    )?)),
                }
            }
            _ => Err(PromqlError::BadQuery(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }
}

fn vector_scalar(
    op: TokenId,
    return_bool: bool,
    v: Vec<Series>,
    s: &[f64],
    swap: bool,
) -> Vec<Series> {
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
    let mut map: HashMap<Labels, Vec<bool>> = HashMap::default();
    for s in v {
        let sig = signature(&s.labels, matching);
        let entry = map.entry(sig).or_insert_with(|| vec![false; n]);
        for (i, p) in s.points.iter().enumerate() {
            if p.is_some() {
                entry[i] = true;
            }
        }
    }
    map
}

fn set_and(
    l: Vec<Series>,
    r: &[Series],
    matching: &Option<LabelModifier>,
    n: usize,
) -> Vec<Series> {
    let present = presence_by_signature(r, matching, n);
    let mut out = Vec::new();
    for mut s in l {
        let sig = signature(&s.labels, matching);
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
        let sig = signature(&s.labels, matching);
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
        let sig = signature(&s.labels, matching);
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
    op: TokenId,
    modifier: &BinModifier,
    many: &Series,
    one: &Series,
) -> (Labels, bool) {
    let drops_name = !is_comparison(op) || modifier.return_bool;
    let mut labels = many.labels.clone();
    let drop_name = many.drop_name || drops_name;
    match &modifier.card {
        VectorMatchCardinality::OneToOne => match &modifier.matching {
            Some(LabelModifier::Include(on)) => {
                labels = keep_only(&labels, &on.labels);
            }
            Some(LabelModifier::Exclude(ign)) => {
                labels = remove(&labels, &ign.labels);
            }
            None => {}
        },
        VectorMatchCardinality::ManyToOne(include) | VectorMatchCardinality::OneToMany(include) => {
            for name in &include.labels {
                let value = one.labels.get(name).unwrap_or("").to_string();
                labels = super::labels::set(&labels, name, &value);
            }
        }
        VectorMatchCardinality::ManyToMany => {}
    }
    (labels, drop_name)
}

fn vector_vector(
    op: TokenId,
    modifier: &BinModifier,
    l: Vec<Series>,
    r: Vec<Series>,
    n: usize,
    delayed_name_removal: bool,
) -> Result<Vec<Series>, PromqlError> {
    let matching = &modifier.matching;
    // The side whose match groups must be unique per step, and which side is "many".
    let (one_side, many_side, one_is_left) = match modifier.card {
        VectorMatchCardinality::OneToMany(_) => (&l, &r, true),
        _ => (&r, &l, false),
    };
    // Fill values name the sides after `group_right` has swapped them: the left fill
    // always applies to the "many" side, the right fill to the "one" side.
    let (fill_one, fill_many) = (modifier.fill_values.rhs, modifier.fill_values.lhs);
    let one_to_one = matches!(modifier.card, VectorMatchCardinality::OneToOne);

    // Signatures in order of first appearance, many side first.
    let mut sigs: Vec<Labels> = Vec::new();
    let mut many_groups: HashMap<Labels, Vec<usize>> = HashMap::default();
    for (i, s) in many_side.iter().enumerate() {
        let sig = signature(&s.labels, matching);
        let entry = many_groups.entry(sig.clone()).or_default();
        if entry.is_empty() {
            sigs.push(sig);
        }
        entry.push(i);
    }
    let mut one_groups: HashMap<Labels, Vec<usize>> = HashMap::default();
    for (i, s) in one_side.iter().enumerate() {
        let sig = signature(&s.labels, matching);
        let entry = one_groups.entry(sig.clone()).or_default();
        if entry.is_empty() && !many_groups.contains_key(&sig) {
            sigs.push(sig);
        }
        entry.push(i);
    }

    let mut out = Matched {
        op,
        modifier,
        one_is_left,
        n,
        delayed_name_removal,
        series: Vec::new(),
        index: HashMap::default(),
        pairs: HashMap::default(),
    };
    let no_members: Vec<usize> = Vec::new();
    for sig in &sigs {
        let one_members = one_groups.get(sig).unwrap_or(&no_members);
        let many_members = many_groups.get(sig).unwrap_or(&no_members);
        // Which one-side series is present per step; duplicates are an error.
        let mut one_at: Vec<Option<usize>> = vec![None; n];
        for &i in one_members {
            for (step, p) in one_side[i].points.iter().enumerate() {
                if p.is_none() {
                    continue;
                }
                if let Some(prev) = one_at[step] {
                    let side = if one_is_left { "left" } else { "right" };
                    return Err(PromqlError::Execution(format!(
                        "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        one_side[prev].labels, one_side[i].labels
                    )));
                }
                one_at[step] = Some(i);
            }
        }
        let synthetic = Series {
            labels: sig.clone(),
            drop_name: false,
            points: Vec::new(),
        };
        for (step, one) in one_at.iter().enumerate() {
            let mut matched_many: Option<usize> = None;
            let mut any_many = false;
            for &mi in many_members {
                let Some(mv) = many_side[mi].points[step] else {
                    continue;
                };
                any_many = true;
                match one {
                    Some(oi) => {
                        if one_to_one {
                            if matched_many.is_some() {
                                return Err(PromqlError::Execution(
                                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                                ));
                            }
                            matched_many = Some(mi);
                        }
                        let ov = one_side[*oi].points[step].expect("present by construction");
                        out.emit(
                            step,
                            (Some(mi), &many_side[mi], mv),
                            (Some(*oi), &one_side[*oi], ov),
                        )?;
                    }
                    None => {
                        if let Some(fv) = fill_one {
                            out.emit(step, (Some(mi), &many_side[mi], mv), (None, &synthetic, fv))?;
                        }
                    }
                }
            }
            if let (Some(oi), false, Some(fv)) = (one, any_many, fill_many) {
                let ov = one_side[*oi].points[step].expect("present by construction");
                out.emit(
                    step,
                    (None, &synthetic, fv),
                    (Some(*oi), &one_side[*oi], ov),
                )?;
            }
        }
    }
    Ok(out.series)
}

/// One operand of a matched pair: index on its side (`None` for a filled-in series), the
/// series, and its value at the step.
type Operand<'s> = (Option<usize>, &'s Series, f64);

/// Output of vector matching, merged by result labels.
struct Matched<'m> {
    op: TokenId,
    modifier: &'m BinModifier,
    one_is_left: bool,
    n: usize,
    /// Without delayed name removal a dropped name is removed from the result labels at
    /// once, so that results that then collide are matching errors here.
    delayed_name_removal: bool,
    series: Vec<Series>,
    index: HashMap<(Labels, bool), usize>,
    /// Output series per (many, one) pair; filled-in operands are `None`.
    pairs: HashMap<(Option<usize>, Option<usize>), usize>,
}

impl Matched<'_> {
    fn emit(
        &mut self,
        step: usize,
        many: Operand<'_>,
        one: Operand<'_>,
    ) -> Result<(), PromqlError> {
        let (a, b) = if self.one_is_left {
            (one.2, many.2)
        } else {
            (many.2, one.2)
        };
        let Some(value) = apply(self.op, self.modifier.return_bool, a, b) else {
            return Ok(());
        };
        let key = (many.0, one.0);
        let out_idx = match self.pairs.get(&key) {
            Some(&i) => i,
            None => {
                let mut labels = result_labels(self.op, self.modifier, many.1, one.1);
                if labels.1 && !self.delayed_name_removal {
                    labels = (super::labels::drop_metric_name(&labels.0), false);
                }
                let i = match self.index.get(&labels) {
                    Some(&i) => i,
                    None => {
                        self.series.push(Series {
                            labels: labels.0.clone(),
                            drop_name: labels.1,
                            points: vec![None; self.n],
                        });
                        self.index.insert(labels, self.series.len() - 1);
                        self.series.len() - 1
                    }
                };
                self.pairs.insert(key, i);
                i
            }
        };
        let point = &mut self.series[out_idx].points[step];
        if point.is_some() {
            return Err(PromqlError::Execution(
                if matches!(self.modifier.card, VectorMatchCardinality::OneToOne) {
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()
                } else {
                    "multiple matches for labels: grouping labels must ensure unique matches".into()
                },
            ));
        }
        *point = Some(value);
        Ok(())
    }
}
