//! The Prometheus rules and alerts APIs' JSON (`/api/v1/rules`, `/api/v1/alerts`) of
//! one tenant's running groups, limited to the groups the caller may see.

use std::sync::atomic::Ordering;

use pitot_core::Labels;
use pitot_meta::RuleGroupScope;
use pitot_rules::eval::{AlertState, RuleHealth};
use pitot_rules::Rule;
use serde_json::{json, Value};

use crate::group::Group;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.to_string(), Value::String(l.value.to_string())))
            .collect(),
    )
}

fn alert_json(a: &pitot_rules::eval::Alert) -> Value {
    json!({
        "labels": labels_json(&a.labels),
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": format!("{:e}", a.value),
    })
}

/// Whether `scope` lets the caller see `group`.
pub(crate) fn visible(group: &Group, scope: &RuleGroupScope) -> bool {
    scope.allows(group.datasource.as_deref())
}

/// One group in the rules API's shape; `None` when `kind` filters out all its rules.
/// A group that failed as a whole (disabled, past its time box, data source gone)
/// shows that error on each of its rules, with health `err`.
pub(crate) fn group_json(group: &Group, kind: Option<&str>) -> Option<Value> {
    let runtime = group.runtime.lock();
    let state = &runtime.state;
    let group_error = runtime
        .disabled
        .as_deref()
        .or(runtime.last_error.as_deref());
    let mut rules = Vec::new();
    let mut last_eval = None;
    for r in state.rules() {
        let health = match (group_error, r.health()) {
            (Some(_), _) | (None, RuleHealth::Err) => "err",
            (None, RuleHealth::Unknown) => "unknown",
            (None, RuleHealth::Ok) => "ok",
        };
        let error = r.last_error().or(group_error).unwrap_or("");
        last_eval = last_eval.max(r.last_evaluation());
        let common = |j: &mut serde_json::Map<String, Value>| {
            j.insert("health".into(), health.into());
            j.insert("lastError".into(), error.into());
            j.insert(
                "lastEvaluation".into(),
                r.last_evaluation().map(rfc3339).unwrap_or_default().into(),
            );
            j.insert("evaluationTime".into(), json!(0.0));
        };
        match r.rule() {
            Rule::Recording(rec) if kind != Some("alert") => {
                let mut j = serde_json::Map::new();
                j.insert("name".into(), rec.record.clone().into());
                j.insert("query".into(), rec.expr.clone().into());
                j.insert("labels".into(), json!(rec.labels));
                j.insert("type".into(), "recording".into());
                common(&mut j);
                rules.push(Value::Object(j));
            }
            Rule::Alerting(al) if kind != Some("record") => {
                let alerts: Vec<Value> = r.alerts().iter().map(|a| alert_json(a)).collect();
                let state = r
                    .alerts()
                    .iter()
                    .map(|a| a.state)
                    .max_by_key(|s| match s {
                        AlertState::Firing => 2,
                        AlertState::Pending => 1,
                        AlertState::Inactive => 0,
                    })
                    .unwrap_or(AlertState::Inactive);
                let mut j = serde_json::Map::new();
                j.insert("state".into(), state.as_str().into());
                j.insert("name".into(), al.alert.clone().into());
                j.insert("query".into(), al.expr.clone().into());
                j.insert(
                    "duration".into(),
                    json!(al.for_.map_or(0, |d| d.as_millis() / 1000)),
                );
                j.insert(
                    "keepFiringFor".into(),
                    json!(al.keep_firing_for.map_or(0, |d| d.as_millis() / 1000)),
                );
                j.insert("labels".into(), json!(al.labels));
                j.insert("annotations".into(), json!(al.annotations));
                j.insert("alerts".into(), Value::Array(alerts));
                j.insert("type".into(), "alerting".into());
                common(&mut j);
                rules.push(Value::Object(j));
            }
            _ => {}
        }
    }
    if kind.is_some() && rules.is_empty() {
        return None;
    }
    Some(json!({
        "name": group.key.name,
        "file": group.key.namespace,
        "rules": rules,
        "interval": state.interval_ms() as f64 / 1000.0,
        "limit": state.group().limit,
        "evaluationTime": runtime.last_duration,
        "lastEvaluation": last_eval.map(rfc3339).unwrap_or_default(),
        "datasource": group.datasource,
        "health": if group_error.is_some() { "err" } else { "ok" },
        "lastError": group_error.unwrap_or(""),
        "iterationsMissed": group.missed.load(Ordering::Relaxed),
    }))
}

/// The pending and firing alerts of `group`.
pub(crate) fn group_alerts(group: &Group, out: &mut Vec<Value>) {
    for (_, a) in group.runtime.lock().state.alerts() {
        if a.state != AlertState::Inactive {
            out.push(alert_json(a));
        }
    }
}
