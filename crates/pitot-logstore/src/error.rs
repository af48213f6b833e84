//! The crate's error type and its mapping onto the storage contract's error.

use pitot_storage_api::StorageError;

/// Everything that can go wrong opening, writing, flushing or reading the log store.
#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    /// The write-ahead log failed; durability can no longer be promised.
    #[error("log write-ahead log: {0}")]
    Wal(#[from] pitot_wal::WalError),
    /// The object store failed.
    #[error("log object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Stored data (a chunk, a block index, a WAL record) does not decode.
    #[error("corrupt log data: {0}")]
    Corrupt(String),
    /// A background task panicked or was cancelled.
    #[error("log store task failed: {0}")]
    Task(String),
}

impl From<LogStoreError> for StorageError {
    fn from(error: LogStoreError) -> Self {
        match error {
            LogStoreError::Corrupt(message) => StorageError::Corrupt(message),
            LogStoreError::ObjectStore(e) => StorageError::Io(e.to_string()),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}
