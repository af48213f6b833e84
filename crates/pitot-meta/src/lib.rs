//! The metadata store: who the tenants are and which tokens may act for them.
//!
//! # What is stored
//!
//! Two kinds of record, behind the [`MetaStore`] trait so that the embedded SQLite
//! implementation ([`SqliteMetaStore`]) and a later PostgreSQL one are interchangeable:
//!
//! - a **tenant**: its validated [`TenantId`] and when it was created;
//! - a **token**: a public id, the tenant it belongs to, its [`Scope`]s, an optional
//!   human-readable name, when it was created and (once revoked) when it was revoked, and
//!   the SHA-256 hash of its secret. Revoked rows are kept for audit but never listed and
//!   never authenticate.
//!
//! # The token format
//!
//! A token as handed to a client reads `pitot_<id>_<secret>`:
//!
//! - `pitot_` is a fixed prefix so that leaked tokens are easy to recognise (secret
//!   scanners, logs);
//! - `<id>` is 16 lowercase hex characters (8 random bytes). It is not secret: it is the
//!   row key, it appears in listings, and `token revoke` takes it;
//! - `<secret>` is 64 lowercase hex characters: 32 bytes (256 bits) from the operating
//!   system's CSPRNG by way of `rand::rng()`.
//!
//! Hex keeps the whole token inside `[a-z0-9_]`, so it survives shells, URLs, basic-auth
//! passwords and double-click selection unchanged, and the `_` separators are unambiguous.
//!
//! # Why only hashes
//!
//! The store keeps `SHA-256(<secret>)`, never the secret: whoever reads the database file
//! or a backup learns nothing that authenticates. The secret is shown once, in the
//! [`CreatedToken`] returned by [`MetaStore::create_token`], and cannot be recovered later.
//! A fast unsalted hash is enough here because the secret is 256 random bits, not a
//! password a person chose: there is no dictionary to try, so a deliberately slow hash
//! (bcrypt, Argon2) would only cost CPU on every request.
//!
//! # How authentication compares
//!
//! [`MetaStore::authenticate`] parses the token (anything malformed is simply "not
//! authenticated", never an error), looks the row up by its public id, hashes the
//! presented secret and compares the two 32-byte digests with
//! [`subtle::ConstantTimeEq`], which looks at every byte whatever the first difference
//! is. Response time therefore reveals nothing about how much of a guessed secret was
//! right. Looking the id up is not constant-time, and need not be: ids are public.
//!
//! # The hot path
//!
//! Authentication runs on every HTTP request, so [`SqliteMetaStore`] keeps every active
//! token (id → hash and [`TokenInfo`]) in memory: it is filled on open and updated by
//! `create_token` and `revoke_token` before they return, so a revoked token stops
//! authenticating at once. Changes written to the same database file by another process
//! (for example the `pitot token` CLI) are noticed through SQLite's `data_version` within
//! about a second. See [`SqliteMetaStore`] for durability.

mod error;
mod metric_metadata;
mod registry;
mod rule_groups;
mod sqlite;
mod token;
mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{DataKind, Origin, Scope, TenantId};
use serde::{Deserialize, Serialize};

pub use error::MetaError;
pub use metric_metadata::MetricMetadataRow;
pub use registry::DatasourceRegistry;
pub use rule_groups::{RuleGroupScope, RuleGroupWrite, RULE_GROUPS_LIMIT_REASON};
pub use sqlite::SqliteMetaStore;
pub use token::{random_secret, TOKEN_ID_BYTES, TOKEN_PREFIX, TOKEN_SECRET_BYTES};
pub use validate::MAX_TOKEN_NAME_LEN;

/// The metadata the rest of Pitot needs about tenants and tokens, whatever database holds it.
///
/// Every method that returns `Ok` has committed its change durably (see the
/// implementation's docs for exactly how). Implementations must be cheap to call from
/// many tasks at once: `authenticate` runs on every HTTP request.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Creates a tenant.
    ///
    /// Fails with [`MetaError::AlreadyExists`] (kind `"tenant"`) if the ID is taken; the
    /// existing tenant is left unchanged.
    async fn create_tenant(&self, id: &TenantId) -> Result<Tenant, MetaError>;

    /// Returns the tenant, or `None` if no tenant has this ID.
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, MetaError>;

    /// Lists every tenant, sorted by ID.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, MetaError>;

    /// Every tenant's limit overrides set through the API, as the JSON object they were
    /// saved as.
    async fn limit_overrides(&self) -> Result<Vec<(TenantId, String)>, MetaError>;

    /// Rule groups of `tenant` (of every tenant with `None`), by tenant, namespace, name.
    async fn list_rule_groups(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<StoredRuleGroup>, MetaError>;

    /// Creates or replaces one rule group (already validated) of a namespace, in one
    /// transaction that also checks the tenant's group limit
    /// ([`MetaError::LimitReached`] for a new group over `write.max_groups`) and that an
    /// existing group of that name is within `scope` ([`MetaError::AlreadyExists`] if
    /// not: a restricted token never replaces a group of another data source).
    async fn put_rule_group(
        &self,
        write: &RuleGroupWrite<'_>,
        scope: &RuleGroupScope,
    ) -> Result<(), MetaError>;

    /// Deletes one group of a namespace, or the whole namespace with `name: None`,
    /// among the groups `scope` allows; returns how many groups were deleted.
    async fn delete_rule_groups(
        &self,
        tenant: &TenantId,
        namespace: &str,
        name: Option<&str>,
        scope: &RuleGroupScope,
    ) -> Result<usize, MetaError>;

    /// Adds usage rows (each keyed by its tenant, data source and hour `start_ms`) to what
    /// is stored, in one transaction: sums, and maxima for peaks and stored bytes.
    async fn add_usage(&self, rows: &[(TenantId, pitot_usage::UsageRow)]) -> Result<(), MetaError>;

    /// Saves metric metadata, replacing what was stored for the same key and family.
    async fn put_metric_metadata(&self, rows: &[MetricMetadataRow]) -> Result<(), MetaError>;

    /// All stored metric metadata, to fill the in-memory copy at start.
    async fn metric_metadata(&self) -> Result<Vec<MetricMetadataRow>, MetaError>;

    /// `tenant`'s hourly usage rows with `from_ms <= hour < to_ms`.
    async fn usage(
        &self,
        tenant: &TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<pitot_usage::UsageRow>, MetaError>;

    /// Every tenant's Alertmanager configuration document (YAML, Mimir's shape).
    async fn alertmanager_configs(&self) -> Result<Vec<(TenantId, String)>, MetaError>;

    /// Saves (or with `None` deletes) `tenant`'s Alertmanager configuration document;
    /// returns whether a row was written or deleted.
    async fn set_alertmanager_config(
        &self,
        tenant: &TenantId,
        document: Option<&str>,
    ) -> Result<bool, MetaError>;

    /// Contact points `(tenant, name, JSON spec)` of one tenant or all.
    async fn contact_points(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, String)>, MetaError>;

    /// Creates or replaces (or with `None` deletes) a contact point; returns whether a
    /// row changed.
    async fn set_contact_point(
        &self,
        tenant: &TenantId,
        name: &str,
        spec: Option<&str>,
    ) -> Result<bool, MetaError>;

    /// `tenant`'s monthly budget, if set.
    async fn budget(&self, tenant: &TenantId) -> Result<Option<f64>, MetaError>;

    /// Sets (or with `None` removes) `tenant`'s monthly budget.
    async fn set_budget(&self, tenant: &TenantId, monthly: Option<f64>) -> Result<(), MetaError>;

    /// Records a budget threshold crossing once; returns whether it is new.
    async fn record_budget_event(
        &self,
        tenant: &TenantId,
        event: &BudgetEvent,
    ) -> Result<bool, MetaError>;

    /// Every budget event of `tenant`, oldest first.
    async fn budget_events(&self, tenant: &TenantId) -> Result<Vec<BudgetEvent>, MetaError>;

    /// Saves (or, with an empty string, removes) `tenant`'s limit overrides, a JSON
    /// object; durable when this returns.
    async fn set_limit_overrides(
        &self,
        tenant: &TenantId,
        overrides: &str,
    ) -> Result<(), MetaError>;

    /// Creates a data source of an existing tenant; [`MetaError::AlreadyExists`] if the
    /// tenant already has one of that name.
    async fn create_datasource(&self, new: NewDataSource) -> Result<DataSource, MetaError>;

    /// Every data source of `tenant`, or of every tenant, sorted by tenant and name.
    async fn list_datasources(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<DataSource>, MetaError>;

    /// Sets the retention of a data source (0: the server's default); `false` if the
    /// tenant has no data source of that name.
    async fn set_datasource_retention(
        &self,
        tenant: &TenantId,
        name: &str,
        retention_ms: i64,
    ) -> Result<bool, MetaError>;

    /// Forgets a data source (its data is the storage engines' to delete); `false` if
    /// the tenant has no data source of that name.
    async fn delete_datasource(&self, tenant: &TenantId, name: &str) -> Result<bool, MetaError>;

    /// Creates a token for an existing tenant and returns its secret, which is never
    /// available again.
    ///
    /// Fails with [`MetaError::NotFound`] (kind `"tenant"`) if the tenant does not exist,
    /// and with [`MetaError::Invalid`] if the scope list is empty or the name is empty,
    /// too long or holds control characters. Duplicate scopes are dropped and the rest
    /// are stored in [`Scope::ALL`] order. The token authenticates as soon as this returns.
    async fn create_token(&self, new: NewToken) -> Result<CreatedToken, MetaError>;

    /// Lists active (not revoked) tokens, of one tenant or of all, sorted by tenant, then
    /// creation time, then id. Never includes secrets or hashes.
    async fn list_tokens(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenInfo>, MetaError>;

    /// Revokes a token by its public id.
    ///
    /// Returns `true` if an active token had this id, `false` if none did (unknown or
    /// already revoked). Once this returns, the token no longer authenticates.
    async fn revoke_token(&self, id: &str) -> Result<bool, MetaError>;

    /// Returns the token's info if `token` is an active token of this store.
    ///
    /// Unknown, revoked or malformed input (empty, truncated, wrong prefix, not hex)
    /// gives `Ok(None)`; an error means the store itself failed. The secret is compared
    /// in constant time.
    async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>, MetaError>;
}

/// How components hold the metadata store without knowing which database is behind it.
pub type MetaStoreRef = Arc<dyn MetaStore>;

/// A rule group as stored: the uploaded YAML of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRuleGroup {
    /// Whose rules.
    pub tenant: TenantId,
    /// The namespace (Mimir's name for a rule file).
    pub namespace: String,
    /// The group's name.
    pub name: String,
    /// The group, as YAML.
    pub yaml: String,
    /// When it was last written (Unix ms).
    pub updated_at: i64,
    /// The data source the group reads; `None` for a group that reads every data
    /// source of its kind (see [`RuleGroupScope`]).
    pub datasource: Option<String>,
}

/// A budget threshold crossed in a month, actually or by projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetEvent {
    /// `YYYY-MM`.
    pub month: String,
    /// 50, 80 or 100.
    pub percent: i64,
    /// `actual` or `projected`.
    pub kind: String,
    /// The cost that crossed it.
    pub cost: f64,
    /// When it was recorded (Unix ms).
    pub at_ms: i64,
}

/// A tenant as the metadata store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's ID; serialized as a plain string.
    pub id: TenantId,
    /// When the tenant was created, in Unix milliseconds (RFC 3339 in JSON).
    #[serde(with = "pitot_core::rfc3339_ms")]
    pub created_at: i64,
}

/// What a caller asks for when creating a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The tenant the token acts for; it must exist.
    pub tenant: TenantId,
    /// What the token may do; must not be empty.
    pub scopes: Vec<Scope>,
    /// A label for people ("grafana", "ci"), shown in listings.
    pub name: Option<String>,
    /// The data sources the token may name (`None`: all of the tenant's).
    pub datasources: Option<Vec<String>>,
    /// The most unrevoked tokens the tenant may hold (its `max_tokens` limit), checked
    /// in the same transaction as the insert; `None` for the operator's own tools.
    pub max_tokens: Option<u64>,
}

/// What a caller asks for when creating a data source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDataSource {
    /// The owner; it must exist.
    pub tenant: TenantId,
    /// Unique within the tenant (see [`pitot_core::validate_datasource_name`]).
    pub name: String,
    /// What it stores.
    pub kind: DataKind,
    /// Who writes it.
    pub origin: Origin,
    /// How long its data is kept (ms); 0 for the server's default.
    pub retention_ms: i64,
    /// The most data sources the tenant may hold (its `max_data_sources` limit, the
    /// three it starts with included), checked in the same transaction as the insert;
    /// `None` for the operator's own tools.
    pub max_datasources: Option<u64>,
}

/// A data source as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    /// The owner.
    pub tenant: TenantId,
    /// Unique within the tenant.
    pub name: String,
    /// What it stores.
    pub kind: DataKind,
    /// Who writes it.
    pub origin: Origin,
    /// How long its data is kept (ms); 0 for the server's default.
    pub retention_ms: i64,
    /// Where storage keeps it: the tenant ID for the tenant's default data sources,
    /// `<tenant>@<name>` otherwise. Fixed at creation.
    pub storage: TenantId,
    /// One of the data sources every tenant starts with (they cannot be deleted).
    pub is_default: bool,
    /// When it was created (Unix ms).
    pub created_at: i64,
}

/// Everything about a token except its secret: what authentication yields and what
/// listings show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The public id, the `<id>` part of `pitot_<id>_<secret>`; `revoke_token` takes it.
    pub id: String,
    /// The tenant the token acts for; serialized as a plain string.
    pub tenant: TenantId,
    /// What the token may do; serialized as strings such as `"metrics:write"`.
    #[serde(with = "scope_strings")]
    pub scopes: Vec<Scope>,
    /// The label given at creation, if any.
    pub name: Option<String>,
    /// When the token was created, in Unix milliseconds (RFC 3339 in JSON).
    #[serde(with = "pitot_core::rfc3339_ms")]
    pub created_at: i64,
    /// The data sources the token may name; `None` for all of the tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasources: Option<Vec<String>>,
}

impl TokenInfo {
    /// Tells whether this token may read or write the data source `name`.
    pub fn allows_datasource(&self, name: &str) -> bool {
        self.datasources
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == name))
    }

    /// Tells whether this token may act with `scope`; `admin` implies every scope.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// A freshly created token: the only moment its secret exists outside the client.
///
/// `Debug` redacts the secret so that logging this value cannot leak it; serializing it
/// (to answer the creating request) includes it, as `token`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CreatedToken {
    /// The token's public info.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The whole token, `pitot_<id>_<secret>`, to hand to the client once.
    #[serde(rename = "token")]
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("info", &self.info)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Serde helpers that write scopes as their wire names rather than enum variant names.
mod scope_strings {
    use pitot_core::Scope;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(scopes: &[Scope], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(scopes.iter().map(|scope| scope.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Scope>, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        let mut scopes = Vec::with_capacity(names.len());
        for name in names {
            scopes.push(name.parse().map_err(serde::de::Error::custom)?);
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(scopes: Vec<Scope>) -> TokenInfo {
        TokenInfo {
            id: "0123456789abcdef".to_string(),
            tenant: TenantId::new("team-a").unwrap(),
            scopes,
            name: Some("ci".to_string()),
            created_at: 1_700_000_000_000,
            datasources: None,
        }
    }

    #[test]
    fn admin_allows_every_scope() {
        let admin = info(vec![Scope::Admin]);
        for scope in Scope::ALL {
            assert!(admin.allows(scope), "admin should allow {scope}");
        }
    }

    #[test]
    fn scopes_do_not_imply_one_another() {
        let writer = info(vec![Scope::MetricsWrite]);
        assert!(writer.allows(Scope::MetricsWrite));
        assert!(!writer.allows(Scope::MetricsRead));
        assert!(!writer.allows(Scope::LogsWrite));
        assert!(!writer.allows(Scope::Admin));
    }

    #[test]
    fn token_info_serializes_scopes_and_tenant_as_strings() {
        let json = serde_json::to_value(info(vec![Scope::MetricsWrite, Scope::Admin])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "0123456789abcdef",
                "tenant": "team-a",
                "scopes": ["metrics:write", "admin"],
                "name": "ci",
                "created_at": "2023-11-14T22:13:20Z",
            })
        );
        let back: TokenInfo = serde_json::from_value(json).unwrap();
        assert_eq!(back, info(vec![Scope::MetricsWrite, Scope::Admin]));
    }

    #[test]
    fn created_token_debug_hides_the_secret() {
        let created = CreatedToken {
            info: info(vec![Scope::Admin]),
            secret: "pitot_0123456789abcdef_supersecret".to_string(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["token"], "pitot_0123456789abcdef_supersecret");
        assert_eq!(json["tenant"], "team-a");
    }
}
