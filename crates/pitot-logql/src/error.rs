//! The crate's one error type, with a closed set of kinds the HTTP layer maps to status
//! codes.

use pitot_storage_api::StorageError;

/// A query that does not parse, with the position Loki reports (`line 1, col 23`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {msg}")]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub col: usize,
    /// What is wrong, in Loki's words where they are known (`syntax error: unexpected ...`).
    pub msg: String,
}

impl ParseError {
    /// Builds an error at a byte offset of `src`.
    pub fn at(src: &str, offset: usize, msg: impl Into<String>) -> Self {
        let offset = offset.min(src.len());
        let before = &src[..floor_char_boundary(src, offset)];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(i) => before[i + 1..].chars().count() + 1,
            None => before.chars().count() + 1,
        };
        ParseError {
            line,
            col,
            msg: msg.into(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What kind of failure a [`LogqlError`] is, so callers can choose a status code
/// without matching on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query is malformed or invalid (HTTP 400).
    BadQuery,
    /// A query limit was hit; the message names the limit (HTTP 400).
    Limit,
    /// The query ran out of time or was cancelled (HTTP 503/504).
    Timeout,
    /// Evaluation failed on data, e.g. a pipeline error reached a metric result (HTTP 400,
    /// as Loki answers).
    Execution,
    /// Storage failed (HTTP 500).
    Storage,
}

/// Every failure of parsing or evaluating a LogQL query.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogqlError {
    /// The query does not parse or is not valid LogQL.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The query is syntactically fine but not allowed (bad parameters, wrong types).
    #[error("{0}")]
    Invalid(String),
    /// A limit was exceeded; `limit` names the setting to raise.
    #[error("{message} (limit: {limit})")]
    Limit {
        /// The option name, e.g. `max_series`.
        limit: &'static str,
        /// What happened.
        message: String,
    },
    /// The query took longer than its timeout.
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The requester went away (the client disconnected) and the query was stopped.
    #[error("query was canceled")]
    Canceled,
    /// A pipeline error (`__error__`) reached a metric result, or evaluation failed.
    #[error("{0}")]
    Execution(String),
    /// The storage layer failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl LogqlError {
    /// The kind, for mapping to HTTP status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LogqlError::Parse(_) | LogqlError::Invalid(_) => ErrorKind::BadQuery,
            LogqlError::Limit { .. } => ErrorKind::Limit,
            LogqlError::Timeout(_) | LogqlError::Canceled => ErrorKind::Timeout,
            LogqlError::Execution(_) => ErrorKind::Execution,
            LogqlError::Storage(_) => ErrorKind::Storage,
        }
    }

    /// Suggested HTTP status code (Loki's choices).
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::BadQuery | ErrorKind::Limit | ErrorKind::Execution => 400,
            ErrorKind::Timeout => 504,
            ErrorKind::Storage => 500,
        }
    }
}

impl From<StorageError> for LogqlError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::LimitExceeded(m) => LogqlError::Limit {
                limit: "storage",
                message: m,
            },
            other => LogqlError::Storage(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let e = ParseError::at("{a=\"b\"}\n  | x", 10, "syntax error: unexpected x");
        assert_eq!(e.line, 2);
        assert_eq!(e.col, 3);
        assert_eq!(
            e.to_string(),
            "parse error at line 2, col 3: syntax error: unexpected x"
        );
    }
}
