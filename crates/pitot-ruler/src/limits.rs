//! The limits one tenant's rule evaluations run under: the tenant's own query limits
//! (from the per-tenant limits registry), below the server's settings as ceilings, as
//! the tenant's API queries are held; and the tenant's minimum evaluation interval.

use std::sync::Arc;
use std::time::Duration;

use pitot_core::TenantId;
use pitot_promql::EngineOptions;

/// The effective limits of one evaluation of one tenant's group.
#[derive(Debug, Clone)]
pub struct EvalLimits {
    /// The PromQL engine's options: the tenant's samples limit and query timeout.
    pub engine: EngineOptions,
    /// Series one query may read (0: none).
    pub max_series: usize,
    /// Most series a LogQL metric query may produce.
    pub max_log_series: usize,
    /// The longest a LogQL query may run.
    pub log_timeout: Duration,
    /// How long a whole group evaluation may take: the tenant's query timeout.
    pub group_timeout: Duration,
    /// Shortest interval a group runs at (`ruler_min_evaluation_interval`), in ms.
    pub min_interval_ms: i64,
}

/// Server-wide ceilings of rule evaluation.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// The PromQL engine's options (timeout and samples are ceilings).
    pub engine: EngineOptions,
    /// Series one query may read (0: none).
    pub max_series: usize,
    /// Most series a LogQL metric query may produce.
    pub max_log_series: usize,
    /// The longest a LogQL query may run.
    pub log_timeout: Duration,
}

/// The smaller of two limits where 0 means "no limit".
fn min_limit(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// The smaller of two timeouts where zero means "none".
fn min_timeout(server: Duration, tenant: Duration) -> Duration {
    if tenant.is_zero() {
        server
    } else {
        server.min(tenant)
    }
}

impl ServerLimits {
    /// `tenant`'s limits: its own values from `tenants` where set, never above the
    /// server's; the server's alone without a registry.
    pub fn for_tenant(
        &self,
        tenants: Option<&Arc<pitot_limits::Limits>>,
        tenant: &TenantId,
    ) -> EvalLimits {
        let Some(all) = tenants else {
            return EvalLimits {
                engine: self.engine.clone(),
                max_series: self.max_series,
                max_log_series: self.max_log_series,
                log_timeout: self.log_timeout,
                group_timeout: self.engine.timeout,
                min_interval_ms: 0,
            };
        };
        let l = all.get(tenant);
        let mut engine = self.engine.clone();
        engine.max_samples = min_limit(engine.max_samples as u64, l.max_samples_per_query) as usize;
        engine.timeout = min_timeout(engine.timeout, l.query_timeout.0);
        EvalLimits {
            max_series: min_limit(self.max_series as u64, l.max_fetched_series_per_query) as usize,
            max_log_series: min_limit(self.max_log_series as u64, l.max_query_series) as usize,
            log_timeout: min_timeout(self.log_timeout, l.query_timeout.0),
            group_timeout: engine.timeout,
            min_interval_ms: l.ruler_min_evaluation_interval.0.as_millis() as i64,
            engine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenants_limits_apply_below_the_servers() {
        let server = ServerLimits {
            engine: EngineOptions {
                timeout: Duration::from_secs(120),
                max_samples: 1_000,
                ..EngineOptions::default()
            },
            max_series: 0,
            max_log_series: 500,
            log_timeout: Duration::from_secs(60),
        };
        let registry = Arc::new(pitot_limits::Limits::new(Default::default()));
        let t = TenantId::new("a").unwrap();
        let overrides: pitot_limits::LimitOverrides = serde_json::from_value(serde_json::json!({
            "query_timeout": "2s",
            "max_samples_per_query": 10_000,
            "max_fetched_series_per_query": 7,
            "ruler_min_evaluation_interval": "5s",
        }))
        .unwrap();
        registry.set_api_overrides(&t, overrides);
        let l = server.for_tenant(Some(&registry), &t);
        assert_eq!(l.engine.timeout, Duration::from_secs(2));
        assert_eq!(l.group_timeout, Duration::from_secs(2));
        assert_eq!(l.engine.max_samples, 1_000, "the server's ceiling holds");
        assert_eq!(l.max_series, 7);
        assert_eq!(l.min_interval_ms, 5_000);
        let none = server.for_tenant(None, &t);
        assert_eq!(none.engine.timeout, Duration::from_secs(120));
    }
}
