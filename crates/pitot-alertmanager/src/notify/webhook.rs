//! The generic webhook integration: Alertmanager's version 4 JSON payload.

use super::http::HttpSender;
use super::Notification;
use crate::config::WebhookConfig;
use crate::error::AmError;

/// POSTs the version 4 payload to the webhook's URL.
pub async fn send(
    http: &HttpSender<'_>,
    n: &Notification,
    c: &WebhookConfig,
) -> Result<(), AmError> {
    let body = n.webhook_payload(c.max_alerts);
    http.post_json("webhook", &c.url, &c.auth, c.timeout, &body)
        .await
}
