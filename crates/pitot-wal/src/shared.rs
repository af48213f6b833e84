//! The state shared between appenders, waiters and the writer thread.
//!
//! Two mutexes, so appenders and waiters never contend: [`State`] is the appenders' side (the
//! queue of framed records and the bookkeeping of sequence numbers and segments), [`Durable`] is
//! the writer's side (what is on disk). `Durable` is mirrored into a `tokio::sync::watch` for
//! async waiters; blocking waiters use a condvar.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::error::WalError;
use crate::segment::FILE_HEADER_LEN;
use crate::WalOptions;

/// Everything [`crate::Wal`] and its writer thread share.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub options: WalOptions,
    /// Appenders' side: the pending queue and the append bookkeeping.
    pub state: Mutex<State>,
    /// Wakes the writer when the queue gets work or shutdown is requested.
    pub work: Condvar,
    /// Writer's side: what is durable. Blocking waiters wait on `durable_changed`.
    pub durable: Mutex<Durable>,
    pub durable_changed: Condvar,
    /// The same as `durable`, for async waiters.
    pub durable_tx: watch::Sender<Durable>,
    pub counters: Counters,
}

impl Shared {
    pub(crate) fn new(dir: PathBuf, options: WalOptions) -> Self {
        let (durable_tx, _) = watch::channel(Durable::default());
        Shared {
            dir,
            options,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            durable: Mutex::new(Durable::default()),
            durable_changed: Condvar::new(),
            durable_tx,
            counters: Counters::default(),
        }
    }

    /// Updates the durable state and wakes blocking and async waiters.
    pub(crate) fn publish(&self, update: impl FnOnce(&mut Durable)) {
        let mut durable = self.durable.lock();
        update(&mut durable);
        self.durable_tx.send_replace(durable.clone());
        drop(durable);
        self.durable_changed.notify_all();
    }
}

/// Where the WAL is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    #[default]
    AwaitingReplay,
    Replaying,
    Open,
    Closed,
}

/// The appenders' side of the shared state.
#[derive(Default)]
pub(crate) struct State {
    pub phase: Phase,
    /// Set when the writer failed; appends are refused from then on.
    pub failure: Option<Arc<str>>,
    /// Batches not yet taken by the writer, in append order.
    pub queue: VecDeque<Batch>,
    /// Emptied buffers handed back by the writer.
    pub spare: Vec<Vec<u8>>,
    /// Sequence number of the last appended record (the first record gets 1).
    pub last_seq: u64,
    /// The segment new appends go to (the writer may still be on an earlier one).
    pub segment: u64,
    /// Bytes that `segment` holds once everything queued for it is written.
    pub segment_fill: u64,
    /// Asks the writer to drain the queue and stop.
    pub shutdown: bool,
}

impl State {
    /// Returns an error unless records may be appended now.
    pub(crate) fn check_writable(&self, dir: &Path) -> Result<(), WalError> {
        if let Some(reason) = &self.failure {
            return Err(WalError::Poisoned {
                reason: Arc::clone(reason),
            });
        }
        match self.phase {
            Phase::Open => Ok(()),
            Phase::AwaitingReplay | Phase::Replaying => Err(WalError::NotReplayed {
                dir: dir.to_path_buf(),
            }),
            Phase::Closed => Err(WalError::Closed {
                dir: dir.to_path_buf(),
            }),
        }
    }

    /// The batch new records go into, creating it when the last one is sealed by a rotation.
    pub(crate) fn open_batch(&mut self) -> &mut Batch {
        let sealed = self
            .queue
            .back()
            .is_none_or(|batch| batch.rotate_to.is_some());
        if sealed {
            let bytes = self.spare.pop().unwrap_or_default();
            self.queue.push_back(Batch {
                bytes,
                last_seq: self.last_seq,
                rotate_to: None,
            });
        }
        let last = self.queue.len() - 1;
        &mut self.queue[last]
    }

    /// Books a frame of `frame_len` bytes just written into the open batch; rotates once the
    /// segment reaches `segment_size`. Returns the record's sequence number.
    pub(crate) fn finish_record(&mut self, frame_len: u64, segment_size: u64) -> u64 {
        self.last_seq += 1;
        let seq = self.last_seq;
        if let Some(batch) = self.queue.back_mut() {
            batch.last_seq = seq;
        }
        self.segment_fill += frame_len;
        if self.segment_fill >= segment_size {
            self.rotate();
        }
        seq
    }

    /// Seals the open batch so the writer switches segments after it; returns the new segment.
    pub(crate) fn rotate(&mut self) -> u64 {
        let next = self.segment + 1;
        self.open_batch().rotate_to = Some(next);
        self.segment = next;
        self.segment_fill = FILE_HEADER_LEN;
        next
    }
}

/// Records queued for the writer: framed bytes, then optionally a segment switch.
pub(crate) struct Batch {
    pub bytes: Vec<u8>,
    /// Sequence number of the last record in `bytes` (or before it, if `bytes` is empty).
    pub last_seq: u64,
    /// After writing `bytes`, fsync and continue in this new segment.
    pub rotate_to: Option<u64>,
}

/// What the writer has made durable; readers compare a ticket against it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Durable {
    /// Every record with a sequence number up to this one is written and fsynced.
    pub seq: u64,
    /// The segment the writer has created and writes to.
    pub segment: u64,
    /// Set when a write or fsync failed.
    pub failure: Option<Arc<str>>,
    /// The writer thread has exited.
    pub stopped: bool,
}

/// Where a wait for durability stands.
pub(crate) enum Outcome {
    Pending,
    Done,
    Failed(Arc<str>),
    Stopped,
}

impl Durable {
    /// Whether the record with sequence number `seq` is durable, or never will be.
    pub(crate) fn record_outcome(&self, seq: u64) -> Outcome {
        self.outcome(self.seq >= seq)
    }

    /// Whether the writer has switched to segment `segment`, or never will.
    pub(crate) fn segment_outcome(&self, segment: u64) -> Outcome {
        self.outcome(self.segment >= segment)
    }

    fn outcome(&self, reached: bool) -> Outcome {
        if reached {
            Outcome::Done
        } else if let Some(reason) = &self.failure {
            Outcome::Failed(Arc::clone(reason))
        } else if self.stopped {
            Outcome::Stopped
        } else {
            Outcome::Pending
        }
    }
}

/// Counters behind [`crate::WalStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub fsyncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub records_appended: AtomicU64,
    pub current_segment: AtomicU64,
    pub segment_files: AtomicU64,
}
