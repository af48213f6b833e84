//! Counters and sizes of the log store, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the log store's sizes and counters.
#[derive(Debug, Clone, Default)]
pub struct LogStoreStats {
    /// Tenants with a head.
    pub tenants: u64,
    /// Streams in the heads (including emptied ones).
    pub streams: u64,
    /// Entries held in the heads.
    pub head_entries: u64,
    /// Memory held by the heads: raw open buffers plus compressed sealed chunks.
    pub head_bytes: u64,
    /// Chunks in the heads (an open buffer counts as one).
    pub head_chunks: u64,
    /// Blocks in the object store.
    pub blocks: u64,
    /// Chunks in blocks.
    pub block_chunks: u64,
    /// Stored bytes of blocks (chunks, filters, index).
    pub block_bytes: u64,
    /// Raw line bytes in blocks (with `block_bytes`, the compression ratio).
    pub block_raw_bytes: u64,
    /// Entries accepted since start.
    pub entries_appended: u64,
    /// Raw line bytes accepted since start.
    pub bytes_appended: u64,
    /// Entries refused since start.
    pub entries_rejected: u64,
    /// Blocks written since start.
    pub blocks_written: u64,
    /// Blocks deleted by retention since start.
    pub blocks_deleted: u64,
    /// Flushes that failed since start.
    pub flush_failures: u64,
    /// The log WAL's counters.
    pub wal: pitot_wal::WalStats,
}

/// Counters updated by the store.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub entries_appended: AtomicU64,
    pub bytes_appended: AtomicU64,
    pub entries_rejected: AtomicU64,
    pub blocks_written: AtomicU64,
    pub blocks_deleted: AtomicU64,
    pub flush_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn fill(&self, stats: &mut LogStoreStats) {
        stats.entries_appended = self.entries_appended.load(Ordering::Relaxed);
        stats.bytes_appended = self.bytes_appended.load(Ordering::Relaxed);
        stats.entries_rejected = self.entries_rejected.load(Ordering::Relaxed);
        stats.blocks_written = self.blocks_written.load(Ordering::Relaxed);
        stats.blocks_deleted = self.blocks_deleted.load(Ordering::Relaxed);
        stats.flush_failures = self.flush_failures.load(Ordering::Relaxed);
    }
}
