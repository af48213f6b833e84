//! `match[]` selectors: a PromQL vector selector turned into storage matchers.

use pitot_core::{Matcher, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};

use crate::ApiError;

/// Parses a series selector such as `up{job=~"a.*"}` into one or more matcher sets
/// (several when the selector uses `or`). At least one matcher of each set must not
/// match the empty string, as Prometheus requires, so a selector cannot select every
/// series by accident.
pub fn parse_selector(input: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let expr = pitot_promql::parse_guarded(input)
        .map_err(|e| ApiError::bad_data(format!("invalid match[] selector {input:?}: {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ApiError::bad_data(format!(
            "invalid match[] selector {input:?}: expected a series selector such as up{{job=\"x\"}}"
        )));
    };
    matcher_sets(&vs, &format!("match[] selector {input:?}"))
}

/// The matcher sets of every series selector in a PromQL expression (what
/// `/api/v1/query_exemplars` looks up), each held to the same rule as a `match[]`.
pub fn parse_query_selectors(input: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    struct Collect(Vec<VectorSelector>);
    impl ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
            match expr {
                Expr::VectorSelector(vs) => self.0.push(vs.clone()),
                Expr::MatrixSelector(ms) => self.0.push(ms.vs.clone()),
                _ => {}
            }
            Ok(true)
        }
    }
    let expr = pitot_promql::parse_guarded(input)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let mut collect = Collect(Vec::new());
    let _ = walk_expr(&mut collect, &expr);
    if collect.0.is_empty() {
        return Err(ApiError::bad_data(format!(
            "invalid parameter \"query\": {input:?} has no series selector"
        )));
    }
    let mut sets = Vec::new();
    for vs in &collect.0 {
        sets.extend(matcher_sets(vs, &format!("selector in {input:?}"))?);
    }
    Ok(sets)
}

/// The matcher sets of one selector (several when it uses `or`); `what` names it in errors.
fn matcher_sets(vs: &VectorSelector, what: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    for group in groups {
        let mut set = Vec::new();
        if let Some(name) = &vs.name {
            set.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in group {
            let op = match &m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Re(_) => "=~",
                MatchOp::NotRe(_) => "!~",
            };
            set.push(
                Matcher::from_op(m.name.clone(), op, &m.value)
                    .map_err(|e| ApiError::bad_data(e.to_string()))?,
            );
        }
        if set.iter().all(Matcher::matches_empty) {
            return Err(ApiError::bad_data(format!(
                "{what} must contain at least one matcher that does not match the empty string"
            )));
        }
        sets.push(set);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let sets = parse_selector(r#"up{job=~"a.*",env!=""}"#).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].len(), 3);
        assert!(sets[0][0].matches("up"));
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("up{").is_err());
        let sets = parse_query_selectors(r#"sum(rate(a[5m])) / b{x="1"} or c"#).unwrap();
        assert_eq!(sets.len(), 3);
        assert!(parse_query_selectors("1 + 2").is_err());
        assert!(parse_query_selectors(r#"rate({x=~".*"}[1m])"#).is_err());
    }
}
