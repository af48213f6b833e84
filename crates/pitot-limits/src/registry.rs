//! Resolving a tenant's effective limits: defaults, then the runtime file, then the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use pitot_core::TenantId;

use crate::{LimitOverrides, TenantLimits};

/// Every tenant's limits, changeable at run time.
#[derive(Debug)]
pub struct Limits {
    defaults: TenantLimits,
    file: RwLock<BTreeMap<TenantId, LimitOverrides>>,
    api: RwLock<BTreeMap<TenantId, LimitOverrides>>,
    cache: RwLock<HashMap<TenantId, Arc<TenantLimits>>>,
}

impl Limits {
    /// Limits with these defaults and no overrides yet.
    pub fn new(defaults: TenantLimits) -> Self {
        Limits {
            defaults,
            file: RwLock::default(),
            api: RwLock::default(),
            cache: RwLock::default(),
        }
    }

    /// The defaults every tenant starts from.
    pub fn defaults(&self) -> &TenantLimits {
        &self.defaults
    }

    /// The effective limits of `tenant` (cached until an override changes).
    pub fn get(&self, tenant: &TenantId) -> Arc<TenantLimits> {
        if let Some(l) = self.cache.read().get(tenant) {
            return Arc::clone(l);
        }
        let mut limits = self.defaults.clone();
        if let Some(o) = self.file.read().get(tenant) {
            limits.apply(o);
        }
        if let Some(o) = self.api.read().get(tenant) {
            limits.apply(o);
        }
        let limits = Arc::new(limits);
        self.cache
            .write()
            .insert(tenant.clone(), Arc::clone(&limits));
        limits
    }

    /// Replaces all overrides from the runtime file.
    pub fn set_file_overrides(&self, overrides: BTreeMap<TenantId, LimitOverrides>) {
        *self.file.write() = overrides;
        self.cache.write().clear();
    }

    /// The overrides set through the API for `tenant` (empty when none).
    pub fn api_overrides(&self, tenant: &TenantId) -> LimitOverrides {
        self.api.read().get(tenant).cloned().unwrap_or_default()
    }

    /// The overrides the runtime-overrides file sets for `tenant` (empty when none).
    pub fn file_overrides(&self, tenant: &TenantId) -> LimitOverrides {
        self.file.read().get(tenant).cloned().unwrap_or_default()
    }

    /// Every tenant's API overrides, to persist them.
    pub fn all_api_overrides(&self) -> BTreeMap<TenantId, LimitOverrides> {
        self.api.read().clone()
    }

    /// Replaces `tenant`'s API overrides.
    pub fn set_api_overrides(&self, tenant: &TenantId, overrides: LimitOverrides) {
        let mut api = self.api.write();
        if overrides.is_empty() {
            api.remove(tenant);
        } else {
            api.insert(tenant.clone(), overrides);
        }
        drop(api);
        self.cache.write().remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_wins_over_file_over_defaults() {
        let limits = Limits::new(TenantLimits::default());
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        assert_eq!(limits.get(&a).ingestion_rate, 10_000.0);
        limits.set_file_overrides(BTreeMap::from([(
            a.clone(),
            LimitOverrides {
                ingestion_rate: Some(1.0),
                max_line_size: Some(10),
                ..Default::default()
            },
        )]));
        assert_eq!(limits.get(&a).ingestion_rate, 1.0);
        limits.set_api_overrides(
            &a,
            LimitOverrides {
                ingestion_rate: Some(2.0),
                ..Default::default()
            },
        );
        let got = limits.get(&a);
        assert_eq!((got.ingestion_rate, got.max_line_size), (2.0, 10));
        assert_eq!(limits.get(&b).ingestion_rate, 10_000.0, "b untouched");
        limits.set_api_overrides(&a, LimitOverrides::default());
        assert_eq!(limits.get(&a).ingestion_rate, 1.0);
    }
}
