//! POSTing JSON with retries: 5xx, 429 and connection errors back off exponentially; other
//! answers are final, because resending a request the receiver rejected cannot succeed.
//!
//! Every request goes to an address the egress policy allows (a literal IP in the URL is
//! checked here, host names by the client's resolver), redirects are not followed, and the
//! receiver's body is never read into an error: a tenant must not be able to use a
//! notification to read what an internal address answers.

use std::time::Duration;

use serde_json::Value;

use super::RetryPolicy;
use crate::config::HttpAuth;
use crate::egress::{egress_error_of, EgressPolicy};
use crate::error::AmError;

/// What an HTTP integration sends with: the policy-bound client, retries, and the policy.
pub struct HttpSender<'a> {
    /// The client built by [`crate::egress::http_client`].
    pub client: &'a reqwest::Client,
    /// Retries and timeouts.
    pub retry: &'a RetryPolicy,
    /// The policy literal-IP URLs are checked against.
    pub egress: &'a EgressPolicy,
}

/// Why one attempt failed, in Pitot's words only.
fn describe_send_error(e: &reqwest::Error) -> (String, bool) {
    if let Some(denied) = egress_error_of(e) {
        return (denied.to_string(), false);
    }
    let what = if e.is_timeout() {
        "notify-timeout: the receiver did not answer in time"
    } else if e.is_connect() {
        "notify-connect-failed: cannot connect to the receiver"
    } else {
        "notify-request-failed: the request to the receiver failed"
    };
    (what.to_string(), true)
}

impl HttpSender<'_> {
    /// POSTs `body` to `url`, retrying as the policy says; `timeout` is the tenant's per-attempt
    /// timeout, capped by the operator's maximum.
    pub async fn post_json(
        &self,
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
        self.egress
            .check_url(url)
            .map_err(|e| fail(e.to_string()))?;
        let attempts = self.retry.max_attempts.max(1);
        let attempt_timeout = self.retry.attempt_timeout(timeout);
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            let mut req = self
                .client
                .post(url)
                .timeout(attempt_timeout)
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
                    // The body is dropped unread: only the status is reported.
                    drop(resp);
                    last_error = if status.is_redirection() {
                        format!("notify-redirect-refused: the receiver answered {status}; redirects are not followed, configure the final URL")
                    } else {
                        format!("notify-unexpected-status: the receiver answered {status}")
                    };
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        return Err(fail(last_error));
                    }
                }
                Err(e) => {
                    let (reason, retryable) = describe_send_error(&e);
                    if !retryable {
                        return Err(fail(reason));
                    }
                    last_error = reason;
                }
            }
            if attempt < attempts {
                let wait = self.retry.backoff(attempt);
                tracing::warn!(integration, attempt, wait_ms = wait.as_millis() as u64, error = %last_error, "notification failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(fail(format!(
            "gave up after {attempts} attempts: {last_error}"
        )))
    }
}
