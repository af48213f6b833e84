use std::path::PathBuf;

/// Why a metadata operation failed.
///
/// The first three variants are the caller's doing (the HTTP layer answers 409, 404 and
/// 400); the rest mean the store itself is broken (500).
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
