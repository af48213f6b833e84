//! `match[]` selectors: a PromQL vector selector turned into storage matchers.

use pitot_core::{Matcher, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

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
                "match[] selector {input:?} must contain at least one matcher that does not match the empty string"
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
    }
}
