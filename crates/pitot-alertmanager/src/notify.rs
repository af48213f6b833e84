//! Delivering notifications: the [`Notifier`] trait the engine calls (so tests can capture what
//! would be sent), the notification data shared by all integrations, and the real integrations.

mod email;
mod http;
mod payload;
mod slack;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use payload::Notification;

use crate::config::Integration;
use crate::egress::EgressPolicy;
use crate::error::AmError;
use crate::template::Templates;

/// Sends one notification through one integration.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `n` via `integration`; `Ok` means the receiving end accepted it, and only then
    /// does the engine record it in the notification log.
    async fn notify(
        &self,
        n: &Notification,
        integration: &Integration,
        templates: &Templates,
    ) -> Result<(), AmError>;
}

/// How often and how patiently HTTP integrations retry 5xx answers and connection errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further failure.
    pub initial_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
    /// Timeout of one attempt when the integration sets none.
    pub attempt_timeout: Duration,
    /// The operator's cap on one attempt, whatever timeout the tenant configured, so a
    /// receiver that never answers holds a send for a bounded time.
    pub max_attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(15),
            max_attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): exponential, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The timeout of one attempt: the tenant's (or the default), never above the operator's cap.
    pub fn attempt_timeout(&self, configured: Option<Duration>) -> Duration {
        configured
            .unwrap_or(self.attempt_timeout)
            .min(self.max_attempt_timeout)
    }
}

/// The production notifier: webhook, email and Slack over the network, every connection under
/// the [`EgressPolicy`].
#[derive(Debug, Clone)]
pub struct IntegrationNotifier {
    client: reqwest::Client,
    retry: RetryPolicy,
    egress: Arc<EgressPolicy>,
}

impl IntegrationNotifier {
    /// A notifier with the given retry policy and the default egress policy (internal and
    /// metadata addresses denied).
    pub fn new(retry: RetryPolicy) -> Self {
        Self::with_egress(retry, Arc::new(EgressPolicy::default()))
    }

    /// A notifier whose connections are held to `egress`.
    pub fn with_egress(retry: RetryPolicy, egress: Arc<EgressPolicy>) -> Self {
        IntegrationNotifier {
            client: crate::egress::http_client(Arc::clone(&egress)),
            retry,
            egress,
        }
    }
}

impl Default for IntegrationNotifier {
    fn default() -> Self {
        Self::new(RetryPolicy::default())
    }
}

#[async_trait]
impl Notifier for IntegrationNotifier {
    async fn notify(
        &self,
        n: &Notification,
        integration: &Integration,
        templates: &Templates,
    ) -> Result<(), AmError> {
        let http = http::HttpSender {
            client: &self.client,
            retry: &self.retry,
            egress: &self.egress,
        };
        match integration {
            Integration::Webhook(c) => webhook::send(&http, n, c).await,
            Integration::Email(c) => email::send(n, c, templates, &self.egress, &self.retry).await,
            Integration::Slack(c) => slack::send(&http, n, c, templates).await,
        }
    }
}
