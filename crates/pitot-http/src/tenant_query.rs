//! The query limits of one tenant: the server's `query.*` settings are ceilings, the
//! tenant's own limits (defaults, runtime file, API) apply below them; and per-tenant
//! query slots, so one tenant's queries cannot take every slot of the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_core::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState};

/// The effective query limits of a tenant.
#[derive(Debug, Clone, Copy)]
pub struct TenantQueryLimits {
    /// Longest range of one query (ms); 0 for none.
    pub max_length_ms: i64,
    /// How far back from now a query may read (ms); 0 for no limit.
    pub max_lookback_ms: i64,
    /// Series one query may read; 0 for none.
    pub max_series: usize,
    /// Samples one PromQL query may hold.
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

/// The smaller of two limits where 0 means "no limit".
fn min_limit(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// Resolves `tenant`'s query limits.
pub fn limits(state: &AppState, tenant: &TenantId, server_timeout: Duration) -> TenantQueryLimits {
    let server = TenantQueryLimits {
        max_length_ms: state.query_limits.max_length.as_millis() as i64,
        max_lookback_ms: 0,
        max_series: state.query_limits.max_series,
        max_samples: state.engine.options().max_samples,
        timeout: server_timeout,
    };
    let Some(all) = &state.tenant_limits else {
        return server;
    };
    let l = all.get(tenant);
    TenantQueryLimits {
        max_length_ms: min_limit(
            server.max_length_ms as u64,
            l.max_query_length.0.as_millis() as u64,
        ) as i64,
        max_lookback_ms: l.max_query_lookback.0.as_millis() as i64,
        max_series: min_limit(server.max_series as u64, l.max_fetched_series_per_query) as usize,
        max_samples: min_limit(server.max_samples as u64, l.max_samples_per_query) as usize,
        timeout: if l.query_timeout.0.is_zero() {
            server.timeout
        } else {
            server.timeout.min(l.query_timeout.0)
        },
    }
}

/// The effective limits of a tenant's LogQL queries.
#[derive(Debug, Clone, Copy)]
pub struct TenantLogLimits {
    /// Most entries one query may ask for.
    pub max_entries: usize,
    /// Longest range (ns); 0 for none.
    pub max_length_ns: i64,
    /// Most series a metric query may produce.
    pub max_series: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

/// Resolves `tenant`'s LogQL limits (the server's `logs.*` settings are ceilings).
pub fn log_limits(state: &AppState, tenant: &TenantId) -> TenantLogLimits {
    let engine = state.logs.engine.options();
    let server = TenantLogLimits {
        max_entries: state.logs.limits.max_entries,
        max_length_ns: state.logs.limits.max_query_length.as_nanos() as i64,
        max_series: engine.max_series,
        timeout: engine.timeout,
    };
    let Some(all) = &state.tenant_limits else {
        return server;
    };
    let l = all.get(tenant);
    TenantLogLimits {
        max_entries: min_limit(server.max_entries as u64, l.max_entries_limit_per_query) as usize,
        max_length_ns: min_limit(
            server.max_length_ns as u64,
            l.max_query_length.0.as_nanos() as u64,
        ) as i64,
        max_series: min_limit(server.max_series as u64, l.max_query_series) as usize,
        timeout: if l.query_timeout.0.is_zero() {
            server.timeout
        } else {
            server.timeout.min(l.query_timeout.0)
        },
    }
}

/// One semaphore per tenant, sized by its `max_concurrent_queries`.
#[derive(Debug, Default)]
pub struct TenantSlots {
    slots: Mutex<HashMap<TenantId, (u64, Arc<Semaphore>)>>,
}

impl TenantSlots {
    /// Waits for one of `tenant`'s query slots (queries beyond its limit queue, as
    /// Prometheus' do, without holding any other tenant's slot).
    pub async fn acquire(
        &self,
        state: &AppState,
        tenant: &TenantId,
    ) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let Some(all) = &state.tenant_limits else {
            return Ok(None);
        };
        let n = all.get(tenant).max_concurrent_queries;
        if n == 0 {
            return Ok(None);
        }
        let semaphore = {
            let mut slots = self.slots.lock();
            let entry = slots
                .entry(tenant.clone())
                .or_insert_with(|| (n, Arc::new(Semaphore::new(n as usize))));
            if entry.0 != n {
                *entry = (n, Arc::new(Semaphore::new(n as usize)));
            }
            Arc::clone(&entry.1)
        };
        semaphore
            .acquire_owned()
            .await
            .map(Some)
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }
}
