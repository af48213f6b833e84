//! The rule-file model: groups of recording and alerting rules, as Prometheus, Mimir and
//! Loki read them from YAML and as Pitot's config API writes them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;
use crate::error::RuleFileError;
use crate::validate::{validate_file, ValidationOptions};

/// A rule file: a list of groups. Unknown fields are rejected, as Prometheus does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rule groups, evaluated independently of each other.
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated in order at the same timestamp, every `interval`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// The group's name; unique within a file (a namespace in Mimir).
    pub name: String,
    /// How often the group is evaluated; the global evaluation interval when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// How far in the past rules query, so that late samples are seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    /// Most series a recording rule, or alerts an alerting rule, may produce; 0 is none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    /// Labels added to every rule's output; a rule's own labels win on collision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The rules, evaluated in this order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One rule: a recording rule or an alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleNode", into = "RuleNode")]
pub enum Rule {
    /// Stores the result of `expr` as new series named `record`.
    Recording(RecordingRule),
    /// Turns every series `expr` returns into an alert.
    Alerting(AlertingRule),
}

/// A recording rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingRule {
    /// The metric name of the output series; a valid metric name.
    pub record: String,
    /// The query evaluated at every group evaluation.
    pub expr: String,
    /// Labels set (or, with an empty value, removed) on every output series.
    pub labels: BTreeMap<String, String>,
}

/// An alerting rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertingRule {
    /// The alert name (the `alertname` label).
    pub alert: String,
    /// The query; every series it returns is an active alert.
    pub expr: String,
    /// How long an alert stays pending before it fires; 0 fires at once.
    pub for_: Option<PromDuration>,
    /// How long a firing alert keeps firing after its condition stopped holding.
    pub keep_firing_for: Option<PromDuration>,
    /// Labels added to each alert; values are templates.
    pub labels: BTreeMap<String, String>,
    /// Annotations of each alert; values are templates.
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The `record` or `alert` name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.record,
            Rule::Alerting(a) => &a.alert,
        }
    }

    /// The rule's query text.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(a) => &a.expr,
        }
    }

    /// The rule's own labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(a) => &a.labels,
        }
    }
}

/// The YAML shape of a rule, with every field of both kinds, as Prometheus' own
/// `RuleNode`; converting from it is where "exactly one of record or alert" and "no
/// alerting fields on a recording rule" are checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleNode {
    /// Set for recording rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Set for alerting rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The query.
    #[serde(default)]
    pub expr: String,
    /// Alerting only: pending duration.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    /// Alerting only: keep-firing duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alerting only: annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl TryFrom<RuleNode> for Rule {
    type Error = String;

    fn try_from(n: RuleNode) -> Result<Rule, String> {
        match (n.record, n.alert) {
            (Some(_), Some(_)) => Err("only one of 'record' and 'alert' must be set".into()),
            (None, None) => Err("one of 'record' or 'alert' must be set".into()),
            (Some(record), None) => {
                if n.for_.is_some() {
                    return Err(format!("invalid field 'for' in recording rule {record:?}"));
                }
                if n.keep_firing_for.is_some() {
                    return Err(format!(
                        "invalid field 'keep_firing_for' in recording rule {record:?}"
                    ));
                }
                if !n.annotations.is_empty() {
                    return Err(format!(
                        "invalid field 'annotations' in recording rule {record:?}"
                    ));
                }
                Ok(Rule::Recording(RecordingRule {
                    record,
                    expr: n.expr,
                    labels: n.labels,
                }))
            }
            (None, Some(alert)) => Ok(Rule::Alerting(AlertingRule {
                alert,
                expr: n.expr,
                for_: n.for_,
                keep_firing_for: n.keep_firing_for,
                labels: n.labels,
                annotations: n.annotations,
            })),
        }
    }
}

impl From<Rule> for RuleNode {
    fn from(r: Rule) -> RuleNode {
        match r {
            Rule::Recording(r) => RuleNode {
                record: Some(r.record),
                expr: r.expr,
                labels: r.labels,
                ..RuleNode::default()
            },
            Rule::Alerting(a) => RuleNode {
                alert: Some(a.alert),
                expr: a.expr,
                for_: a.for_,
                keep_firing_for: a.keep_firing_for,
                labels: a.labels,
                annotations: a.annotations,
                ..RuleNode::default()
            },
        }
    }
}

impl RuleFile {
    /// Parses and validates a rule file; every validation problem is reported.
    pub fn parse(text: &str, opts: &ValidationOptions) -> Result<RuleFile, RuleFileError> {
        let file: RuleFile = serde_yaml::from_str(text).map_err(RuleFileError::from_yaml)?;
        file.validate(opts).map_err(|e| e.located(text))?;
        Ok(file)
    }

    /// Validates an already deserialized file (for example one built by an API).
    pub fn validate(&self, opts: &ValidationOptions) -> Result<(), RuleFileError> {
        let errs = validate_file(self, opts);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(RuleFileError::Invalid(errs))
        }
    }

    /// The file as YAML, in the field order Prometheus writes.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("rule files always serialize")
    }
}

impl RuleGroup {
    /// Parses one group, the body of Mimir's `POST /config/v1/rules/{namespace}`.
    pub fn parse(text: &str, opts: &ValidationOptions) -> Result<RuleGroup, RuleFileError> {
        let group: RuleGroup = serde_yaml::from_str(text).map_err(RuleFileError::from_yaml)?;
        let file = RuleFile {
            groups: vec![group],
        };
        file.validate(opts).map_err(|e| e.located(text))?;
        Ok(file.groups.into_iter().next().expect("one group"))
    }

    /// The group as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("rule groups always serialize")
    }

    /// The labels a rule adds to its output: the group's, overridden by the rule's own.
    pub fn effective_labels(&self, rule: &Rule) -> BTreeMap<String, String> {
        let mut out = self.labels.clone();
        out.extend(rule.labels().iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}
