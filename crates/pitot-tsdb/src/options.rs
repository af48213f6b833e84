use std::time::Duration;

/// Settings of the metrics storage engine.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// Time range of one block; the head is cut when it spans 1.5 of these.
    pub block_range: Duration,
    /// How far behind a series' newest sample an older sample is still accepted.
    pub out_of_order_window: Duration,
    /// How long blocks are kept, counted from the end of their range.
    pub retention: Duration,
    /// Size at which the WAL starts a new segment.
    pub wal_segment_size: u64,
    /// Whether the WAL fsyncs (turn off only for benchmarks of other parts).
    pub wal_fsync: bool,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        TsdbOptions {
            block_range: Duration::from_secs(2 * 3600),
            out_of_order_window: Duration::from_secs(600),
            retention: Duration::from_secs(31 * 24 * 3600),
            wal_segment_size: 64 << 20,
            wal_fsync: true,
        }
    }
}

impl TsdbOptions {
    pub(crate) fn block_range_ms(&self) -> i64 {
        self.block_range.as_millis().max(1) as i64
    }

    pub(crate) fn ooo_window_ms(&self) -> i64 {
        self.out_of_order_window.as_millis() as i64
    }
}
