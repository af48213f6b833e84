//! Alerts as the engine holds them, their fingerprint, and the API v2 `postableAlert` shape.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::chrono_dur;
use crate::config::route_is_label_name;
use crate::error::AmError;
use crate::matcher::LabelSet;

/// Identifies an alert by its label set (the dedup key), as 16 hex digits like Alertmanager.
pub type Fingerprint = String;

/// Computes the fingerprint of a label set: the same labels always give the same value.
pub fn fingerprint(labels: &LabelSet) -> Fingerprint {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xff]);
    }
    hex::encode(&h.finalize()[..8])
}

/// An alert as sent by a client (`postableAlert` in API v2).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Identifying labels.
    pub labels: BTreeMap<String, String>,
    /// Informational annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing; defaults to receipt time.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When the alert resolves; defaults to receipt time plus `resolve_timeout`.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link back to the rule that produced it.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

/// An alert held by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identifying labels.
    pub labels: LabelSet,
    /// Informational annotations.
    pub annotations: LabelSet,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolves (or resolved).
    pub ends_at: DateTime<Utc>,
    /// Link back to the rule that produced it.
    pub generator_url: String,
    /// When the engine last received it.
    pub updated_at: DateTime<Utc>,
    /// True when `ends_at` came from `resolve_timeout` rather than the client.
    pub timeout: bool,
}

impl Alert {
    /// Bytes it holds (label and annotation names and values, generator URL), as counted
    /// against `alertmanager_max_alerts_size_bytes`.
    pub fn size_bytes(&self) -> u64 {
        let pairs = |set: &LabelSet| -> usize { set.iter().map(|(k, v)| k.len() + v.len()).sum() };
        (pairs(&self.labels) + pairs(&self.annotations) + self.generator_url.len()) as u64
    }

    /// Validates a posted alert and fills in the defaults at receipt time `now`.
    pub fn from_postable(
        p: PostableAlert,
        now: DateTime<Utc>,
        resolve_timeout: std::time::Duration,
    ) -> Result<Alert, AmError> {
        let labels: LabelSet = p
            .labels
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if labels.is_empty() {
            return Err(AmError::InvalidAlert(
                "at least one label pair required".to_string(),
            ));
        }
        for name in labels.keys().chain(p.annotations.keys()) {
            if !route_is_label_name(name) {
                return Err(AmError::InvalidAlert(format!(
                    "invalid label name {name:?}"
                )));
            }
        }
        let starts_at = p.starts_at.unwrap_or(now);
        let (ends_at, timeout) = match p.ends_at {
            Some(e) => (e, false),
            None => (now + chrono_dur(resolve_timeout), true),
        };
        if ends_at < starts_at {
            return Err(AmError::InvalidAlert(format!(
                "endsAt {ends_at} is before startsAt {starts_at} for {labels:?}"
            )));
        }
        Ok(Alert {
            labels,
            annotations: p.annotations,
            starts_at,
            ends_at,
            generator_url: p.generator_url.unwrap_or_default(),
            updated_at: now,
            timeout,
        })
    }

    /// The dedup key.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.labels)
    }

    /// Whether the alert has resolved at `now`.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at <= now
    }

    /// Folds a newer report of the same alert into this one (Alertmanager's merge): an alert
    /// that is still firing keeps its original start, and a timeout-derived end never cuts short
    /// an explicit one.
    pub fn merge(&self, newer: Alert) -> Alert {
        let overlapping = self.ends_at >= newer.starts_at && newer.ends_at >= self.starts_at;
        if !overlapping {
            return newer;
        }
        let mut out = newer;
        if self.starts_at < out.starts_at {
            out.starts_at = self.starts_at;
        }
        if out.timeout && !self.timeout && self.ends_at > out.ends_at {
            out.ends_at = self.ends_at;
            out.timeout = false;
        }
        out
    }
}
