//! [`LogStoreOptions`]: the knobs of the log store, with defaults that suit one server.

use std::time::Duration;

/// Settings of the log storage engine.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// A stream's open buffer is sealed into a compressed chunk once its raw line bytes
    /// reach this size.
    pub chunk_target_bytes: usize,
    /// An open buffer is sealed at flush time once its oldest entry is this much older
    /// than now, so quiet streams still become chunks.
    pub max_chunk_age: Duration,
    /// How far behind a stream's newest entry an older entry is still accepted (Loki's
    /// default is `max_chunk_age / 2`). A chunk is only flushed to a block once it is
    /// older than now minus this window, so late entries rarely hit a flushed range.
    pub out_of_order_window: Duration,
    /// A flush writes a tenant's settled chunks into a block once the oldest of them is
    /// this old, or once they hold [`LogStoreOptions::block_target_bytes`].
    pub block_range: Duration,
    /// Compressed bytes of settled chunks that trigger a block before `block_range`.
    pub block_target_bytes: usize,
    /// How long blocks are kept, counted from their newest entry; zero keeps them forever.
    pub retention: Duration,
    /// zstd level of the line codec's columns (templates, ids, numbers) and of the
    /// metadata column (1..=19), paid on the ingest path. Measured with chunk format 1
    /// on Pitot's generated log mix, level 1 compressed as well as 3 (5.3x vs 5.15x) at
    /// 1.6x the speed; with format 2, level 3 adds under 1% and level 9 about 8% for
    /// twice the encode CPU.
    pub zstd_level: i32,
    /// Size at which the WAL starts a new segment.
    pub wal_segment_size: u64,
    /// Whether the WAL fsyncs (turn off only in benchmarks).
    pub wal_fsync: bool,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            chunk_target_bytes: 1 << 20,
            max_chunk_age: Duration::from_secs(3600),
            out_of_order_window: Duration::from_secs(3600),
            block_range: Duration::from_secs(2 * 3600),
            block_target_bytes: 64 << 20,
            retention: Duration::from_secs(31 * 24 * 3600),
            zstd_level: 1,
            wal_segment_size: 64 << 20,
            wal_fsync: true,
        }
    }
}

impl LogStoreOptions {
    pub(crate) fn ooo_window_ns(&self) -> i64 {
        duration_ns(self.out_of_order_window)
    }

    pub(crate) fn max_chunk_age_ns(&self) -> i64 {
        duration_ns(self.max_chunk_age)
    }

    pub(crate) fn block_range_ns(&self) -> i64 {
        duration_ns(self.block_range)
    }
}

/// A duration in nanoseconds, saturating at `i64::MAX`.
pub(crate) fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
