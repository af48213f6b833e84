//! Contact points: the simple way in to alerting. A tenant lists where alerts should go
//! (email addresses, webhooks, Slack) at `/api/pitot/v1/contact-points`; while it has no
//! Alertmanager configuration of its own, Pitot generates one that routes every alert to
//! all its contact points. `POST .../contact-points/<name>/test` sends a test
//! notification now.
//!
//! Contact points reach only what the operator's egress policy allows, like every
//! tenant-configured receiver. Email contact points name their own SMTP server: there is no
//! default to the operator's mail relay, so a tenant cannot send mail with a From of its
//! choosing through the provider's MTA. A test reports the receiver's status code and a
//! Pitot-written reason, never the bytes the receiver answered. A tenant holds at most
//! `max_contact_points` of them.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pitot_alertmanager::config::Integration;
use pitot_alertmanager::{AlertmanagerConfig, Notifier};
use pitot_core::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{ApiError, AppState, AppStateRef};

/// Contact point routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/pitot/v1/contact-points", get(list).post(create))
        .route(
            "/api/pitot/v1/contact-points/{name}",
            put(replace).delete(remove),
        )
        .route("/api/pitot/v1/contact-points/{name}/test", post(test))
}

/// One contact point.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    /// Unique per tenant.
    pub name: String,
    /// `email`, `webhook` or `slack`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Email: recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Webhook or Slack: the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Email: the tenant's SMTP server `host:port` (required; reached under the egress
    /// policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smarthost: Option<String>,
    /// Email: sender (default `pitot@localhost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Email: require STARTTLS (default false).
    #[serde(default)]
    pub require_tls: bool,
    /// Slack: channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl ContactPoint {
    fn validate(&self) -> Result<(), ApiError> {
        if self.name.is_empty() || self.name.len() > 128 || self.name.contains('/') {
            return Err(ApiError::bad_data(
                "invalid field \"name\": 1 to 128 characters, no '/'",
            ));
        }
        match self.kind.as_str() {
            "email" if self.addresses.is_empty() => Err(ApiError::bad_data(
                "contact point of type email needs \"addresses\"",
            )),
            "email" if self.smarthost.is_none() => Err(ApiError::bad_data(
                "contact-point-smarthost-required: a contact point of type email needs \"smarthost\" (host:port of your SMTP server); Pitot does not relay mail through the operator's server",
            )),
            "email" => Ok(()),
            "webhook" | "slack" => match &self.url {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => Ok(()),
                _ => Err(ApiError::bad_data(format!(
                    "contact point of type {} needs an http(s) \"url\"",
                    self.kind
                ))),
            },
            other => Err(ApiError::bad_data(format!(
                "invalid field \"type\": {other:?}, use email, webhook or slack"
            ))),
        }
    }

    /// This contact point as Alertmanager receiver integrations (YAML values).
    fn integrations(&self) -> (&'static str, Vec<Value>) {
        match self.kind.as_str() {
            "email" => (
                "email_configs",
                self.addresses
                    .iter()
                    .map(|a| {
                        json!({
                            "to": a,
                            "from": self.from.clone().unwrap_or_else(|| "pitot@localhost".into()),
                            "smarthost": self.smarthost,
                            "require_tls": self.require_tls,
                            "send_resolved": true,
                        })
                    })
                    .collect(),
            ),
            "slack" => (
                "slack_configs",
                vec![json!({"api_url": self.url, "channel": self.channel, "send_resolved": true})],
            ),
            _ => (
                "webhook_configs",
                vec![json!({"url": self.url, "send_resolved": true})],
            ),
        }
    }
}

/// The Alertmanager configuration routing everything to `points`.
pub fn generated_config(points: &[ContactPoint]) -> Result<AlertmanagerConfig, ApiError> {
    let mut receiver = serde_json::Map::new();
    receiver.insert("name".into(), "contact-points".into());
    let mut by_kind: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for p in points {
        let (key, items) = p.integrations();
        by_kind.entry(key).or_default().extend(items);
    }
    for (k, v) in by_kind {
        receiver.insert(k.into(), Value::Array(v));
    }
    let config = json!({
        "route": {"receiver": "contact-points", "group_by": ["alertname"], "group_wait": "10s"},
        "receivers": [Value::Object(receiver)],
    });
    let yaml = serde_yaml::to_string(&config).map_err(|e| ApiError::internal(e.to_string()))?;
    AlertmanagerConfig::parse(&yaml, BTreeMap::new()).map_err(|e| {
        ApiError::bad_data(format!(
            "contact points do not make a valid configuration: {e}"
        ))
    })
}

async fn load(state: &AppState, tenant: &TenantId) -> Result<Vec<ContactPoint>, ApiError> {
    state
        .meta
        .contact_points(Some(tenant))
        .await?
        .into_iter()
        .map(|(_, _, spec)| {
            serde_json::from_str(&spec)
                .map_err(|e| ApiError::internal(format!("stored contact point: {e}")))
        })
        .collect()
}

/// Applies the generated configuration unless the tenant uploaded its own.
pub async fn apply(state: &AppState, tenant: &TenantId) -> Result<(), ApiError> {
    let Some(am) = &state.alertmanager else {
        return Ok(());
    };
    let has_own = state
        .meta
        .alertmanager_configs()
        .await?
        .iter()
        .any(|(t, _)| t == tenant);
    if has_own {
        return Ok(());
    }
    let points = load(state, tenant).await?;
    if points.is_empty() {
        am.delete_config(tenant)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    } else {
        am.set_config(tenant, generated_config(&points)?)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(())
}

async fn list(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = crate::alertmanager::tenant(&state, &headers, &method).await?;
    Ok(Json(json!({"contact_points": load(&state, &tenant).await?})).into_response())
}

/// Refuses a literal-IP URL the egress policy denies at once (host names are checked when
/// a notification is sent, as they resolve then).
fn check_egress(state: &AppState, point: &ContactPoint) -> Result<(), ApiError> {
    let (Some(am), Some(url)) = (&state.alertmanager, &point.url) else {
        return Ok(());
    };
    am.egress()
        .check_url(url)
        .map_err(|e| ApiError::bad_data(format!("invalid field \"url\": {e}")))
}

/// Validates and stores a contact point, creating it only while the tenant is below
/// `max_contact_points`. `must_be_new` refuses a name that exists (create) instead of
/// replacing it. The count check and the write happen under the tenant's configuration write
/// lock, so concurrent creations cannot pass the check together.
async fn save(
    state: &AppState,
    tenant: &TenantId,
    point: ContactPoint,
    must_be_new: bool,
) -> Result<(), ApiError> {
    point.validate()?;
    check_egress(state, &point)?;
    generated_config(std::slice::from_ref(&point))?;
    let spec = serde_json::to_string(&point).map_err(|e| ApiError::internal(e.to_string()))?;
    let _writing = match &state.alertmanager {
        Some(am) => Some(am.lock_config_writes(tenant).await),
        None => None,
    };
    let existing = load(state, tenant).await?;
    let exists = existing.iter().any(|p| p.name == point.name);
    if exists && must_be_new {
        return Err(ApiError::conflict(format!(
            "contact point {:?} exists",
            point.name
        )));
    }
    if !exists {
        let max = state
            .tenant_limits
            .as_ref()
            .map_or(0, |l| l.get(tenant).max_contact_points);
        if max != 0 && existing.len() as u64 >= max {
            return Err(ApiError::bad_data(format!(
                "max-contact-points: the tenant has {} contact points (limit: {max}); delete one first or ask the operator to raise max_contact_points",
                existing.len()
            )));
        }
    }
    state
        .meta
        .set_contact_point(tenant, &point.name, Some(&spec))
        .await?;
    apply(state, tenant).await
}

async fn create(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = crate::alertmanager::tenant(&state, &headers, &method).await?;
    let point: ContactPoint = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_data(format!("invalid contact point: {e}")))?;
    save(&state, &tenant, point.clone(), true).await?;
    Ok((StatusCode::CREATED, Json(point)).into_response())
}

async fn replace(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = crate::alertmanager::tenant(&state, &headers, &method).await?;
    let mut point: ContactPoint = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_data(format!("invalid contact point: {e}")))?;
    point.name = name;
    save(&state, &tenant, point.clone(), false).await?;
    Ok(Json(point).into_response())
}

async fn remove(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = crate::alertmanager::tenant(&state, &headers, &method).await?;
    let _writing = match &state.alertmanager {
        Some(am) => Some(am.lock_config_writes(&tenant).await),
        None => None,
    };
    if !state.meta.set_contact_point(&tenant, &name, None).await? {
        return Err(ApiError::not_found(format!(
            "contact point {name:?} not found"
        )));
    }
    apply(&state, &tenant).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sends a test notification to one contact point now.
async fn test(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = crate::alertmanager::tenant(&state, &headers, &method).await?;
    let point = load(&state, &tenant)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("contact point {name:?} not found")))?;
    let config = generated_config(std::slice::from_ref(&point))?;
    let receiver = config
        .receiver("contact-points")
        .ok_or_else(|| ApiError::internal("generated configuration has no receiver"))?;
    let now = chrono::Utc::now();
    let labels: BTreeMap<String, String> = [
        ("alertname".to_string(), "PitotTestNotification".to_string()),
        ("contact_point".to_string(), name.clone()),
    ]
    .into();
    let alert = pitot_alertmanager::alert::Alert::from_postable(
        pitot_alertmanager::PostableAlert {
            labels: labels.clone(),
            annotations: [(
                "summary".to_string(),
                "Test notification from Pitot".to_string(),
            )]
            .into(),
            starts_at: Some(now),
            ends_at: Some(now + chrono::Duration::minutes(5)),
            generator_url: None,
        },
        now,
        std::time::Duration::from_secs(300),
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let notification = pitot_alertmanager::Notification {
        tenant: tenant.clone(),
        receiver: "contact-points".into(),
        group_key: format!("{{}}:{{contact_point=\"{name}\"}}"),
        group_labels: labels,
        alerts: vec![alert],
        now,
        external_url: String::new(),
    };
    let templates = pitot_alertmanager::template::Templates::new(&BTreeMap::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let egress = match &state.alertmanager {
        Some(am) => am.egress(),
        None => Default::default(),
    };
    let notifier = pitot_alertmanager::IntegrationNotifier::with_egress(
        pitot_alertmanager::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        },
        egress,
    );
    for integration in &receiver.integrations {
        let integration: &Integration = integration;
        notifier
            .notify(&notification, integration, &templates)
            .await
            // The notifier's errors carry the status and a Pitot-written reason only, never
            // the receiver's body.
            .map_err(|e| ApiError {
                status: StatusCode::BAD_GATEWAY,
                error_type: "notify",
                message: format!("test notification to {name:?} failed: {e}"),
            })?;
    }
    Ok(Json(json!({"status": "sent", "contact_point": name})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(spec: Value) -> ContactPoint {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn email_needs_the_tenants_own_smarthost() {
        let no_host = point(json!({"name": "m", "type": "email", "addresses": ["a@example.com"]}));
        let e = no_host.validate().unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.starts_with("contact-point-smarthost-required"),
            "{}",
            e.message
        );

        let own = point(
            json!({"name": "m", "type": "email", "addresses": ["a@example.com"], "smarthost": "mx.example.com:587"}),
        );
        own.validate().unwrap();
        let config = generated_config(std::slice::from_ref(&own)).unwrap();
        let Integration::Email(c) = &config.receiver("contact-points").unwrap().integrations[0]
        else {
            panic!("an email integration");
        };
        assert_eq!(c.smarthost, "mx.example.com:587");
    }

    #[test]
    fn injected_fields_do_not_make_a_configuration() {
        let bad = point(
            json!({"name": "m", "type": "email", "addresses": ["a@example.com\r\nRCPT TO:<x@y>"], "smarthost": "mx.example.com:25"}),
        );
        let e = generated_config(std::slice::from_ref(&bad)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains(".to"), "{}", e.message);
        let host = point(
            json!({"name": "m", "type": "email", "addresses": ["a@example.com"], "smarthost": "mx.example.com\r\nQUIT:25"}),
        );
        assert!(generated_config(std::slice::from_ref(&host)).is_err());
    }
}
