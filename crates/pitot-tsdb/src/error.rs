/// Errors of the metrics storage engine.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// The write-ahead log failed; durability can no longer be promised.
    #[error("write-ahead log: {0}")]
    Wal(#[from] pitot_wal::WalError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Stored data does not decode.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The storage is closed.
    #[error("storage is shut down")]
    Closed,
}
