//! The engine's error type and the closed set of error kinds the HTTP API maps to
//! Prometheus' `errorType` values.

use pitot_storage_api::StorageError;

/// Which class of failure an error is, as the Prometheus HTTP API reports it in
/// `errorType` (`bad_data` → 400, `execution` → 422, `timeout` → 503, `canceled` → 499).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The query does not parse or is semantically invalid.
    BadData,
    /// The query is valid but failed while running (limits, label collisions, storage).
    Execution,
    /// The query ran out of time.
    Timeout,
    /// The query was cancelled by the caller.
    Canceled,
}

impl ErrorKind {
    /// The Prometheus `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
        }
    }
}

/// Everything that can make a query fail. Messages are Prometheus' own wording where
/// clients or the conformance scripts compare them.
#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query text does not parse.
    #[error("{0}")]
    Parse(String),
    /// The query parses but is invalid (wrong argument types, bad parameters).
    #[error("{0}")]
    BadQuery(String),
    /// A runtime failure with Prometheus' message (for example "vector cannot contain
    /// metrics with the same labelset").
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples in memory than `max_samples` allows.
    #[error("query processing would load too many samples into memory in query execution (limit max_samples={limit})")]
    TooManySamples {
        /// The configured limit.
        limit: usize,
    },
    /// The query ran longer than the configured timeout.
    #[error("query timed out in query execution (limit timeout={timeout_ms}ms)")]
    Timeout {
        /// The configured timeout in milliseconds.
        timeout_ms: u128,
    },
    /// Storage failed to read.
    #[error("storage read failed: {0}")]
    Storage(#[from] StorageError),
    /// The requester went away (the client disconnected) and the query was stopped.
    #[error("query was canceled in query execution")]
    Canceled,
}

impl PromqlError {
    /// The error class for the HTTP API.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PromqlError::Parse(_) | PromqlError::BadQuery(_) => ErrorKind::BadData,
            PromqlError::Execution(_)
            | PromqlError::TooManySamples { .. }
            | PromqlError::Storage(_) => ErrorKind::Execution,
            PromqlError::Timeout { .. } => ErrorKind::Timeout,
            PromqlError::Canceled => ErrorKind::Canceled,
        }
    }
}
