//! Behaviour tests of the whole WAL against real files in temp directories.

mod checkpoint;
mod group_commit;
mod lifecycle;
mod recovery;
mod roundtrip;

use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{ReplayStats, Ticket, Wal, WalOptions};

/// Durable options with a given segment size.
fn durable(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        fsync: true,
    }
}

/// Options without fsync, for tests that create many files and only check file contents.
fn fast(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        fsync: false,
    }
}

/// Opens and replays `dir`, returning the open WAL and what replay delivered.
fn open(dir: &Path, options: WalOptions) -> (Wal, Vec<Vec<u8>>, ReplayStats) {
    let wal = Wal::open(dir, options).unwrap();
    let mut records = Vec::new();
    let stats = wal
        .replay(|record| {
            records.push(record.to_vec());
            Ok::<_, Infallible>(())
        })
        .unwrap();
    (wal, records, stats)
}

/// Opens, replays and closes `dir`: what a restart would see.
fn reopen(dir: &Path, options: WalOptions) -> (Vec<Vec<u8>>, ReplayStats) {
    let (wal, records, stats) = open(dir, options);
    wal.close().unwrap();
    (records, stats)
}

/// Appends every record and waits until the last one is durable.
fn append_all(wal: &Wal, records: &[Vec<u8>]) -> Option<Ticket> {
    let mut last = None;
    for record in records {
        last = Some(wal.append(record).unwrap());
    }
    if let Some(ticket) = last {
        wal.wait_durable_blocking(ticket).unwrap();
    }
    last
}

/// `count` distinct records of `len` bytes each.
fn records(count: usize, len: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut record = format!("record-{i:06}-").into_bytes();
            record.resize(len.max(record.len()), b'a' + (i % 26) as u8);
            record
        })
        .collect()
}

/// Segment files on disk, sorted by index.
fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    crate::segment::list(dir).unwrap().segments
}

/// Every file name in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` on this thread with a subscriber that records log lines, and returns them.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // Another test thread may have hit a callsite while no subscriber wanted it, and
    // tracing caches that "never" interest; rebuild it now that ours is the default so
    // the warnings under test are not filtered out by a stale cache.
    let result = tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let logs = String::from_utf8_lossy(&buffer.0.lock()).into_owned();
    (result, logs)
}
