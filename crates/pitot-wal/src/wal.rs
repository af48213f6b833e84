//! [`Wal`]: the handle appenders, waiters and the TSDB's recovery share.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::{ReplayError, WalError};
use crate::frame::{self, FRAME_HEADER_LEN};
use crate::replay::{self, Recovered};
use crate::segment::{self, FILE_HEADER_LEN};
use crate::shared::{Outcome, Phase, Shared};
use crate::writer;
use crate::{checkpoint, ReplayStats, WalStats};

/// Default [`WalOptions::segment_size`]: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// How a [`Wal`] lays out and syncs its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed and a new one started once it reaches this many bytes. Segments end
    /// at record boundaries, so one may exceed this by its last record.
    pub segment_size: u64,
    /// Fsync segments, checkpoints and the directory. Only benches should turn this off: without
    /// it a ticket being "durable" means written to the OS page cache, not to disk.
    pub fsync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            fsync: true,
        }
    }
}

/// Identifies an appended record so its caller can wait until it is durable.
///
/// Tickets are ordered like the appends that returned them; a durable ticket implies every
/// smaller one is durable too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

impl Ticket {
    /// The record's sequence number since the WAL was opened, starting at 1.
    pub fn sequence(self) -> u64 {
        self.0
    }
}

/// The write-ahead log of one directory.
///
/// `Send + Sync`: share it behind an `Arc` between tokio tasks and threads. Lifecycle:
/// [`Wal::open`], then [`Wal::replay`] exactly once, then appends, then [`Wal::close`] (or drop).
pub struct Wal {
    shared: Arc<Shared>,
    /// The writer thread, once replay has started it.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The newest checkpoint on disk; the lock also keeps checkpoints from running concurrently.
    newest_checkpoint: Mutex<Option<u64>>,
}

impl Wal {
    /// Opens or creates the directory. Does not read records yet: call [`Wal::replay`] next.
    ///
    /// Two `Wal`s must never use one directory at the same time; nothing here detects it.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<Wal, WalError> {
        let dir = dir.as_ref().to_path_buf();
        let existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(WalError::io("create directory", &dir))?;
        if !existed && options.fsync {
            // Make the new directory's own entry durable, not only the files inside it.
            let parent = match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            segment::sync_dir(parent)?;
        }
        Ok(Wal {
            shared: Arc::new(Shared::new(dir, options)),
            writer: Mutex::new(None),
            newest_checkpoint: Mutex::new(None),
        })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Replays the newest checkpoint (if any), then every segment at or after it, in order,
    /// calling `f` with each record payload.
    ///
    /// A torn or corrupt tail (short frame, bad checksum, bad length, bad file header) is cut
    /// off with a `warn` naming the segment and offset, and every later segment is removed: its
    /// records were written after ones that are now lost. Leftover temp checkpoints, superseded
    /// checkpoints and segments a checkpoint replaced are removed too. A corrupt checkpoint is an
    /// error, not a truncation. Never panics on bad data.
    ///
    /// Must be called once before the first append; appends then go to a fresh segment after the
    /// last one. If `f` fails, replay stops, nothing is truncated, and replay may be retried.
    pub fn replay<E>(
        &self,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<ReplayStats, ReplayError<E>> {
        {
            let mut state = self.shared.state.lock();
            match state.phase {
                Phase::AwaitingReplay => state.phase = Phase::Replaying,
                Phase::Replaying | Phase::Open => return Err(self.already_replayed().into()),
                Phase::Closed => return Err(self.closed().into()),
            }
        }
        let result = replay::run(&self.shared.dir, self.shared.options.fsync, &mut f)
            .and_then(|recovered| self.start(recovered).map_err(ReplayError::Wal));
        if result.is_err() {
            let mut state = self.shared.state.lock();
            if state.phase == Phase::Replaying {
                state.phase = Phase::AwaitingReplay;
            }
        }
        result
    }

    /// Creates the first segment after replay and starts the writer thread on it.
    fn start(&self, recovered: Recovered) -> Result<ReplayStats, WalError> {
        let next = recovered.stats.next_segment;
        let file = segment::create_segment(&self.shared.dir, next, self.shared.options.fsync)?;
        *self.newest_checkpoint.lock() = recovered.checkpoint;
        let counters = &self.shared.counters;
        counters
            .segment_files
            .store(recovered.segment_files + 1, Ordering::Relaxed);
        counters.current_segment.store(next, Ordering::Relaxed);
        self.shared.publish(|durable| durable.segment = next);

        let mut writer = self.writer.lock();
        let mut state = self.shared.state.lock();
        if state.phase != Phase::Replaying {
            // Closed while replaying.
            return Err(self.closed());
        }
        *writer = Some(writer::spawn(Arc::clone(&self.shared), file, next)?);
        state.phase = Phase::Open;
        state.segment = next;
        state.segment_fill = FILE_HEADER_LEN;
        Ok(recovered.stats)
    }

    /// Enqueues one record. Records become durable in the order of append calls.
    ///
    /// Cheap: copies the record into the pending buffer under a short mutex and wakes the writer.
    /// The record is not durable until [`Wal::wait_durable`] for its ticket returns `Ok`.
    pub fn append(&self, record: &[u8]) -> Result<Ticket, WalError> {
        frame::check_len(record.len())?;
        let mut state = self.shared.state.lock();
        state.check_writable(&self.shared.dir)?;
        frame::encode(&mut state.open_batch().bytes, record);
        let frame_len = (FRAME_HEADER_LEN + record.len()) as u64;
        let seq = state.finish_record(frame_len, self.shared.options.segment_size);
        drop(state);
        self.appended();
        Ok(Ticket(seq))
    }

    /// Like [`Wal::append`], but `encode` writes the record straight into the WAL's buffer, so
    /// no intermediate `Vec` is needed.
    ///
    /// `encode` must only append to the vector it is given, and runs under the WAL's append
    /// mutex: keep it short and never call back into this `Wal` from it. If it panics or
    /// produces an empty or oversized record, nothing is enqueued.
    pub fn append_with(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<Ticket, WalError> {
        let mut state = self.shared.state.lock();
        state.check_writable(&self.shared.dir)?;
        let frame_len = {
            let buf = &mut state.open_batch().bytes;
            let start = frame::begin(buf);
            let mut frame = Unfinished {
                buf,
                start,
                done: false,
            };
            encode(frame.buf);
            assert!(
                frame.buf.len() >= start + FRAME_HEADER_LEN,
                "append_with encoder removed bytes it did not write"
            );
            frame::check_len(frame.buf.len() - start - FRAME_HEADER_LEN)?;
            frame::finish(frame.buf, start);
            frame.done = true;
            frame.buf.len() - start
        };
        let seq = state.finish_record(frame_len as u64, self.shared.options.segment_size);
        drop(state);
        self.appended();
        Ok(Ticket(seq))
    }

    /// Wakes the writer and counts the record.
    fn appended(&self) {
        self.shared.work.notify_one();
        self.shared
            .counters
            .records_appended
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once the record of `ticket`, and every record appended before it, is written and
    /// fsynced.
    ///
    /// Group commit: one fsync covers every record enqueued before it started, so concurrent
    /// pushes share fsyncs. Fails if the write or fsync failed; the WAL is then poisoned and
    /// later appends fail too, as durability can no longer be promised.
    pub async fn wait_durable(&self, ticket: Ticket) -> Result<(), WalError> {
        let mut durable = self.shared.durable_tx.subscribe();
        let outcome = match durable
            .wait_for(|durable| !matches!(durable.record_outcome(ticket.0), Outcome::Pending))
            .await
        {
            Ok(durable) => durable.record_outcome(ticket.0),
            // The sender lives in `self.shared`, so this cannot happen while `self` is borrowed.
            Err(_) => Outcome::Stopped,
        };
        self.result(outcome)
    }

    /// [`Wal::wait_durable`] for threads that are not async.
    pub fn wait_durable_blocking(&self, ticket: Ticket) -> Result<(), WalError> {
        let mut durable = self.shared.durable.lock();
        loop {
            match durable.record_outcome(ticket.0) {
                Outcome::Pending => self.shared.durable_changed.wait(&mut durable),
                outcome => return self.result(outcome),
            }
        }
    }

    /// Ends the current segment and starts a new one; returns the new segment's index.
    ///
    /// Records appended after this call returns land in the new segment or later. Blocks until
    /// the writer has fsynced the old segment and created the new one (call it from
    /// `spawn_blocking` in async code), so the segments below the returned index are complete.
    pub fn rotate(&self) -> Result<u64, WalError> {
        let next = {
            let mut state = self.shared.state.lock();
            state.check_writable(&self.shared.dir)?;
            state.rotate()
        };
        self.shared.work.notify_one();
        let mut durable = self.shared.durable.lock();
        loop {
            match durable.segment_outcome(next) {
                Outcome::Pending => self.shared.durable_changed.wait(&mut durable),
                outcome => return self.result(outcome).map(|()| next),
            }
        }
    }

    /// Writes a checkpoint that replaces every segment with index below `segment`.
    ///
    /// The records are written to a temp file, fsynced, renamed to `checkpoint.<segment>` and
    /// the directory fsynced; when this returns `Ok` the checkpoint is durable and replay starts
    /// from it: checkpoint records, then segments at or after `segment`. Segments below
    /// `segment` and older checkpoints are then deleted (best effort; replay removes leftovers).
    ///
    /// `segment` is usually the index [`Wal::rotate`] returned; it may not be past the current
    /// segment nor older than an existing checkpoint. Records must follow the append length rules.
    pub fn checkpoint(
        &self,
        segment: u64,
        records: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<(), WalError> {
        let mut newest = self.newest_checkpoint.lock();
        let current = {
            let state = self.shared.state.lock();
            state.check_writable(&self.shared.dir)?;
            state.segment
        };
        if segment > current {
            return Err(WalError::CheckpointAhead { segment, current });
        }
        if let Some(existing) = *newest {
            if segment < existing {
                return Err(WalError::CheckpointNotNewer { segment, existing });
            }
        }
        let fsync = self.shared.options.fsync;
        checkpoint::write(&self.shared.dir, segment, records, fsync)?;
        *newest = Some(segment);
        let removed = checkpoint::remove_replaced(&self.shared.dir, segment, fsync);
        self.shared
            .counters
            .segment_files
            .fetch_sub(removed, Ordering::Relaxed);
        Ok(())
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> WalStats {
        let counters = &self.shared.counters;
        WalStats {
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
            bytes_written: counters.bytes_written.load(Ordering::Relaxed),
            records_appended: counters.records_appended.load(Ordering::Relaxed),
            current_segment: counters.current_segment.load(Ordering::Relaxed),
            segment_files: counters.segment_files.load(Ordering::Relaxed),
            durable_sequence: self.shared.durable.lock().seq,
        }
    }

    /// Writes and fsyncs everything pending, then stops the writer thread (graceful shutdown).
    ///
    /// Later appends fail with [`WalError::Closed`]. Returns the poisoning error if a write or
    /// fsync failed at any point. Calling it again is harmless.
    pub fn close(&self) -> Result<(), WalError> {
        {
            let mut state = self.shared.state.lock();
            state.phase = Phase::Closed;
            state.shutdown = true;
        }
        self.shared.work.notify_all();
        let mut writer = self.writer.lock();
        if let Some(handle) = writer.take() {
            // A panic was already reported to waiters by the writer's stop guard.
            let _ = handle.join();
        }
        drop(writer);
        match &self.shared.durable.lock().failure {
            Some(reason) => Err(WalError::Poisoned {
                reason: Arc::clone(reason),
            }),
            None => Ok(()),
        }
    }

    fn result(&self, outcome: Outcome) -> Result<(), WalError> {
        match outcome {
            Outcome::Done => Ok(()),
            Outcome::Failed(reason) => Err(WalError::Poisoned { reason }),
            Outcome::Pending | Outcome::Stopped => Err(self.closed()),
        }
    }

    fn closed(&self) -> WalError {
        WalError::Closed {
            dir: self.dir_buf(),
        }
    }

    fn already_replayed(&self) -> WalError {
        WalError::AlreadyReplayed {
            dir: self.dir_buf(),
        }
    }

    fn dir_buf(&self) -> PathBuf {
        self.shared.dir.clone()
    }
}

impl Drop for Wal {
    /// Flushes what is pending and stops the writer thread; errors are only logged.
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::warn!(dir = %self.shared.dir.display(), error = %error, "wal closed with an error");
        }
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// A frame being encoded in place; removed from the buffer again unless it was finished, so an
/// encoder that panics or a record that is rejected leaves no partial frame behind.
struct Unfinished<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    done: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.buf.truncate(self.start);
        }
    }
}
