//! Delivering notifications: the [`Notifier`] trait the engine calls (so tests can capture what
//! would be sent), the notification data shared by all integrations, and the real integrations.

mod email;
mod http;
mod payload;
mod slack;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;

pub use payload::Notification;

use crate::config::Integration;
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(15),
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
}

/// The production notifier: webhook, email and Slack over the network.
#[derive(Debug, Clone)]
pub struct IntegrationNotifier {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl IntegrationNotifier {
    /// A notifier with its own HTTP client and the given retry policy.
    pub fn new(retry: RetryPolicy) -> Self {
        IntegrationNotifier {
            client: reqwest::Client::new(),
            retry,
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
        match integration {
            Integration::Webhook(c) => webhook::send(&self.client, &self.retry, n, c).await,
            Integration::Email(c) => email::send(n, c, templates).await,
            Integration::Slack(c) => slack::send(&self.client, &self.retry, n, c, templates).await,
        }
    }
}
