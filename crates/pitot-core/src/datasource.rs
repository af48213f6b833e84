//! Data sources: typed stores inside a tenant, each with its own retention and its own
//! place in storage.
//!
//! Storage engines know nothing of data sources: each data source is stored under its
//! own *storage key*, a [`TenantId`] that is the tenant's ID for the tenant's default
//! data source of each type (so data pushed before data sources existed stays where it
//! is) and `<tenant>@<name>` for every other one. `@` is not allowed in tenant IDs (and, unlike `~`, object stores keep it as is), so
//! a storage key can never be a real tenant's ID.

use std::fmt;

use crate::{TenantId, TenantIdError};

/// Separates the tenant from the data source name in a storage key.
pub const STORAGE_KEY_SEPARATOR: char = '@';

/// The default custom metrics data source every tenant starts with.
pub const DEFAULT_METRICS_DATASOURCE: &str = "metrics";
/// The default custom logs data source every tenant starts with.
pub const DEFAULT_LOGS_DATASOURCE: &str = "logs";
/// The managed metrics data source every tenant starts with: Pitot writes the tenant's
/// usage and self-metrics there, free of charge and read-only for the tenant.
pub const MANAGED_METRICS_DATASOURCE: &str = "pitot";

/// Longest data source name.
pub const MAX_DATASOURCE_NAME_LEN: usize = 63;

/// What a data source stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataKind {
    /// Samples, read with PromQL.
    Metrics,
    /// Log lines, read with LogQL.
    Logs,
}

impl DataKind {
    /// The name used in the API and in usage rows.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Metrics => "metrics",
            DataKind::Logs => "logs",
        }
    }

    /// The name of the default custom data source of this kind, which every tenant has.
    pub fn default_datasource(self) -> &'static str {
        match self {
            DataKind::Metrics => DEFAULT_METRICS_DATASOURCE,
            DataKind::Logs => DEFAULT_LOGS_DATASOURCE,
        }
    }

    /// Parses `metrics` or `logs`.
    pub fn parse(s: &str) -> Option<DataKind> {
        match s {
            "metrics" => Some(DataKind::Metrics),
            "logs" => Some(DataKind::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who writes a data source, which decides who pays for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Pushed by the tenant with its own tokens; billed.
    Custom,
    /// Pushed by the platform on the tenant's behalf; free and read-only for the tenant.
    Managed,
}

impl Origin {
    /// The name used in the API and in usage rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Custom => "custom",
            Origin::Managed => "managed",
        }
    }

    /// Parses `custom` or `managed`.
    pub fn parse(s: &str) -> Option<Origin> {
        match s {
            "custom" => Some(Origin::Custom),
            "managed" => Some(Origin::Managed),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid data source name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data source name {0:?} is invalid: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit")]
pub struct DatasourceNameError(pub String);

/// Checks a data source name: short, lowercase, safe in paths, headers and URLs.
pub fn validate_datasource_name(name: &str) -> Result<(), DatasourceNameError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_DATASOURCE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_']);
    if ok {
        Ok(())
    } else {
        Err(DatasourceNameError(name.to_string()))
    }
}

/// Where one push goes, or one of the places a query reads: resolved from the request
/// (token, `X-Pitot-Datasource`, `/ds/<name>/`) before it reaches a distributor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The tenant that owns the data source (limits and usage are the tenant's).
    pub tenant: TenantId,
    /// The data source's name.
    pub datasource: String,
    /// Who writes it (managed data is metered but not billed, and not rate-limited).
    pub origin: Origin,
    /// Where the storage engines keep it.
    pub storage: TenantId,
}

impl Target {
    /// The tenant's default custom data source of `kind`, stored under the tenant's ID.
    pub fn default_for(tenant: &TenantId, kind: DataKind) -> Target {
        Target {
            tenant: tenant.clone(),
            datasource: kind.default_datasource().to_string(),
            origin: Origin::Custom,
            storage: tenant.clone(),
        }
    }
}

impl TenantId {
    /// The storage key of the tenant's non-default data source `name` (a valid name).
    pub fn storage_key(&self, name: &str) -> TenantId {
        TenantId(format!("{}{STORAGE_KEY_SEPARATOR}{name}", self.0))
    }

    /// Parses a storage key as written by [`TenantId::storage_key`], or a plain tenant
    /// ID: what storage engines read back from their WAL records and directories.
    pub fn from_storage_key(key: &str) -> Result<TenantId, TenantIdError> {
        match key.split_once(STORAGE_KEY_SEPARATOR) {
            None => TenantId::new(key),
            Some((tenant, name)) => {
                let tenant = TenantId::new(tenant)?;
                validate_datasource_name(name).map_err(|_| TenantIdError::BadChar {
                    id: key.to_string(),
                    ch: STORAGE_KEY_SEPARATOR,
                })?;
                Ok(tenant.storage_key(name))
            }
        }
    }

    /// The tenant a storage key belongs to (the key itself for a plain tenant ID).
    pub fn owner(&self) -> TenantId {
        match self.0.split_once(STORAGE_KEY_SEPARATOR) {
            None => self.clone(),
            Some((tenant, _)) => TenantId(tenant.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_round_trip_and_never_collide_with_tenants() {
        let t = TenantId::new("acme").unwrap();
        let key = t.storage_key("prod-eu");
        assert_eq!(key.as_str(), "acme@prod-eu");
        assert_eq!(TenantId::from_storage_key("acme@prod-eu").unwrap(), key);
        assert_eq!(key.owner(), t);
        assert_eq!(t.owner(), t);
        assert!(TenantId::new("acme@prod-eu").is_err());
        assert!(TenantId::from_storage_key("acme@Prod").is_err());
        assert!(TenantId::from_storage_key("a/b@x").is_err());
        assert!(TenantId::from_storage_key("acme@").is_err());
        assert_eq!(TenantId::from_storage_key("acme").unwrap(), t);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_datasource_name("prod_1-eu").is_ok());
        for bad in [
            "",
            "-x",
            "_x",
            "Prod",
            "a b",
            "a/b",
            "a~b",
            "a@b",
            &"x".repeat(64),
        ] {
            assert!(validate_datasource_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DataKind::parse("logs"), Some(DataKind::Logs));
        assert_eq!(Origin::parse("managed"), Some(Origin::Managed));
        assert_eq!(DataKind::parse("traces"), None);
    }
}
