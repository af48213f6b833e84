//! Where the ruler's outputs go.

use std::collections::BTreeMap;

use pitot_core::{Labels, TenantId};
use pitot_storage_api::SeriesBatch;

/// Stores rule results durably, synchronously: the ruler calls it from a blocking
/// thread and the next rule of the group must see the samples.
pub trait SampleWriter: Send + Sync {
    /// Writes the samples of one rule of one tenant.
    fn write(&self, tenant: &TenantId, batch: Vec<SeriesBatch>) -> Result<(), String>;
}

/// An alert as the ruler sends it to an Alertmanager (API v2 `postableAlert`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAlert {
    /// Labels, `alertname` included.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// When the alert became active (Unix ms).
    pub starts_at: i64,
    /// When it ended (resolved alerts) or a time in the future after which a receiver
    /// may consider it resolved if not re-sent (firing alerts: now + 4 intervals).
    pub ends_at: i64,
    /// Link back to the rule's expression.
    pub generator_url: String,
}

/// Receives the alerts of each evaluation (firing ones, and resolved ones while they
/// are retained), per tenant.
pub trait AlertSender: Send + Sync {
    /// Delivers `alerts` of `tenant`; failures are the sender's to log and retry.
    fn send(&self, tenant: &TenantId, alerts: Vec<RuleAlert>);
}
