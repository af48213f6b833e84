//! The runtime-overrides file: per-tenant limits an operator changes while Pitot runs.
//!
//! ```yaml
//! overrides:
//!   team-a:
//!     ingestion_rate: 50000
//!     max_global_series_per_user: 1000000
//!   team-b:
//!     max_query_length: 7d
//! ```

use std::collections::BTreeMap;

use pitot_core::TenantId;
use serde::Deserialize;

pub use crate::tenant_limits::LimitOverrides;

/// A parsed runtime-overrides file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeFile {
    /// Per-tenant overrides.
    pub overrides: BTreeMap<TenantId, LimitOverrides>,
}

/// Why a runtime-overrides file was not applied (the previous one stays in force).
#[derive(Debug, thiserror::Error)]
#[error("runtime overrides file: {0}")]
pub struct OverridesError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    overrides: BTreeMap<String, serde_yaml::Value>,
}

/// Parses the file; errors name the tenant and the field at fault.
pub fn parse_runtime_file(text: &str) -> Result<RuntimeFile, OverridesError> {
    if text.trim().is_empty() {
        return Ok(RuntimeFile::default());
    }
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| OverridesError(e.to_string()))?;
    let mut out = RuntimeFile::default();
    for (tenant, value) in raw.overrides {
        let id = TenantId::new(tenant.clone())
            .map_err(|e| OverridesError(format!("tenant {tenant:?}: {e}")))?;
        let o: LimitOverrides = serde_yaml::from_value(value)
            .map_err(|e| OverridesError(format!("tenant {tenant:?}: {e}")))?;
        o.validate()
            .map_err(|e| OverridesError(format!("tenant {tenant:?}: {e}")))?;
        out.overrides.insert(id, o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_errors() {
        let f = parse_runtime_file(
            "overrides:\n  a:\n    ingestion_rate: 5\n  b:\n    max_query_length: 7d\n",
        )
        .unwrap();
        assert_eq!(f.overrides.len(), 2);
        assert_eq!(
            f.overrides[&TenantId::new("a").unwrap()].ingestion_rate,
            Some(5.0)
        );
        assert_eq!(parse_runtime_file("").unwrap(), RuntimeFile::default());
        let err = parse_runtime_file("overrides:\n  a:\n    bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"a\"") && err.contains("bogus"), "{err}");
        let err = parse_runtime_file("overrides:\n  a:\n    ingestion_rate: -3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ingestion_rate"), "{err}");
        assert!(parse_runtime_file("limits: {}").is_err());
    }
}
