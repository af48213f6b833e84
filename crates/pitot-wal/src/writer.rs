//! The writer thread: group commit.
//!
//! Appenders copy framed records into the [`Batch`] at the back of [`State::queue`](crate::shared::State::queue) under one
//! short mutex and wake the writer. The writer takes the whole queue at once, writes it, fsyncs
//! once, publishes the highest sequence number it made durable and wakes every waiter. While it
//! is in `write`/`fdatasync`, new records pile up in a fresh queue and share the next fsync: that
//! is the whole group commit, with no timer and no tuning knob.
//!
//! A rotation is a marker on a batch: the writer writes that batch, fsyncs, and switches to the
//! new segment before it writes the next batch, so segment boundaries follow append order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::error::WalError;
use crate::segment;
use crate::shared::{Batch, Shared};

/// Spare buffers kept for reuse; more would only hold memory after a burst.
const MAX_SPARE_BUFFERS: usize = 4;
/// Buffers that grew beyond this during a burst are freed rather than kept.
const MAX_SPARE_CAPACITY: usize = 16 * 1024 * 1024;

/// Starts the writer thread on an already created segment.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    file: File,
    segment: u64,
) -> Result<JoinHandle<()>, WalError> {
    let dir = shared.dir.clone();
    let writer = Writer {
        path: segment::segment_path(&shared.dir, segment),
        shared,
        file,
        segment,
    };
    thread::Builder::new()
        .name("pitot-wal-writer".to_owned())
        .spawn(move || writer.run())
        .map_err(WalError::io("spawn writer thread for", dir))
}

struct Writer {
    shared: Arc<Shared>,
    file: File,
    segment: u64,
    path: PathBuf,
}

impl Writer {
    fn run(mut self) {
        let _stopped = StopGuard(Arc::clone(&self.shared));
        while let Some(mut batches) = self.next_batches() {
            match self.commit(&batches) {
                Ok(seq) => {
                    let segment = self.segment;
                    self.shared.publish(|durable| {
                        durable.seq = durable.seq.max(seq);
                        durable.segment = segment;
                    });
                    self.recycle(&mut batches);
                }
                Err(error) => {
                    self.poison(&error);
                    break;
                }
            }
        }
    }

    /// Waits for work; `None` once shutdown was requested and the queue is drained.
    fn next_batches(&self) -> Option<VecDeque<Batch>> {
        let mut state = self.shared.state.lock();
        while state.queue.is_empty() && !state.shutdown {
            self.shared.work.wait(&mut state);
        }
        if state.queue.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut state.queue))
    }

    /// Writes the batches in order, rotating where marked, and fsyncs; returns the highest
    /// sequence number now durable.
    fn commit(&mut self, batches: &VecDeque<Batch>) -> Result<u64, WalError> {
        let mut seq = 0;
        let mut dirty = false;
        for batch in batches {
            if !batch.bytes.is_empty() {
                self.file
                    .write_all(&batch.bytes)
                    .map_err(WalError::io("write segment", &self.path))?;
                self.shared
                    .counters
                    .bytes_written
                    .fetch_add(batch.bytes.len() as u64, Ordering::Relaxed);
                dirty = true;
            }
            seq = seq.max(batch.last_seq);
            if let Some(next) = batch.rotate_to {
                if dirty {
                    self.sync()?;
                    dirty = false;
                }
                self.switch_to(next)?;
            }
        }
        if dirty {
            self.sync()?;
        }
        Ok(seq)
    }

    fn sync(&mut self) -> Result<(), WalError> {
        if !self.shared.options.fsync {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(WalError::io("fsync segment", &self.path))?;
        self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn switch_to(&mut self, next: u64) -> Result<(), WalError> {
        // Counted before the file exists, so a concurrent checkpoint that removes it can never
        // take the count below zero.
        let counters = &self.shared.counters;
        counters.segment_files.fetch_add(1, Ordering::Relaxed);
        self.file = segment::create_segment(&self.shared.dir, next, self.shared.options.fsync)?;
        self.segment = next;
        self.path = segment::segment_path(&self.shared.dir, next);
        counters.current_segment.store(next, Ordering::Relaxed);
        Ok(())
    }

    /// Hands emptied buffers back to appenders so steady state allocates nothing.
    fn recycle(&self, batches: &mut VecDeque<Batch>) {
        let mut state = self.shared.state.lock();
        for mut batch in batches.drain(..) {
            if state.spare.len() >= MAX_SPARE_BUFFERS || batch.bytes.capacity() > MAX_SPARE_CAPACITY
            {
                continue;
            }
            batch.bytes.clear();
            state.spare.push(batch.bytes);
        }
    }

    fn poison(&self, error: &WalError) {
        tracing::error!(
            dir = %self.shared.dir.display(),
            segment = self.segment,
            error = %error,
            "wal write failed, refusing further appends"
        );
        let reason: Arc<str> = error.to_string().into();
        {
            let mut state = self.shared.state.lock();
            state.failure = Some(Arc::clone(&reason));
            state.queue.clear();
        }
        self.shared
            .publish(|durable| durable.failure = Some(reason));
    }
}

/// Tells waiters the writer is gone, also when it unwinds from a panic, so nobody waits forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let panicked = thread::panicking();
        if panicked {
            let reason: Arc<str> = "wal writer thread panicked".into();
            tracing::error!(dir = %self.0.dir.display(), "wal writer thread panicked");
            self.0.state.lock().failure = Some(Arc::clone(&reason));
            self.0.publish(|durable| durable.failure = Some(reason));
        }
        self.0.publish(|durable| durable.stopped = true);
        tracing::debug!(dir = %self.0.dir.display(), panicked, "wal writer stopped");
    }
}
