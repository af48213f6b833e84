//! The `datasources` table: each tenant's typed stores.

use pitot_core::{
    validate_datasource_name, DataKind, Origin, TenantId, DEFAULT_LOGS_DATASOURCE,
    DEFAULT_METRICS_DATASOURCE, MANAGED_METRICS_DATASOURCE,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{DataSource, MetaError, NewDataSource};

/// Inserts the data sources every tenant starts with: a custom one of each type, stored
/// under the tenant's ID, and the managed metrics one Pitot writes usage into.
pub(super) fn insert_defaults(
    conn: &Connection,
    tenant: &TenantId,
    created_at: i64,
) -> Result<(), MetaError> {
    let defaults = [
        (
            DEFAULT_METRICS_DATASOURCE,
            DataKind::Metrics,
            Origin::Custom,
            tenant.clone(),
        ),
        (
            DEFAULT_LOGS_DATASOURCE,
            DataKind::Logs,
            Origin::Custom,
            tenant.clone(),
        ),
        (
            MANAGED_METRICS_DATASOURCE,
            DataKind::Metrics,
            Origin::Managed,
            tenant.storage_key(MANAGED_METRICS_DATASOURCE),
        ),
    ];
    for (name, kind, origin, storage) in defaults {
        conn.execute(
            "INSERT INTO datasources
             (tenant, name, kind, origin, retention_ms, storage_key, is_default, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, 1, ?6) ON CONFLICT DO NOTHING",
            params![
                tenant.as_str(),
                name,
                kind.as_str(),
                origin.as_str(),
                storage.as_str(),
                created_at
            ],
        )?;
    }
    Ok(())
}

pub(super) fn create(
    conn: &Connection,
    new: NewDataSource,
    created_at: i64,
) -> Result<DataSource, MetaError> {
    validate_datasource_name(&new.name).map_err(|e| MetaError::Invalid {
        field: "name",
        reason: e.to_string(),
    })?;
    if new.retention_ms < 0 {
        return Err(MetaError::Invalid {
            field: "retention",
            reason: "must not be negative".into(),
        });
    }
    let exists = conn
        .query_row(
            "SELECT 1 FROM tenants WHERE id = ?1",
            params![new.tenant.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        return Err(MetaError::NotFound {
            kind: "tenant",
            name: new.tenant.to_string(),
        });
    }
    if let Some(limit) = new.max_datasources {
        super::check_count_limit(
            conn,
            "SELECT COUNT(*) FROM datasources WHERE tenant = ?1",
            &new.tenant,
            super::CountLimit {
                reason: "per-tenant-datasources-limit",
                kind: "data source",
                limit_name: "max_data_sources",
                limit,
            },
        )?;
    }
    let storage = new.tenant.storage_key(&new.name);
    let inserted = conn.execute(
        "INSERT INTO datasources
         (tenant, name, kind, origin, retention_ms, storage_key, is_default, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7) ON CONFLICT DO NOTHING",
        params![
            new.tenant.as_str(),
            new.name,
            new.kind.as_str(),
            new.origin.as_str(),
            new.retention_ms,
            storage.as_str(),
            created_at
        ],
    )?;
    if inserted == 0 {
        return Err(MetaError::AlreadyExists {
            kind: "data source",
            name: new.name,
        });
    }
    tracing::info!(tenant = %new.tenant, datasource = %new.name, kind = %new.kind, origin = %new.origin, "data source created");
    Ok(DataSource {
        tenant: new.tenant,
        name: new.name,
        kind: new.kind,
        origin: new.origin,
        retention_ms: new.retention_ms,
        storage,
        is_default: false,
        created_at,
    })
}

pub(super) fn list(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<DataSource>, MetaError> {
    let mut statement = conn.prepare(
        "SELECT tenant, name, kind, origin, retention_ms, storage_key, is_default, created_at
         FROM datasources WHERE (?1 IS NULL OR tenant = ?1) ORDER BY tenant, name",
    )?;
    let mut rows = statement.query(params![tenant.map(TenantId::as_str)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let tenant: String = row.get(0)?;
        let name: String = row.get(1)?;
        let kind: String = row.get(2)?;
        let origin: String = row.get(3)?;
        let storage: String = row.get(5)?;
        let corrupt = |what: &str| {
            MetaError::Corrupt(format!(
                "data source {name:?} of tenant {tenant:?} has an invalid {what}"
            ))
        };
        out.push(DataSource {
            tenant: TenantId::new(tenant.clone()).map_err(|_| corrupt("tenant"))?,
            kind: DataKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            origin: Origin::parse(&origin).ok_or_else(|| corrupt("origin"))?,
            retention_ms: row.get(4)?,
            storage: TenantId::from_storage_key(&storage).map_err(|_| corrupt("storage key"))?,
            is_default: row.get::<_, i64>(6)? != 0,
            created_at: row.get(7)?,
            name,
        });
    }
    Ok(out)
}

pub(super) fn set_retention(
    conn: &Connection,
    tenant: &TenantId,
    name: &str,
    retention_ms: i64,
) -> Result<bool, MetaError> {
    if retention_ms < 0 {
        return Err(MetaError::Invalid {
            field: "retention",
            reason: "must not be negative".into(),
        });
    }
    let n = conn.execute(
        "UPDATE datasources SET retention_ms = ?3 WHERE tenant = ?1 AND name = ?2",
        params![tenant.as_str(), name, retention_ms],
    )?;
    Ok(n > 0)
}

pub(super) fn delete(conn: &Connection, tenant: &TenantId, name: &str) -> Result<bool, MetaError> {
    let n = conn.execute(
        "DELETE FROM datasources WHERE tenant = ?1 AND name = ?2",
        params![tenant.as_str(), name],
    )?;
    if n > 0 {
        tracing::info!(tenant = %tenant, datasource = %name, "data source deleted");
    }
    Ok(n > 0)
}
