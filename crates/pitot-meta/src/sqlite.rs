//! The embedded metadata store: one SQLite file, plus an in-memory token cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use pitot_core::{Scope, TenantId};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tracing::{debug, info};

use crate::token::{self, SecretHash};
use crate::validate::{normalize_scopes, validate_name};
use crate::{
    BudgetEvent, CreatedToken, DataSource, MetaError, MetaStore, MetricMetadataRow, NewDataSource,
    NewToken, RuleGroupScope, RuleGroupWrite, StoredRuleGroup, Tenant, TokenInfo,
};

mod datasources;
mod rule_groups;
use pitot_usage::UsageRow;

/// The schema this binary writes, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 10;

/// Version 1: tenants and tokens. Revoked tokens keep their row (`revoked_at` set).
const SCHEMA_V1: &str = "
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    tenant TEXT NOT NULL REFERENCES tenants (id),
    name TEXT,
    scopes TEXT NOT NULL,
    hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_by_tenant ON tokens (tenant, created_at);
";

/// Version 2: per-tenant limit overrides set through the API, as a JSON object of the
/// limits they name.
const SCHEMA_V2: &str = "
CREATE TABLE tenant_limits (
    tenant TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    overrides TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
";

/// Version 3: rule groups per tenant and namespace, as the YAML they were uploaded as.
const SCHEMA_V3: &str = "
CREATE TABLE rule_groups (
    tenant TEXT NOT NULL REFERENCES tenants (id),
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    yaml TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, namespace, name)
) STRICT;
";

/// Version 4: usage per tenant, data source and hour (peaks and stored bytes are
/// maxima, everything else sums; `rejected` is a JSON object of reason -> count).
const SCHEMA_V4: &str = "
CREATE TABLE usage (
    tenant TEXT NOT NULL,
    datasource TEXT NOT NULL,
    hour INTEGER NOT NULL,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    samples_ingested INTEGER NOT NULL,
    series_active_peak INTEGER NOT NULL,
    log_bytes_ingested INTEGER NOT NULL,
    log_lines_ingested INTEGER NOT NULL,
    bytes_stored INTEGER NOT NULL,
    queries INTEGER NOT NULL,
    samples_scanned INTEGER NOT NULL,
    bytes_scanned INTEGER NOT NULL,
    rejected TEXT NOT NULL,
    PRIMARY KEY (tenant, datasource, hour)
) STRICT;
";

/// Version 5: monthly budgets and the threshold crossings recorded against them.
const SCHEMA_V5: &str = "
CREATE TABLE budgets (
    tenant TEXT PRIMARY KEY NOT NULL,
    monthly REAL NOT NULL
) STRICT;
CREATE TABLE budget_events (
    tenant TEXT NOT NULL,
    month TEXT NOT NULL,
    percent INTEGER NOT NULL,
    kind TEXT NOT NULL,
    cost REAL NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (tenant, month, percent, kind)
) STRICT;
";

/// Version 6: each tenant's Alertmanager configuration document (Mimir's shape, YAML).
const SCHEMA_V6: &str = "
CREATE TABLE alertmanager_configs (
    tenant TEXT PRIMARY KEY NOT NULL,
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
";

/// Version 8: data sources per tenant (every existing tenant gets the three it would
/// have been created with), and tokens limited to named data sources.
const SCHEMA_V8: &str = "
CREATE TABLE datasources (
    tenant TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    retention_ms INTEGER NOT NULL,
    storage_key TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, name),
    UNIQUE (kind, storage_key)
) STRICT;
ALTER TABLE tokens ADD COLUMN datasources TEXT;
INSERT INTO datasources SELECT id, 'metrics', 'metrics', 'custom', 0, id, 1, created_at FROM tenants;
INSERT INTO datasources SELECT id, 'logs', 'logs', 'custom', 0, id, 1, created_at FROM tenants;
INSERT INTO datasources SELECT id, 'pitot', 'metrics', 'managed', 0, id || '@pitot', 1, created_at FROM tenants;
";

/// Version 9: the data source a rule group is bound to (`NULL`: unbound, reading every
/// data source of its kind, as every group did before).
const SCHEMA_V9: &str = "
ALTER TABLE rule_groups ADD COLUMN datasource TEXT;
";

/// Version 10: metric metadata (type, help, unit) per storage key and metric family.
const SCHEMA_V10: &str = "
CREATE TABLE metric_metadata (
    key TEXT NOT NULL,
    family TEXT NOT NULL,
    type TEXT NOT NULL,
    help TEXT NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (key, family)
);
";

/// Version 7: contact points (simple alert destinations) per tenant, as JSON.
const SCHEMA_V7: &str = "
CREATE TABLE contact_points (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) STRICT;
";

/// How long SQLite waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often `authenticate` checks whether another process changed the tokens.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How many times `create_token` draws a new id if the drawn one is taken. With 64-bit
/// ids a single collision is already improbable.
const ID_ATTEMPTS: usize = 4;

/// The [`MetaStore`] of the single-binary deployment: one SQLite database file.
///
/// **Durability.** The database runs in WAL mode with `synchronous=FULL`: every write
/// method fsyncs its commit before returning, so an acknowledged tenant, token or
/// revocation survives `kill -9` and power loss. Writes are rare (management calls), so
/// the fsync cost does not matter.
///
/// **Concurrency.** One connection behind a mutex serves every call. Statements are
/// short and indexed, so they run directly inside the async methods rather than on a
/// blocking thread; only writes can wait on the disk.
///
/// **Token cache.** Active tokens live in memory (id → hash and info), so `authenticate`
/// takes only a read lock and never waits on SQLite. `create_token` and `revoke_token`
/// update the cache under the connection mutex right after their commit, so the cache
/// always reflects this store's own writes. Writes by other processes to the same file
/// are detected with `PRAGMA data_version` at most once per second on the
/// authentication path, and then the cache is reloaded.
pub struct SqliteMetaStore {
    db: Mutex<Db>,
    tokens: RwLock<HashMap<String, CachedToken>>,
    opened_at: Instant,
    /// Milliseconds after `opened_at` of the last `data_version` check.
    last_check_ms: AtomicU64,
    refresh_interval: Duration,
}

/// The connection and the `data_version` the token cache was loaded at.
struct Db {
    conn: Connection,
    data_version: i64,
}

/// What authentication needs about one active token.
struct CachedToken {
    hash: SecretHash,
    info: TokenInfo,
}

impl SqliteMetaStore {
    /// Opens (creating if needed) the database file at `path`, migrates its schema and
    /// loads the active tokens. The parent directory must exist.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let conn = Connection::open(path).map_err(|source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_connection(conn, path)
    }

    /// Opens a private database in memory, lost on drop; for tests and ephemeral runs.
    pub fn open_in_memory() -> Result<Self, MetaError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_connection(conn, path)
    }

    fn from_connection(mut conn: Connection, path: &Path) -> Result<Self, MetaError> {
        let open_error = |source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        };
        configure(&conn).map_err(open_error)?;
        migrate(&mut conn)?;
        let data_version = data_version(&conn)?;
        let tokens = load_active_tokens(&conn)?;
        info!(path = %path.display(), active_tokens = tokens.len(), "metadata store opened");
        Ok(SqliteMetaStore {
            db: Mutex::new(Db { conn, data_version }),
            tokens: RwLock::new(tokens),
            opened_at: Instant::now(),
            last_check_ms: AtomicU64::new(0),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        })
    }

    /// Sets how often `authenticate` looks for changes made by other processes.
    #[cfg(test)]
    fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Reloads the token cache if another process changed the database since the last
    /// check, checking at most once per `refresh_interval`.
    ///
    /// If another call holds the connection the check is skipped: that call is either a
    /// write of this store (which keeps the cache right itself) or another refresh.
    fn refresh_if_due(&self) -> Result<(), MetaError> {
        let now_ms = u64::try_from(self.opened_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        let interval_ms = u64::try_from(self.refresh_interval.as_millis()).unwrap_or(u64::MAX);
        let last_ms = self.last_check_ms.load(Ordering::Relaxed);
        if last_ms != 0 && now_ms.saturating_sub(last_ms) < interval_ms {
            return Ok(());
        }
        let Some(mut db) = self.db.try_lock() else {
            return Ok(());
        };
        // Read the version before the rows: a commit in between only causes one more
        // reload later, never a missed one.
        let version = data_version(&db.conn)?;
        if version != db.data_version {
            let tokens = load_active_tokens(&db.conn)?;
            debug!(
                active_tokens = tokens.len(),
                "token cache reloaded after an external change"
            );
            *self.tokens.write() = tokens;
            db.data_version = version;
        }
        self.last_check_ms.store(now_ms.max(1), Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn create_tenant(&self, id: &TenantId) -> Result<Tenant, MetaError> {
        let created_at = now_ms();
        let mut db = self.db.lock();
        let tx = db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO tenants (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            params![id.as_str(), created_at],
        )?;
        if inserted == 0 {
            return Err(MetaError::AlreadyExists {
                kind: "tenant",
                name: id.to_string(),
            });
        }
        datasources::insert_defaults(&tx, id, created_at)?;
        tx.commit()?;
        info!(tenant = %id, "tenant created");
        Ok(Tenant {
            id: id.clone(),
            created_at,
        })
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, MetaError> {
        let db = self.db.lock();
        let created_at: Option<i64> = db
            .conn
            .query_row(
                "SELECT created_at FROM tenants WHERE id = ?1",
                params![id.as_str()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(created_at.map(|created_at| Tenant {
            id: id.clone(),
            created_at,
        }))
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, MetaError> {
        let db = self.db.lock();
        let mut statement = db
            .conn
            .prepare("SELECT id, created_at FROM tenants ORDER BY id")?;
        let mut rows = statement.query([])?;
        let mut tenants = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            tenants.push(Tenant {
                id: parse_tenant(id)?,
                created_at: row.get(1)?,
            });
        }
        Ok(tenants)
    }

    async fn limit_overrides(&self) -> Result<Vec<(TenantId, String)>, MetaError> {
        let db = self.db.lock();
        let mut statement = db
            .conn
            .prepare("SELECT tenant, overrides FROM tenant_limits ORDER BY tenant")?;
        let mut rows = statement.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            out.push((parse_tenant(id)?, row.get(1)?));
        }
        Ok(out)
    }

    async fn set_limit_overrides(
        &self,
        tenant: &TenantId,
        overrides: &str,
    ) -> Result<(), MetaError> {
        let db = self.db.lock();
        if overrides.is_empty() {
            db.conn.execute(
                "DELETE FROM tenant_limits WHERE tenant = ?1",
                [tenant.as_str()],
            )?;
        } else {
            db.conn.execute(
                "INSERT INTO tenant_limits (tenant, overrides, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant) DO UPDATE SET overrides = excluded.overrides, updated_at = excluded.updated_at",
                rusqlite::params![tenant.as_str(), overrides, now_ms()],
            )?;
        }
        Ok(())
    }

    async fn list_rule_groups(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<StoredRuleGroup>, MetaError> {
        rule_groups::list(&self.db.lock().conn, tenant)
    }

    async fn put_rule_group(
        &self,
        write: &RuleGroupWrite<'_>,
        scope: &RuleGroupScope,
    ) -> Result<(), MetaError> {
        rule_groups::put(&mut self.db.lock().conn, write, scope, now_ms())
    }

    async fn delete_rule_groups(
        &self,
        tenant: &TenantId,
        namespace: &str,
        name: Option<&str>,
        scope: &RuleGroupScope,
    ) -> Result<usize, MetaError> {
        rule_groups::delete(&self.db.lock().conn, tenant, namespace, name, scope)
    }

    async fn put_metric_metadata(&self, rows: &[MetricMetadataRow]) -> Result<(), MetaError> {
        let mut db = self.db.lock();
        let tx = db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO metric_metadata (key, family, type, help, unit) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (key, family) DO UPDATE SET
                    type = excluded.type, help = excluded.help, unit = excluded.unit",
            )?;
            for row in rows {
                insert.execute(rusqlite::params![
                    row.key.as_str(),
                    row.family,
                    row.kind,
                    row.help,
                    row.unit
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    async fn metric_metadata(&self) -> Result<Vec<MetricMetadataRow>, MetaError> {
        let db = self.db.lock();
        let mut statement = db.conn.prepare(
            "SELECT key, family, type, help, unit FROM metric_metadata ORDER BY key, family",
        )?;
        let mut rows = statement.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(MetricMetadataRow {
                key: parse_tenant(row.get(0)?)?,
                family: row.get(1)?,
                kind: row.get(2)?,
                help: row.get(3)?,
                unit: row.get(4)?,
            });
        }
        Ok(out)
    }

    async fn add_usage(&self, rows: &[(TenantId, UsageRow)]) -> Result<(), MetaError> {
        let mut db = self.db.lock();
        let tx = db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (tenant, row) in rows {
            let existing = tx
                .query_row(
                    "SELECT samples_ingested, series_active_peak, log_bytes_ingested, log_lines_ingested,
                            bytes_stored, queries, samples_scanned, bytes_scanned, rejected
                     FROM usage WHERE tenant = ?1 AND datasource = ?2 AND hour = ?3",
                    rusqlite::params![tenant.as_str(), row.datasource, row.start_ms],
                    |r| {
                        Ok(UsageRow {
                            samples_ingested: r.get::<_, i64>(0)? as u64,
                            series_active_peak: r.get::<_, i64>(1)? as u64,
                            log_bytes_ingested: r.get::<_, i64>(2)? as u64,
                            log_lines_ingested: r.get::<_, i64>(3)? as u64,
                            bytes_stored: r.get::<_, i64>(4)? as u64,
                            queries: r.get::<_, i64>(5)? as u64,
                            samples_scanned: r.get::<_, i64>(6)? as u64,
                            bytes_scanned: r.get::<_, i64>(7)? as u64,
                            rejected: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                            ..Default::default()
                        })
                    },
                )
                .optional()?;
            let mut merged = existing.unwrap_or_default();
            merged.add(row);
            tx.execute(
                "INSERT INTO usage (tenant, datasource, hour, kind, origin, samples_ingested, series_active_peak,
                    log_bytes_ingested, log_lines_ingested, bytes_stored, queries, samples_scanned, bytes_scanned, rejected)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (tenant, datasource, hour) DO UPDATE SET
                    samples_ingested = excluded.samples_ingested, series_active_peak = excluded.series_active_peak,
                    log_bytes_ingested = excluded.log_bytes_ingested, log_lines_ingested = excluded.log_lines_ingested,
                    bytes_stored = excluded.bytes_stored, queries = excluded.queries,
                    samples_scanned = excluded.samples_scanned, bytes_scanned = excluded.bytes_scanned,
                    rejected = excluded.rejected",
                rusqlite::params![
                    tenant.as_str(),
                    row.datasource,
                    row.start_ms,
                    row.kind,
                    row.origin,
                    merged.samples_ingested as i64,
                    merged.series_active_peak as i64,
                    merged.log_bytes_ingested as i64,
                    merged.log_lines_ingested as i64,
                    merged.bytes_stored as i64,
                    merged.queries as i64,
                    merged.samples_scanned as i64,
                    merged.bytes_scanned as i64,
                    serde_json::to_string(&merged.rejected).unwrap_or_else(|_| "{}".into()),
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    async fn usage(
        &self,
        tenant: &TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageRow>, MetaError> {
        let db = self.db.lock();
        let mut statement = db.conn.prepare(
            "SELECT hour, datasource, kind, origin, samples_ingested, series_active_peak, log_bytes_ingested,
                    log_lines_ingested, bytes_stored, queries, samples_scanned, bytes_scanned, rejected
             FROM usage WHERE tenant = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour, datasource",
        )?;
        let mut rows = statement.query(rusqlite::params![tenant.as_str(), from_ms, to_ms])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(UsageRow {
                start_ms: r.get(0)?,
                datasource: r.get(1)?,
                kind: r.get(2)?,
                origin: r.get(3)?,
                samples_ingested: r.get::<_, i64>(4)? as u64,
                series_active_peak: r.get::<_, i64>(5)? as u64,
                log_bytes_ingested: r.get::<_, i64>(6)? as u64,
                log_lines_ingested: r.get::<_, i64>(7)? as u64,
                bytes_stored: r.get::<_, i64>(8)? as u64,
                queries: r.get::<_, i64>(9)? as u64,
                samples_scanned: r.get::<_, i64>(10)? as u64,
                bytes_scanned: r.get::<_, i64>(11)? as u64,
                rejected: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn alertmanager_configs(&self) -> Result<Vec<(TenantId, String)>, MetaError> {
        let db = self.db.lock();
        let mut statement = db
            .conn
            .prepare("SELECT tenant, document FROM alertmanager_configs ORDER BY tenant")?;
        let mut rows = statement.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            out.push((parse_tenant(id)?, r.get(1)?));
        }
        Ok(out)
    }

    async fn set_alertmanager_config(
        &self,
        tenant: &TenantId,
        document: Option<&str>,
    ) -> Result<bool, MetaError> {
        let db = self.db.lock();
        let n = match document {
            Some(d) => db.conn.execute(
                "INSERT INTO alertmanager_configs (tenant, document, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
                rusqlite::params![tenant.as_str(), d, now_ms()],
            )?,
            None => db.conn.execute(
                "DELETE FROM alertmanager_configs WHERE tenant = ?1",
                [tenant.as_str()],
            )?,
        };
        Ok(n > 0)
    }

    async fn contact_points(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, String)>, MetaError> {
        let db = self.db.lock();
        let mut statement = db.conn.prepare(
            "SELECT tenant, name, spec FROM contact_points WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, name",
        )?;
        let mut rows = statement.query([tenant.map(|t| t.as_str())])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            out.push((parse_tenant(id)?, r.get(1)?, r.get(2)?));
        }
        Ok(out)
    }

    async fn set_contact_point(
        &self,
        tenant: &TenantId,
        name: &str,
        spec: Option<&str>,
    ) -> Result<bool, MetaError> {
        let db = self.db.lock();
        let n = match spec {
            Some(s) => db.conn.execute(
                "INSERT INTO contact_points (tenant, name, spec) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, name) DO UPDATE SET spec = excluded.spec",
                rusqlite::params![tenant.as_str(), name, s],
            )?,
            None => db.conn.execute(
                "DELETE FROM contact_points WHERE tenant = ?1 AND name = ?2",
                rusqlite::params![tenant.as_str(), name],
            )?,
        };
        Ok(n > 0)
    }

    async fn budget(&self, tenant: &TenantId) -> Result<Option<f64>, MetaError> {
        let db = self.db.lock();
        Ok(db
            .conn
            .query_row(
                "SELECT monthly FROM budgets WHERE tenant = ?1",
                [tenant.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    async fn set_budget(&self, tenant: &TenantId, monthly: Option<f64>) -> Result<(), MetaError> {
        let db = self.db.lock();
        match monthly {
            Some(m) => db.conn.execute(
                "INSERT INTO budgets (tenant, monthly) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET monthly = excluded.monthly",
                rusqlite::params![tenant.as_str(), m],
            )?,
            None => db
                .conn
                .execute("DELETE FROM budgets WHERE tenant = ?1", [tenant.as_str()])?,
        };
        Ok(())
    }

    async fn record_budget_event(
        &self,
        tenant: &TenantId,
        event: &BudgetEvent,
    ) -> Result<bool, MetaError> {
        let db = self.db.lock();
        let n = db.conn.execute(
            "INSERT OR IGNORE INTO budget_events (tenant, month, percent, kind, cost, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![tenant.as_str(), event.month, event.percent, event.kind, event.cost, event.at_ms],
        )?;
        Ok(n == 1)
    }

    async fn budget_events(&self, tenant: &TenantId) -> Result<Vec<BudgetEvent>, MetaError> {
        let db = self.db.lock();
        let mut statement = db.conn.prepare(
            "SELECT month, percent, kind, cost, at FROM budget_events WHERE tenant = ?1 ORDER BY at, percent",
        )?;
        let mut rows = statement.query([tenant.as_str()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(BudgetEvent {
                month: r.get(0)?,
                percent: r.get(1)?,
                kind: r.get(2)?,
                cost: r.get(3)?,
                at_ms: r.get(4)?,
            });
        }
        Ok(out)
    }

    async fn create_datasource(&self, new: NewDataSource) -> Result<DataSource, MetaError> {
        let db = self.db.lock();
        datasources::create(&db.conn, new, now_ms())
    }

    async fn list_datasources(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DataSource>, MetaError> {
        let db = self.db.lock();
        datasources::list(&db.conn, tenant)
    }

    async fn set_datasource_retention(
        &self,
        tenant: &TenantId,
        name: &str,
        retention_ms: i64,
    ) -> Result<bool, MetaError> {
        let db = self.db.lock();
        datasources::set_retention(&db.conn, tenant, name, retention_ms)
    }

    async fn delete_datasource(&self, tenant: &TenantId, name: &str) -> Result<bool, MetaError> {
        let db = self.db.lock();
        datasources::delete(&db.conn, tenant, name)
    }

    async fn create_token(&self, new: NewToken) -> Result<CreatedToken, MetaError> {
        let scopes = normalize_scopes(new.scopes)?;
        if let Some(name) = &new.name {
            validate_name(name)?;
        }
        let scopes_text = scopes_to_text(&scopes);
        let created_at = now_ms();
        if let Some(list) = &new.datasources {
            for name in list {
                pitot_core::validate_datasource_name(name).map_err(|e| MetaError::Invalid {
                    field: "datasources",
                    reason: e.to_string(),
                })?;
            }
        }
        let datasources_text = new.datasources.as_ref().map(|l| l.join(","));

        let mut db = self.db.lock();
        let tx = db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant_exists = tx
            .query_row(
                "SELECT 1 FROM tenants WHERE id = ?1",
                params![new.tenant.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !tenant_exists {
            return Err(MetaError::NotFound {
                kind: "tenant",
                name: new.tenant.to_string(),
            });
        }
        if let Some(limit) = new.max_tokens {
            check_count_limit(
                &tx,
                "SELECT COUNT(*) FROM tokens WHERE tenant = ?1 AND revoked_at IS NULL",
                &new.tenant,
                CountLimit {
                    reason: "per-tenant-tokens-limit",
                    kind: "token",
                    limit_name: "max_tokens",
                    limit,
                },
            )?;
        }
        let mut generated = None;
        for _ in 0..ID_ATTEMPTS {
            let candidate = token::generate();
            let inserted = tx.execute(
                "INSERT INTO tokens (id, tenant, name, scopes, hash, created_at, datasources)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                params![
                    candidate.id,
                    new.tenant.as_str(),
                    new.name,
                    scopes_text,
                    candidate.hash.as_slice(),
                    created_at,
                    datasources_text
                ],
            )?;
            if inserted == 1 {
                generated = Some(candidate);
                break;
            }
        }
        let Some(generated) = generated else {
            return Err(MetaError::Corrupt(format!(
                "{ID_ATTEMPTS} random token ids in a row were already taken"
            )));
        };
        tx.commit()?;

        let info = TokenInfo {
            id: generated.id,
            tenant: new.tenant,
            scopes,
            name: new.name,
            created_at,
            datasources: new.datasources,
        };
        // Still under the connection mutex, so a concurrent refresh cannot interleave.
        self.tokens.write().insert(
            info.id.clone(),
            CachedToken {
                hash: generated.hash,
                info: info.clone(),
            },
        );
        drop(db);
        info!(tenant = %info.tenant, token_id = %info.id, scopes = %scopes_text, "token created");
        Ok(CreatedToken {
            info,
            secret: generated.token,
        })
    }

    async fn list_tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenInfo>, MetaError> {
        let db = self.db.lock();
        let mut statement = db.conn.prepare(
            "SELECT id, tenant, name, scopes, created_at, datasources FROM tokens
             WHERE revoked_at IS NULL AND (?1 IS NULL OR tenant = ?1)
             ORDER BY tenant, created_at, id",
        )?;
        let mut rows = statement.query(params![tenant.map(TenantId::as_str)])?;
        let mut tokens = Vec::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let scopes_text: String = row.get(3)?;
            tokens.push(TokenInfo {
                scopes: scopes_from_text(&id, &scopes_text)?,
                id,
                tenant: parse_tenant(row.get(1)?)?,
                name: row.get(2)?,
                created_at: row.get(4)?,
                datasources: datasources_from_text(row.get(5)?),
            });
        }
        Ok(tokens)
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, MetaError> {
        let db = self.db.lock();
        let revoked = db.conn.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            params![now_ms(), id],
        )?;
        if revoked == 0 {
            return Ok(false);
        }
        self.tokens.write().remove(id);
        drop(db);
        info!(token_id = %id, "token revoked");
        Ok(true)
    }

    async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>, MetaError> {
        let Some((id, secret)) = token::parse(token) else {
            return Ok(None);
        };
        self.refresh_if_due()?;
        let presented = token::hash_secret(secret);
        let tokens = self.tokens.read();
        let Some(cached) = tokens.get(id) else {
            return Ok(None);
        };
        if token::hashes_match(&cached.hash, &presented) {
            Ok(Some(cached.info.clone()))
        } else {
            Ok(None)
        }
    }
}

/// Sets the pragmas every connection needs: WAL, fsync on every commit, foreign keys.
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Returns the mode in force: "wal" for files, "memory" for in-memory databases.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    debug!(journal_mode = %mode, "metadata journal mode set");
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction, refusing newer schemas.
fn migrate(conn: &mut Connection) -> Result<(), MetaError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MetaError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if found < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if found < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    if found < 4 {
        tx.execute_batch(SCHEMA_V4)?;
    }
    if found < 5 {
        tx.execute_batch(SCHEMA_V5)?;
    }
    if found < 6 {
        tx.execute_batch(SCHEMA_V6)?;
    }
    if found < 7 {
        tx.execute_batch(SCHEMA_V7)?;
    }
    if found < 8 {
        tx.execute_batch(SCHEMA_V8)?;
    }
    if found < 9 {
        tx.execute_batch(SCHEMA_V9)?;
    }
    if found < 10 {
        tx.execute_batch(SCHEMA_V10)?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        info!(
            from = found,
            to = SCHEMA_VERSION,
            "metadata schema migrated"
        );
    }
    tx.commit()?;
    Ok(())
}

/// SQLite's counter of commits made by other connections to the same database.
fn data_version(conn: &Connection) -> Result<i64, MetaError> {
    Ok(conn.pragma_query_value(None, "data_version", |row| row.get(0))?)
}

fn load_active_tokens(conn: &Connection) -> Result<HashMap<String, CachedToken>, MetaError> {
    let mut statement = conn.prepare(
        "SELECT id, tenant, name, scopes, hash, created_at, datasources FROM tokens WHERE revoked_at IS NULL",
    )?;
    let mut rows = statement.query([])?;
    let mut tokens = HashMap::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let scopes_text: String = row.get(3)?;
        let hash_bytes: Vec<u8> = row.get(4)?;
        let hash: SecretHash = hash_bytes.as_slice().try_into().map_err(|_| {
            MetaError::Corrupt(format!(
                "token {id:?} has a {}-byte hash, expected 32",
                hash_bytes.len()
            ))
        })?;
        let info = TokenInfo {
            scopes: scopes_from_text(&id, &scopes_text)?,
            id: id.clone(),
            tenant: parse_tenant(row.get(1)?)?,
            name: row.get(2)?,
            created_at: row.get(5)?,
            datasources: datasources_from_text(row.get(6)?),
        };
        tokens.insert(id, CachedToken { hash, info });
    }
    Ok(tokens)
}

fn datasources_from_text(text: Option<String>) -> Option<Vec<String>> {
    text.map(|t| {
        t.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

fn scopes_to_text(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    names.join(",")
}

fn scopes_from_text(id: &str, text: &str) -> Result<Vec<Scope>, MetaError> {
    let scopes = Scope::parse_list(text).map_err(|error| {
        MetaError::Corrupt(format!("token {id:?} has scopes {text:?}: {error}"))
    })?;
    if scopes.is_empty() {
        return Err(MetaError::Corrupt(format!("token {id:?} has no scopes")));
    }
    Ok(scopes)
}

fn parse_tenant(id: String) -> Result<TenantId, MetaError> {
    TenantId::new(id.clone())
        .map_err(|error| MetaError::Corrupt(format!("stored tenant ID {id:?}: {error}")))
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A per-tenant count limit, as [`check_count_limit`] names it when it is reached.
pub(crate) struct CountLimit {
    /// Stable reason ID.
    pub reason: &'static str,
    /// What is counted.
    pub kind: &'static str,
    /// The limit's name in the limits API.
    pub limit_name: &'static str,
    /// Its value.
    pub limit: u64,
}

/// Refuses with [`MetaError::LimitReached`] when `count_sql` (one `?1`, the tenant)
/// counts `limit.limit` rows or more. Run it in the transaction (or under the lock) of
/// the insert it guards, so concurrent inserts cannot pass the limit together.
pub(crate) fn check_count_limit(
    conn: &rusqlite::Connection,
    count_sql: &str,
    tenant: &TenantId,
    limit: CountLimit,
) -> Result<(), MetaError> {
    let count: i64 = conn.query_row(count_sql, params![tenant.as_str()], |row| row.get(0))?;
    let count = count.max(0) as u64;
    if count >= limit.limit {
        return Err(MetaError::LimitReached {
            reason: limit.reason,
            tenant: tenant.to_string(),
            kind: limit.kind,
            limit_name: limit.limit_name,
            limit: limit.limit,
            count,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
