use std::path::PathBuf;

/// Why a metadata operation failed.
///
/// The first four variants are the caller's doing (the HTTP layer answers 409, 404, 400
/// and 400); the rest mean the store itself is broken (500).
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A record with this name exists already; nothing was changed.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// What kind of record: `"tenant"`.
        kind: &'static str,
        /// The name that is taken.
        name: String,
    },
    /// A record the operation depends on does not exist; nothing was changed.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// What kind of record: `"tenant"`.
        kind: &'static str,
        /// The name that was looked for.
        name: String,
    },
    /// An argument is out of bounds; nothing was changed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The argument at fault, such as `"scopes"` or `"name"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The tenant already has as many records of this kind as its limit allows; nothing
    /// was changed. The count and the write happen in one transaction, so concurrent
    /// creations can never pass the limit together.
    #[error("{reason}: tenant {tenant} has {count} {kind}s, the most its limit {limit_name} ({limit}) allows; delete one, or ask the operator to raise the limit")]
    LimitReached {
        /// Stable reason ID, such as `per-tenant-tokens-limit`.
        reason: &'static str,
        /// The tenant.
        tenant: String,
        /// What kind of record: `"token"`.
        kind: &'static str,
        /// The per-tenant limit's name, as the limits API spells it.
        limit_name: &'static str,
        /// The limit's value.
        limit: u64,
        /// How many the tenant has.
        count: u64,
    },
    /// The database file could not be opened or prepared.
    #[error("cannot open metadata database {path:?}: {source}")]
    Open {
        /// The file that was opened.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Pitot whose schema this binary does not know.
    #[error("metadata schema version {found} is newer than {supported}, the newest this binary supports")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this binary can use.
        supported: i64,
    },
    /// A stored value cannot be read back (a bad tenant ID, scope or hash in a row).
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// SQLite failed while running a statement.
    #[error("metadata database error: {0}")]
    Database(#[from] rusqlite::Error),
}
