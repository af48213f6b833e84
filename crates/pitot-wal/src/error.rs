//! The crate's error types.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong opening, appending to, rotating or checkpointing the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A filesystem operation failed; `op` says which one ("create segment", "fsync directory", ...).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation that failed, as a short verb phrase.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The record is above [`crate::MAX_RECORD_LEN`].
    #[error("record of {len} bytes is above the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Empty records are not accepted: a zero-length frame is how a zero-filled tail looks after a crash.
    #[error("record is empty")]
    EmptyRecord,
    /// [`crate::Wal::replay`] must run before appending, rotating or checkpointing.
    #[error("wal {} must be replayed before it is written", dir.display())]
    NotReplayed {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// [`crate::Wal::replay`] may run only once per opened WAL.
    #[error("wal {} was already replayed", dir.display())]
    AlreadyReplayed {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// The WAL was closed (or dropped) and takes no more writes.
    #[error("wal {} is closed", dir.display())]
    Closed {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// An earlier write or fsync failed. After a failed fsync the kernel may have dropped the dirty
    /// pages, so nothing written since the last good fsync can be promised durable any more.
    #[error(
        "wal is poisoned by an earlier failure, durability can no longer be promised: {reason}"
    )]
    Poisoned {
        /// The message of the error that poisoned the WAL.
        reason: Arc<str>,
    },
    /// A checkpoint file fails validation. Checkpoints are fsynced before they are renamed into
    /// place, so this is media corruption, not a torn write, and replay refuses to guess.
    #[error("checkpoint {} is corrupt at offset {offset}: {reason}", path.display())]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Byte offset of the first invalid data.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A checkpoint may only replace segments that exist or were written already.
    #[error("checkpoint segment {segment} is after the current segment {current}")]
    CheckpointAhead {
        /// The requested checkpoint segment.
        segment: u64,
        /// The segment appends currently go to.
        current: u64,
    },
    /// Replay uses the newest checkpoint, so an older one would be silently ignored.
    #[error("checkpoint segment {segment} is older than the existing checkpoint {existing}")]
    CheckpointNotNewer {
        /// The requested checkpoint segment.
        segment: u64,
        /// The newest checkpoint on disk.
        existing: u64,
    },
}

impl WalError {
    /// Builds a closure mapping an `io::Error` to [`WalError::Io`], for `map_err`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| WalError::Io { op, path, source }
    }
}

/// The error of [`crate::Wal::replay`]: either the WAL failed or the caller's callback did.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError<E> {
    /// Reading or repairing the WAL failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The callback rejected a record; replay stopped there and repaired nothing.
    #[error("replay callback failed: {0}")]
    Callback(E),
}
