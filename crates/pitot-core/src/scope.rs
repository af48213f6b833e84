use std::fmt;
use std::str::FromStr;

/// What a token may do. Every endpoint names the scope it needs; `admin` grants all of them
/// within the token's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Push metrics.
    MetricsWrite,
    /// Query metrics.
    MetricsRead,
    /// Push logs.
    LogsWrite,
    /// Query logs.
    LogsRead,
    /// Upload and delete rules.
    RulesWrite,
    /// Read rules.
    RulesRead,
    /// Change alertmanager configuration and silences.
    AlertsWrite,
    /// Read alerts and alertmanager state.
    AlertsRead,
    /// Manage the tenant's tokens and settings; implies every other scope.
    Admin,
}

/// A scope string that Pitot does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known: metrics:write, metrics:read, logs:write, logs:read, rules:write, rules:read, alerts:write, alerts:read, admin)")]
pub struct ScopeError(pub String);

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 9] = [
        Scope::MetricsWrite,
        Scope::MetricsRead,
        Scope::LogsWrite,
        Scope::LogsRead,
        Scope::RulesWrite,
        Scope::RulesRead,
        Scope::AlertsWrite,
        Scope::AlertsRead,
        Scope::Admin,
    ];

    /// The wire name, as in `metrics:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MetricsWrite => "metrics:write",
            Scope::MetricsRead => "metrics:read",
            Scope::LogsWrite => "logs:write",
            Scope::LogsRead => "logs:read",
            Scope::RulesWrite => "rules:write",
            Scope::RulesRead => "rules:read",
            Scope::AlertsWrite => "alerts:write",
            Scope::AlertsRead => "alerts:read",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated list such as `metrics:write,metrics:read`.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, ScopeError> {
        let mut scopes = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope: Scope = part.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ScopeError(s.to_string()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_scope_and_rejects_unknown() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert_eq!(
            Scope::parse_list("metrics:write, metrics:read,metrics:write").unwrap(),
            vec![Scope::MetricsWrite, Scope::MetricsRead]
        );
        assert!(Scope::parse_list("metrics:delete").is_err());
    }
}
