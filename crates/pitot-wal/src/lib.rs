//! The embedded write-ahead log that the metrics TSDB writes every push into before it
//! acknowledges the push.
//!
//! # Durability contract
//!
//! [`Wal::append`] only enqueues; a record is durable once [`Wal::wait_durable`] (or
//! [`Wal::wait_durable_blocking`]) for its [`Ticket`] returns `Ok`: its bytes are written to the
//! segment file and `fdatasync`ed. Records become durable in append order, so a durable ticket
//! implies every earlier ticket is durable. After a crash, [`Wal::replay`] returns every durable
//! record, in order, and possibly some later ones that made it to disk before the crash. If a
//! write or fsync ever fails, the WAL is poisoned: waiters and all later appends get
//! [`WalError::Poisoned`], because after a failed fsync Linux may already have dropped the dirty
//! pages and retrying would report success for data that is gone.
//!
//! # Segments and framing
//!
//! The log is a directory of segment files named by a zero-padded index
//! (`00000000000000000001.seg`). Each starts with a small header (magic, format version, index)
//! followed by frames `[u32 LE length][u32 LE crc32 of payload][payload]`. A new segment is
//! started when the current one reaches [`WalOptions::segment_size`] (at a record boundary) or on
//! [`Wal::rotate`]; the file and the directory are fsynced on creation. Replay never appends to an
//! old segment: after replay, writes go to a fresh segment, so a repaired tail is never written
//! over.
//!
//! A crash can leave a torn frame at the end of the last segment, or zeros where the filesystem
//! extended the file but never wrote the data. Replay stops at the first frame that is short, has
//! a zero or impossible length, or fails its checksum; it truncates the segment there, logs a
//! warning, and removes every later segment, since they come after a hole.
//!
//! # Group commit
//!
//! Appends copy framed bytes into an in-memory queue under a short mutex. One dedicated OS thread
//! takes everything queued, writes it, fsyncs once and publishes the highest durable sequence
//! number (through a `tokio::sync::watch` for async waiters and a condvar for blocking ones).
//! Records appended while an fsync runs share the next one, so under load the fsync count stays
//! far below the append count without any commit delay to tune. The writer is a thread, not a
//! task, so a slow disk never blocks a tokio worker.
//!
//! # Checkpoints
//!
//! The TSDB compacts the log with [`Wal::checkpoint`]: it rotates, then writes the state that
//! the segments before the new one amount to. A checkpoint is written to a temp file, fsynced,
//! renamed into place and the directory fsynced; only then are the segments it replaces deleted.
//! Replay starts from the newest checkpoint and removes anything a crash left half done.

mod checkpoint;
mod error;
mod frame;
mod replay;
mod segment;
mod shared;
mod stats;
mod wal;
mod writer;

pub use error::{ReplayError, WalError};
pub use frame::MAX_RECORD_LEN;
pub use stats::{ReplayStats, WalStats};
pub use wal::{Ticket, Wal, WalOptions, DEFAULT_SEGMENT_SIZE};

#[cfg(test)]
mod tests;
