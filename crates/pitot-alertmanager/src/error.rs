//! The crate's one error type, mapped once to an HTTP status so every caller answers alike.

/// Everything that can go wrong in the Alertmanager, with messages that name the field or value.
#[derive(Debug, thiserror::Error)]
pub enum AmError {
    /// The configuration document is not valid; the message names the field.
    #[error("invalid alertmanager config: {0}")]
    Config(String),
    /// A label matcher could not be parsed.
    #[error("invalid matcher {input:?}: {reason}")]
    Matcher {
        /// The text that was rejected.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A posted alert is malformed.
    #[error("invalid alert: {0}")]
    InvalidAlert(String),
    /// A posted silence is malformed.
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    /// A query parameter is malformed.
    #[error("invalid parameter {name}: {reason}")]
    BadParam {
        /// The parameter name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The silence does not exist for this tenant.
    #[error("silence {0} not found")]
    SilenceNotFound(String),
    /// The silence has already expired and cannot be expired again.
    #[error("silence {0} already expired")]
    SilenceAlreadyExpired(String),
    /// A notification template could not be parsed or executed.
    #[error("template error: {0}")]
    Template(String),
    /// A notification could not be delivered.
    #[error("notify {integration}: {reason}")]
    Notify {
        /// Which integration failed, such as `webhook[0]`.
        integration: String,
        /// Why it failed.
        reason: String,
    },
    /// A per-tenant limit refuses the write; the message names the setting to raise.
    #[error("{reason}: {message}")]
    LimitExceeded {
        /// The stable reason ID, such as `alertmanager-max-alerts-count`.
        reason: &'static str,
        /// What exceeded which limit.
        message: String,
    },
    /// Reading or writing the state directory failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file that failed.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A state file exists but cannot be decoded.
    #[error("state file {path} is corrupt: {reason}")]
    CorruptState {
        /// The file that failed.
        path: String,
        /// The decoding error.
        reason: String,
    },
}

impl AmError {
    /// The HTTP status the API answers with, so the lead's handlers need no mapping of their own.
    pub fn http_status(&self) -> u16 {
        match self {
            AmError::Config(_)
            | AmError::Matcher { .. }
            | AmError::InvalidAlert(_)
            | AmError::InvalidSilence(_)
            | AmError::BadParam { .. }
            | AmError::Template(_)
            | AmError::LimitExceeded { .. } => 400,
            AmError::SilenceNotFound(_) => 404,
            AmError::SilenceAlreadyExpired(_) => 400,
            AmError::Notify { .. } => 502,
            AmError::Io { .. } | AmError::CorruptState { .. } => 500,
        }
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        AmError::Config(msg.into())
    }
}
