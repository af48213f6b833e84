//! The generic webhook integration: Alertmanager's version 4 JSON payload.

use super::http::post_json;
use super::{Notification, RetryPolicy};
use crate::config::WebhookConfig;
use crate::error::AmError;

pub async fn send(
    client: &reqwest::Client,
    retry: &RetryPolicy,
    n: &Notification,
    c: &WebhookConfig,
) -> Result<(), AmError> {
    let body = n.webhook_payload(c.max_alerts);
    post_json(client, retry, "webhook", &c.url, &c.auth, c.timeout, &body).await
}
