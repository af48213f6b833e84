//! Semantic validation of rule files: names, expressions, templates, limits.

use std::collections::HashSet;

use pitot_core::{
    is_valid_label_name, is_valid_metric_name, TemplateBudget, TemplateLimits, METRIC_NAME,
};

use crate::error::ValidationError;
use crate::model::{Rule, RuleFile};
use crate::template::{QueryCallback, Template, TemplateData, TemplateError};

/// Which query language rule expressions are written in. Prometheus and Mimir rulers
/// use PromQL; Loki's ruler evaluates LogQL metric queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExprLanguage {
    /// PromQL, checked with `pitot_promql::parse`.
    #[default]
    PromQL,
    /// LogQL, checked with `pitot_logql::parse`.
    LogQL,
}

/// What validation checks besides the file itself: the expression language and the
/// per-tenant limits that come from the caller's limits configuration.
#[derive(Debug, Clone, Default)]
pub struct ValidationOptions {
    /// Language of the `expr` fields.
    pub language: ExprLanguage,
    /// Most groups the file (a tenant's namespace) may hold; 0 means no limit.
    pub max_groups: usize,
    /// Most rules a group may hold; 0 means no limit.
    pub max_rules_per_group: usize,
}

/// Every problem in `file`, in file order.
pub(crate) fn validate_file(file: &RuleFile, opts: &ValidationOptions) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    if opts.max_groups > 0 && file.groups.len() > opts.max_groups {
        errs.push(ValidationError {
            group: file.groups[opts.max_groups].name.clone(),
            group_occurrence: file.groups[..opts.max_groups]
                .iter()
                .filter(|g| g.name == file.groups[opts.max_groups].name)
                .count(),
            rule_index: None,
            rule_name: None,
            position: None,
            message: format!(
                "too many rule groups: {} (limit {})",
                file.groups.len(),
                opts.max_groups
            ),
        });
    }
    let mut seen = HashSet::new();
    for (index, g) in file.groups.iter().enumerate() {
        let group_occurrence = file.groups[..index]
            .iter()
            .filter(|other| other.name == g.name)
            .count();
        let group_err = |message: String| ValidationError {
            group: g.name.clone(),
            group_occurrence,
            rule_index: None,
            rule_name: None,
            position: None,
            message,
        };
        if g.name.is_empty() {
            errs.push(group_err("group name must not be empty".into()));
        } else if !seen.insert(g.name.as_str()) {
            errs.push(group_err("groupname is repeated in the same file".into()));
        }
        if g.interval.is_some_and(|d| d.0 <= 0) {
            errs.push(group_err("interval must be greater than zero".into()));
        }
        if g.query_offset.is_some_and(|d| d.0 < 0) {
            errs.push(group_err("query_offset must not be negative".into()));
        }
        for name in g.labels.keys() {
            if !is_valid_label_name(name) || name == METRIC_NAME {
                errs.push(group_err(format!("invalid label name: {name:?}")));
            }
        }
        if opts.max_rules_per_group > 0 && g.rules.len() > opts.max_rules_per_group {
            errs.push(group_err(format!(
                "too many rules in group: {} (limit {})",
                g.rules.len(),
                opts.max_rules_per_group
            )));
        }
        for (i, rule) in g.rules.iter().enumerate() {
            for message in validate_rule(rule, opts.language) {
                errs.push(ValidationError {
                    group: g.name.clone(),
                    group_occurrence,
                    rule_index: Some(i + 1),
                    rule_name: Some(rule.name().to_string()),
                    position: None,
                    message,
                });
            }
        }
    }
    errs
}

/// Every problem in one rule, as messages without the group/rule prefix.
pub(crate) fn validate_rule(rule: &Rule, language: ExprLanguage) -> Vec<String> {
    let mut errs = Vec::new();
    if rule.expr().trim().is_empty() {
        errs.push("field 'expr' must be set in rule".to_string());
    } else if let Err(e) = check_expr(rule.expr(), language) {
        errs.push(format!("could not parse expression: {e}"));
    }
    match rule {
        Rule::Recording(r) => {
            if !is_valid_metric_name(&r.record) {
                errs.push(format!("invalid recording rule name: {}", r.record));
            }
        }
        Rule::Alerting(a) => {
            if a.alert.is_empty() {
                errs.push("alert name must not be empty".into());
            }
            for d in [a.for_, a.keep_firing_for].into_iter().flatten() {
                if d.0 < 0 {
                    errs.push(format!("negative duration: {d}"));
                }
            }
            for name in a.annotations.keys() {
                if !is_valid_label_name(name) {
                    errs.push(format!("invalid annotation name: {name}"));
                }
            }
            let sample = sample_data(a);
            for (kind, map) in [("label", &a.labels), ("annotation", &a.annotations)] {
                for (name, text) in map {
                    if let Err(e) = check_template(name, text, &sample) {
                        errs.push(format!("{kind} {name:?}: template: {e}"));
                    }
                }
            }
        }
    }
    for name in rule.labels().keys() {
        if !is_valid_label_name(name) || name == METRIC_NAME {
            errs.push(format!("invalid label name: {name}"));
        }
    }
    errs
}

/// The data a rule's templates are tried with at upload: the rule's own labels and
/// `alertname`, a value of 1, no external labels, and (in [`check_template`]) a `query`
/// that finds nothing.
fn sample_data(a: &crate::model::AlertingRule) -> TemplateData {
    let mut labels: std::collections::BTreeMap<String, String> = a
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert("alertname".into(), a.alert.clone());
    TemplateData {
        labels,
        external_labels: Default::default(),
        external_url: "http://localhost:9090".into(),
        value: 1.0,
    }
}

/// Parses a template and runs it once on `sample` under the rules' budget: a template
/// that does not parse, or that passes a budget limit (a `printf` width, a huge `range`)
/// would fail or be cut at every evaluation, so it is refused now. Other rendering
/// errors depend on the data (a `query` result, a missing label) and are left to
/// evaluation, which writes Prometheus' `<error expanding template: ...>` text.
fn check_template(name: &str, text: &str, sample: &TemplateData) -> Result<(), TemplateError> {
    let template = Template::parse(name, text)?;
    let nothing: &QueryCallback<'_> = &|_| Ok(Vec::new());
    match template.render_with_budget(
        sample,
        Some(nothing),
        &mut TemplateBudget::new(TemplateLimits::RULES),
    ) {
        Err(e) if e.budget_reason().is_some() => Err(e),
        _ => Ok(()),
    }
}

fn check_expr(expr: &str, language: ExprLanguage) -> Result<(), String> {
    match language {
        ExprLanguage::PromQL => pitot_promql::parse(expr)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        ExprLanguage::LogQL => match pitot_logql::parse(expr) {
            Ok(pitot_logql::ast::Expr::Metric(_)) => Ok(()),
            Ok(_) => Err("a rule needs a LogQL metric query (for example count_over_time(...)), not a log query".into()),
            Err(e) => Err(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::{RuleFile, ValidationOptions};

    fn errors(annotation: &str) -> Vec<String> {
        let text = format!(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    annotations:\n      summary: '{annotation}'\n"
        );
        match RuleFile::parse(&text, &ValidationOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e.messages(),
        }
    }

    #[test]
    fn templates_that_pass_the_budget_on_sample_data_are_refused() {
        for (bomb, reason) in [
            (r#"{{ printf "%900000d" 1 }}"#, "template-output-too-large"),
            (
                r#"{{ printf "%100000000000000d" 1 }}"#,
                "template-output-too-large",
            ),
            (
                r#"{{ range 100000000000000 }}{{ end }}"#,
                "template-too-many-calls",
            ),
            (
                r#"{{ range 100 }}{{ query "up" }}{{ end }}"#,
                "template-too-many-queries",
            ),
        ] {
            let errs = errors(bomb);
            assert_eq!(errs.len(), 1, "{bomb}: {errs:?}");
            assert!(errs[0].contains(reason), "{bomb}: {}", errs[0]);
            assert!(errs[0].contains("\"summary\""), "{}", errs[0]);
            assert!(errs[0].contains('A'), "{}", errs[0]);
        }
    }

    #[test]
    fn data_dependent_errors_are_left_to_evaluation() {
        // `first` of an empty query result fails on the sample data, not because of
        // the template's size: the rule is accepted, as Prometheus accepts it.
        assert!(errors(r#"{{ with query "up" }}{{ . | first | value }}{{ end }}"#).is_empty());
        assert!(errors(r#"{{ query "up" | first | value }}"#).is_empty());
        assert!(errors(r#"{{ $labels.alertname }} is {{ $value | humanize }}"#).is_empty());
    }
}
