//! Admission of one tenant's group evaluations into the tenant's query budget.
//!
//! The HTTP layer holds each tenant to `max_concurrent_queries` queries at once; rule
//! evaluations are queries too, so the ruler takes its slots from the same per-tenant
//! budget through this trait (declared here, by its user, and implemented by the
//! binary's wiring): a tenant's many groups cannot run more evaluations at once than
//! its limit, and its API queries and its rules share one allowance.

use pitot_core::TenantId;
use tokio::sync::OwnedSemaphorePermit;

/// Hands out one of a tenant's query slots.
#[async_trait::async_trait]
pub trait QuerySlots: Send + Sync {
    /// Waits for one of `tenant`'s slots; `None` when the tenant has no limit. The slot
    /// is held until the permit is dropped.
    async fn acquire(&self, tenant: &TenantId) -> Option<OwnedSemaphorePermit>;
}
