//! Sending alerts to an external Alertmanager over its API v2, and to several senders
//! at once.

use std::sync::Arc;
use std::time::Duration;

use pitot_core::TenantId;
use serde_json::{json, Value};

use crate::{AlertSender, RuleAlert};

/// Posts every evaluation's alerts to `<url>/api/v2/alerts` of an Alertmanager, with
/// the tenant in `X-Scope-OrgID` (ignored by a plain Alertmanager, used by Mimir's).
/// Delivery is fire-and-forget per evaluation, as Prometheus does: alerts are re-sent
/// at every evaluation, so a failed post is retried by the next one.
pub struct ExternalAlertmanager {
    url: String,
    client: reqwest::Client,
}

impl ExternalAlertmanager {
    /// A sender to the Alertmanager at `url` (for example `http://127.0.0.1:9093`).
    pub fn new(url: impl Into<String>) -> Self {
        ExternalAlertmanager {
            url: url.into().trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The API v2 `postableAlerts` body.
pub fn postable_alerts(alerts: &[RuleAlert]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                json!({
                    "labels": a.labels.iter().map(|l| (l.name.to_string(), Value::String(l.value.to_string()))).collect::<serde_json::Map<_, _>>(),
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(a.ends_at),
                    "generatorURL": a.generator_url,
                })
            })
            .collect(),
    )
}

impl AlertSender for ExternalAlertmanager {
    fn send(&self, tenant: &TenantId, alerts: Vec<RuleAlert>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to send alerts from");
            return;
        };
        let request = self
            .client
            .post(format!("{}/api/v2/alerts", self.url))
            .header("X-Scope-OrgID", tenant.as_str())
            .json(&postable_alerts(&alerts));
        let url = self.url.clone();
        handle.spawn(async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(%url, status = r.status().as_u16(), "external alertmanager refused alerts"),
                Err(error) => tracing::warn!(%url, %error, "cannot reach the external alertmanager"),
            }
        });
    }
}

/// Hands alerts to several senders (Pitot's own Alertmanager and external ones).
pub struct FanOut(pub Vec<Arc<dyn AlertSender>>);

impl AlertSender for FanOut {
    fn send(&self, tenant: &TenantId, alerts: Vec<RuleAlert>) {
        for s in &self.0 {
            s.send(tenant, alerts.clone());
        }
    }
}
