//! POSTing JSON with retries: 5xx, 429 and connection errors back off exponentially; other
//! answers are final, because resending a request the receiver rejected cannot succeed.

use std::time::Duration;

use serde_json::Value;

use super::RetryPolicy;
use crate::config::HttpAuth;
use crate::error::AmError;

pub async fn post_json(
    client: &reqwest::Client,
    retry: &RetryPolicy,
    integration: &str,
    url: &str,
    auth: &HttpAuth,
    timeout: Option<Duration>,
    body: &Value,
) -> Result<(), AmError> {
    let fail = |reason: String| AmError::Notify {
        integration: integration.to_string(),
        reason,
    };
    let attempts = retry.max_attempts.max(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        let mut req = client
            .post(url)
            .timeout(timeout.unwrap_or(retry.attempt_timeout))
            .header("User-Agent", "Pitot-Alertmanager")
            .json(body);
        req = match auth {
            HttpAuth::None => req,
            HttpAuth::Authorization {
                scheme,
                credentials,
            } => req.header("Authorization", format!("{scheme} {credentials}")),
            HttpAuth::Basic { username, password } => req.basic_auth(username, Some(password)),
        };
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => {
                let status = resp.status();
                let text: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                last_error = format!("unexpected status {status}: {text}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return Err(fail(last_error));
                }
            }
            Err(e) => last_error = format!("request failed: {e}"),
        }
        if attempt < attempts {
            let wait = retry.backoff(attempt);
            tracing::warn!(integration, attempt, wait_ms = wait.as_millis() as u64, error = %last_error, "notification failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
    Err(fail(format!(
        "gave up after {attempts} attempts: {last_error}"
    )))
}
