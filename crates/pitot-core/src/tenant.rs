use std::fmt;

/// Most characters a tenant ID may have (Mimir's limit), so that IDs fit in paths and
/// headers everywhere.
pub const MAX_TENANT_ID_LEN: usize = 150;

/// The isolation unit: every stored byte, limit and counter belongs to exactly one tenant.
///
/// The ID is used as a directory name and an object-store prefix, so only characters that
/// are safe in both are accepted (the set Mimir accepts).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(pub(crate) String);

/// Debug output is the quoted ID (`"team-a"`), as for a string: messages that quote a
/// tenant with `{:?}` reach users, who should not read `TenantId("team-a")`.
impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Why a string is not a valid tenant ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    /// The ID is empty.
    #[error("tenant ID is empty")]
    Empty,
    /// The ID is longer than [`MAX_TENANT_ID_LEN`].
    #[error("tenant ID is {0} characters long, the maximum is {MAX_TENANT_ID_LEN}")]
    TooLong(usize),
    /// The ID holds a character outside `[a-zA-Z0-9!-_.*'()]`.
    #[error("tenant ID {id:?} holds the unsupported character {ch:?} (allowed: letters, digits and !-_.*'())")]
    BadChar {
        /// The rejected ID.
        id: String,
        /// The first offending character.
        ch: char,
    },
    /// `.` and `..` would escape the directory of tenants; `logs` is the object-store
    /// directory of the log store, beside the metrics tenants' directories.
    #[error("tenant ID {0:?} is reserved")]
    Reserved(String),
}

/// The top-level object-store directory of log blocks, which no tenant may be named.
pub const RESERVED_LOGS_DIR: &str = "logs";

impl TenantId {
    /// Validates and wraps a tenant ID.
    pub fn new(id: impl Into<String>) -> Result<Self, TenantIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if id.len() > MAX_TENANT_ID_LEN {
            return Err(TenantIdError::TooLong(id.len()));
        }
        if id == "." || id == ".." || id == RESERVED_LOGS_DIR {
            return Err(TenantIdError::Reserved(id));
        }
        if let Some(ch) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c)))
        {
            return Err(TenantIdError::BadChar { id, ch });
        }
        Ok(TenantId(id))
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantId::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_quoted_id() {
        let t = TenantId::new("team-a").unwrap();
        assert_eq!(format!("{t:?}"), "\"team-a\"");
        assert_eq!(format!("{:?}", Some(&t)), "Some(\"team-a\")");
    }

    #[test]
    fn accepts_mimir_charset_and_rejects_paths() {
        assert!(TenantId::new("team-a_1.prod").is_ok());
        assert_eq!(TenantId::new(""), Err(TenantIdError::Empty));
        assert!(matches!(
            TenantId::new("a/b"),
            Err(TenantIdError::BadChar { ch: '/', .. })
        ));
        assert!(matches!(
            TenantId::new(".."),
            Err(TenantIdError::Reserved(_))
        ));
        assert!(matches!(
            TenantId::new("logs"),
            Err(TenantIdError::Reserved(_))
        ));
        assert!(TenantId::new("logs-team").is_ok());
        assert!(matches!(
            TenantId::new("x".repeat(151)),
            Err(TenantIdError::TooLong(151))
        ));
    }
}
