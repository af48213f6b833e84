//! Counters reported by [`crate::Wal::stats`] and [`crate::Wal::replay`].

/// Point-in-time counters of a running WAL, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Segment fsyncs done by the writer. Far below `records_appended` when group commit works.
    pub fsyncs: u64,
    /// Framed bytes written to segments (headers and payloads).
    pub bytes_written: u64,
    /// Records accepted by `append` / `append_with` since open.
    pub records_appended: u64,
    /// Index of the segment the writer is writing to.
    pub current_segment: u64,
    /// Segment files in the directory.
    pub segment_files: u64,
    /// Sequence number of the newest durable record (tickets at or below it are durable).
    pub durable_sequence: u64,
}

/// What [`crate::Wal::replay`] read and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records passed to the callback, checkpoint records included.
    pub records: u64,
    /// Of `records`, how many came from the checkpoint.
    pub checkpoint_records: u64,
    /// Segment files read, including a damaged one.
    pub segments_read: u64,
    /// Bytes cut from a torn or corrupt tail, plus the size of segments removed after it.
    pub truncated_bytes: u64,
    /// Segment files removed because they were unreadable or followed a corrupt tail.
    pub removed_segments: u64,
    /// Index of the checkpoint replay started from.
    pub checkpoint: Option<u64>,
    /// The segment new appends go to.
    pub next_segment: u64,
}
