//! The data of one notification and the JSON shapes built from it (webhook v4, template data).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::alert::Alert;
use crate::matcher::LabelSet;
use pitot_core::TenantId;

/// One notification for one aggregation group, as handed to a [`super::Notifier`].
#[derive(Debug, Clone)]
pub struct Notification {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The receiver name.
    pub receiver: String,
    /// Alertmanager's group key (`{}/{...}:{alertname="x"}`).
    pub group_key: String,
    /// The labels the group is keyed by.
    pub group_labels: LabelSet,
    /// The alerts, firing and resolved, already filtered for silences and inhibitions.
    pub alerts: Vec<Alert>,
    /// The instant the flush happened; alert status is judged at this time.
    pub now: DateTime<Utc>,
    /// Link to this Alertmanager (the tenant's UI/API base).
    pub external_url: String,
}

fn zero_time() -> &'static str {
    "0001-01-01T00:00:00Z"
}

impl Notification {
    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(|a| !a.resolved_at(self.now)) {
            "firing"
        } else {
            "resolved"
        }
    }

    fn alert_status(&self, a: &Alert) -> &'static str {
        if a.resolved_at(self.now) {
            "resolved"
        } else {
            "firing"
        }
    }

    fn common(&self, pick: impl Fn(&Alert) -> &LabelSet) -> LabelSet {
        let Some(first) = self.alerts.first() else {
            return LabelSet::new();
        };
        pick(first)
            .iter()
            .filter(|(k, v)| self.alerts.iter().all(|a| pick(a).get(*k) == Some(*v)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Labels every alert shares.
    pub fn common_labels(&self) -> LabelSet {
        self.common(|a| &a.labels)
    }

    /// Annotations every alert shares.
    pub fn common_annotations(&self) -> LabelSet {
        self.common(|a| &a.annotations)
    }

    fn ends_at(&self, a: &Alert) -> String {
        if a.resolved_at(self.now) {
            a.ends_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        } else {
            zero_time().to_string()
        }
    }

    /// Alertmanager's webhook payload (version 4); `max_alerts` 0 sends all, otherwise the rest
    /// is counted in `truncatedAlerts`.
    pub fn webhook_payload(&self, max_alerts: u64) -> Value {
        let limit = if max_alerts == 0 {
            self.alerts.len()
        } else {
            (max_alerts as usize).min(self.alerts.len())
        };
        let alerts: Vec<Value> = self.alerts[..limit]
            .iter()
            .map(|a| {
                json!({
                    "status": self.alert_status(a),
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "endsAt": self.ends_at(a),
                    "generatorURL": a.generator_url,
                    "fingerprint": a.fingerprint(),
                })
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.alerts.len() - limit,
            "status": self.status(),
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels(),
            "commonAnnotations": self.common_annotations(),
            "externalURL": self.external_url,
            "alerts": alerts,
        })
    }

    /// The data notification templates see, with Go-style field names.
    pub fn template_data(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "Status": self.alert_status(a),
                    "Labels": a.labels,
                    "Annotations": a.annotations,
                    "StartsAt": a.starts_at.to_rfc3339(),
                    "EndsAt": self.ends_at(a),
                    "GeneratorURL": a.generator_url,
                    "Fingerprint": a.fingerprint(),
                })
            })
            .collect();
        json!({
            "Receiver": self.receiver,
            "Status": self.status(),
            "Alerts": alerts,
            "GroupLabels": self.group_labels,
            "CommonLabels": self.common_labels(),
            "CommonAnnotations": self.common_annotations(),
            "ExternalURL": self.external_url,
            "GroupKey": self.group_key,
        })
    }
}
