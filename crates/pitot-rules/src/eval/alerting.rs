//! The alerting rule state machine: pending → firing after `for`, `keep_firing_for`,
//! resolved alerts kept for `resolved_retention`, the `ALERTS` and `ALERTS_FOR_STATE`
//! series, templated labels and annotations, and the group limit.

use std::collections::{BTreeMap, HashSet};

use pitot_core::{Labels, Sample, METRIC_NAME};

use super::alert::{Alert, AlertState, AlertTransition};
use super::recording::apply_labels;
use crate::model::AlertingRule;
use crate::template::{QueryCallback, Template, TemplateData};

/// Name of the series holding one sample per active alert and state.
pub const ALERTS_METRIC: &str = "ALERTS";
/// Name of the series holding each active alert's activation time, for restoring.
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";

/// An alerting rule's parsed templates and live alerts.
#[derive(Debug, Clone)]
pub(crate) struct AlertingState {
    pub name: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    labels: Vec<(String, Template)>,
    annotations: Vec<(String, Template)>,
    /// Active and recently resolved alerts, keyed by their labels.
    pub active: BTreeMap<Labels, Alert>,
    /// Whether `for` state was restored (or restoring is off); `ALERTS` series are only
    /// written once it is, so the first evaluation does not overwrite the saved state.
    pub restored: bool,
}

/// What the evaluation of an alerting rule gives the group.
pub(crate) struct AlertingOutput {
    pub samples: Vec<(Labels, Sample)>,
    pub transitions: Vec<AlertTransition>,
}

/// Inputs of template rendering that come from outside the rule.
pub(crate) struct TemplateEnv<'a> {
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub query: Option<&'a QueryCallback<'a>>,
}

impl AlertingState {
    /// Parses the rule's templates; `labels` are the effective labels (group + rule).
    pub fn new(
        rule: &AlertingRule,
        labels: &BTreeMap<String, String>,
        restored: bool,
    ) -> Result<Self, String> {
        let parse = |kind: &str, m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| {
                    Template::parse(&format!("__alert_{}", rule.alert), v)
                        .map(|t| (k.clone(), t))
                        .map_err(|e| format!("{kind} {k:?}: template: {e}"))
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(AlertingState {
            name: rule.alert.clone(),
            for_ms: rule.for_.map_or(0, |d| d.0),
            keep_firing_for_ms: rule.keep_firing_for.map_or(0, |d| d.0),
            labels: parse("label", labels)?,
            annotations: parse("annotation", &rule.annotations)?,
            active: BTreeMap::new(),
            restored,
        })
    }

    /// Runs one evaluation at `ts` on the query result `vector` (taken at `query_ts`,
    /// which is `ts` minus the group's query offset).
    pub fn eval(
        &mut self,
        vector: Vec<(Labels, Sample)>,
        ts: i64,
        query_ts: i64,
        limit: usize,
        resolved_retention_ms: i64,
        env: &TemplateEnv<'_>,
    ) -> Result<AlertingOutput, String> {
        let before: BTreeMap<Labels, AlertState> = self
            .active
            .iter()
            .map(|(k, a)| (k.clone(), a.state))
            .collect();
        let mut current: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (series, sample) in vector {
            let alert = self.build_alert(&series, sample.v, ts, env);
            if current.contains_key(&alert.labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            current.insert(alert.labels.clone(), alert);
        }
        let in_result: HashSet<Labels> = current.keys().cloned().collect();
        for (key, alert) in current {
            match self.active.get_mut(&key) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(key, alert);
                }
            }
        }
        let mut samples = Vec::new();
        let mut delete = Vec::new();
        let mut active_pending = 0usize;
        for (key, a) in self.active.iter_mut() {
            if !in_result.contains(key) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                // Pending alerts vanish at once; resolved ones after the retention, so
                // that notifiers get to send the resolution.
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > resolved_retention_ms)
                {
                    delete.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                samples.push(alerts_sample(a, query_ts));
                samples.push(for_state_sample(a, query_ts));
            }
        }
        for key in delete {
            self.active.remove(&key);
        }
        if limit > 0 && active_pending > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_pending} alerts"
            ));
        }
        let mut transitions = Vec::new();
        let keys: HashSet<&Labels> = before.keys().chain(self.active.keys()).collect();
        for key in keys {
            let from = before.get(key).copied().unwrap_or(AlertState::Inactive);
            let to = self
                .active
                .get(key)
                .map_or(AlertState::Inactive, |a| a.state);
            if from != to {
                transitions.push(AlertTransition {
                    alertname: self.name.clone(),
                    labels: key.clone(),
                    from,
                    to,
                    at: ts,
                });
            }
        }
        transitions.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(AlertingOutput {
            samples,
            transitions,
        })
    }

    fn build_alert(&self, series: &Labels, value: f64, ts: i64, env: &TemplateEnv<'_>) -> Alert {
        let data = TemplateData {
            labels: series
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            external_labels: env.external_labels.clone(),
            external_url: env.external_url.to_string(),
            value,
        };
        let expand = |t: &Template| match t.render(&data, env.query) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {e}>"),
        };
        let mut b: BTreeMap<String, String> = series
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        let rule_labels: BTreeMap<String, String> = self
            .labels
            .iter()
            .map(|(k, t)| (k.clone(), expand(t)))
            .collect();
        apply_labels(&mut b, &rule_labels);
        b.insert("alertname".to_string(), self.name.clone());
        let annotations = self
            .annotations
            .iter()
            .map(|(k, t)| (k.clone(), expand(t)))
            .collect();
        Alert {
            labels: Labels::from_pairs(b),
            annotations,
            value,
            state: AlertState::Pending,
            active_at: ts,
            fired_at: None,
            resolved_at: None,
            keep_firing_since: None,
        }
    }
}

fn with_labels(alert: &Alert, name: &str, state: Option<AlertState>) -> Labels {
    let mut pairs: Vec<(String, String)> = alert
        .labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    pairs.push((METRIC_NAME.to_string(), name.to_string()));
    if let Some(s) = state {
        pairs.retain(|(k, _)| k != "alertstate");
        pairs.push(("alertstate".to_string(), s.as_str().to_string()));
    }
    Labels::from_pairs(pairs)
}

fn alerts_sample(a: &Alert, t: i64) -> (Labels, Sample) {
    (
        with_labels(a, ALERTS_METRIC, Some(a.state)),
        Sample::new(t, 1.0),
    )
}

fn for_state_sample(a: &Alert, t: i64) -> (Labels, Sample) {
    (
        with_labels(a, ALERTS_FOR_STATE_METRIC, None),
        Sample::new(t, a.active_at.div_euclid(1000) as f64),
    )
}
