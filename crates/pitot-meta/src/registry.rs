//! Every tenant's data sources in memory, so that each push and query resolves its data
//! source without a database round trip, and storage engines can ask for a storage
//! key's retention from their own threads.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use pitot_core::{DataKind, Origin, Target, TenantId};

use crate::{DataSource, MetaError, MetaStoreRef, NewDataSource};

/// A cache of the `datasources` records, written through to the metadata store.
pub struct DatasourceRegistry {
    meta: MetaStoreRef,
    by_tenant: RwLock<HashMap<TenantId, Vec<DataSource>>>,
}

impl DataSource {
    /// Where a push to (or a read of) this data source goes.
    pub fn target(&self) -> Target {
        Target {
            tenant: self.tenant.clone(),
            datasource: self.name.clone(),
            origin: self.origin,
            storage: self.storage.clone(),
        }
    }
}

impl DatasourceRegistry {
    /// Loads every data source of every tenant.
    pub async fn load(meta: MetaStoreRef) -> Result<Arc<DatasourceRegistry>, MetaError> {
        let all = meta.list_datasources(None).await?;
        let mut by_tenant: HashMap<TenantId, Vec<DataSource>> = HashMap::new();
        for ds in all {
            by_tenant.entry(ds.tenant.clone()).or_default().push(ds);
        }
        Ok(Arc::new(DatasourceRegistry {
            meta,
            by_tenant: RwLock::new(by_tenant),
        }))
    }

    /// Re-reads one tenant's data sources (after a change, or when the tenant was
    /// created by another process).
    pub async fn reload(&self, tenant: &TenantId) -> Result<Vec<DataSource>, MetaError> {
        let list = self.meta.list_datasources(Some(tenant)).await?;
        let mut map = self.by_tenant.write();
        if list.is_empty() {
            map.remove(tenant);
        } else {
            map.insert(tenant.clone(), list.clone());
        }
        Ok(list)
    }

    /// The tenant's data sources, sorted by name (empty for an unknown tenant).
    pub fn of(&self, tenant: &TenantId) -> Vec<DataSource> {
        self.by_tenant
            .read()
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }

    /// The tenant's data sources, reading the store when the cache has none.
    pub async fn of_fresh(&self, tenant: &TenantId) -> Result<Vec<DataSource>, MetaError> {
        let cached = self.of(tenant);
        if cached.is_empty() {
            return self.reload(tenant).await;
        }
        Ok(cached)
    }

    /// The managed metrics data source Pitot writes the tenant's usage into.
    pub fn managed_metrics(&self, tenant: &TenantId) -> Target {
        Target {
            tenant: tenant.clone(),
            datasource: pitot_core::MANAGED_METRICS_DATASOURCE.into(),
            origin: Origin::Managed,
            storage: tenant.storage_key(pitot_core::MANAGED_METRICS_DATASOURCE),
        }
    }

    /// Every storage key of the tenant's data sources of `kind` (what the ruler reads:
    /// all of a tenant's metrics, its usage included). Unknown tenants read their ID.
    pub fn storage_keys(&self, tenant: &TenantId, kind: DataKind) -> Vec<TenantId> {
        let mut keys: Vec<TenantId> = self
            .of(tenant)
            .into_iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.storage)
            .collect();
        if keys.is_empty() {
            keys.push(tenant.clone());
        }
        keys
    }

    /// The retention of the data source stored under `key` (ms, 0 for the server's
    /// default), as the storage engines' retention passes ask.
    pub fn retention_ms(&self, key: &TenantId, kind: DataKind) -> i64 {
        self.by_tenant
            .read()
            .get(&key.owner())
            .and_then(|list| {
                list.iter()
                    .find(|d| d.kind == kind && &d.storage == key)
                    .map(|d| d.retention_ms)
            })
            .unwrap_or(0)
    }

    /// Creates a data source and caches it.
    pub async fn create(&self, new: NewDataSource) -> Result<DataSource, MetaError> {
        let tenant = new.tenant.clone();
        let created = self.meta.create_datasource(new).await?;
        self.reload(&tenant).await?;
        Ok(created)
    }

    /// Changes a data source's retention; `false` when it does not exist.
    pub async fn set_retention(
        &self,
        tenant: &TenantId,
        name: &str,
        retention_ms: i64,
    ) -> Result<bool, MetaError> {
        let changed = self
            .meta
            .set_datasource_retention(tenant, name, retention_ms)
            .await?;
        self.reload(tenant).await?;
        Ok(changed)
    }

    /// Forgets a data source; `false` when it does not exist.
    pub async fn delete(&self, tenant: &TenantId, name: &str) -> Result<bool, MetaError> {
        let deleted = self.meta.delete_datasource(tenant, name).await?;
        self.reload(tenant).await?;
        Ok(deleted)
    }
}
