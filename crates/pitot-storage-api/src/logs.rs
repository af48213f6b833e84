//! The logs side of the storage contract: what the Loki push path writes and what the
//! LogQL engine reads.
//!
//! It mirrors the metrics side: [`LogAppender`] acknowledges a batch only once durable;
//! [`LogQueryable`] → [`LogQuerier`] → [`LogStreamSet`] selects streams of one tenant by
//! label matchers and a time range, and each [`LogStream`] is iterated synchronously,
//! chunk by chunk, so a query over gigabytes never holds more than one decoded chunk per
//! stream it is walking. Line-filter literals travel down as hints so storage can skip
//! chunks whose token filter proves they cannot match.

use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{Label, Labels, Matcher, TenantId};

use crate::StorageError;

/// One log line as pushed and as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Unix time in nanoseconds.
    pub ts: i64,
    /// The line, without a trailing newline.
    pub line: String,
    /// Structured metadata (Loki 3): name/value pairs attached to this entry only, in
    /// the order pushed; names are unique.
    pub metadata: Vec<Label>,
}

/// The entries of one stream in a push, already validated by the distributor.
#[derive(Debug, Clone)]
pub struct LogStreamBatch {
    /// The stream's identity (its labels, sorted).
    pub labels: Labels,
    /// Entries, usually ascending by time (storage accepts any order within its
    /// out-of-order window).
    pub entries: Vec<LogEntry>,
}

/// Why storage refused a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogRejectReason {
    /// Older than what the stream still accepts (its newest entry minus the
    /// out-of-order window, or older than what was already cut into a block).
    TooFarBehind,
    /// A new stream beyond the tenant's active-stream limit.
    StreamLimit,
}

impl LogRejectReason {
    /// Stable identifier (Loki's `discarded_samples_total` reasons).
    pub fn id(self) -> &'static str {
        match self {
            LogRejectReason::TooFarBehind => "too_far_behind",
            LogRejectReason::StreamLimit => "stream_limit",
        }
    }
}

/// One refused entry, for the error message.
#[derive(Debug, Clone)]
pub struct LogRejection {
    /// Which stream.
    pub labels: Labels,
    /// The refused entry's timestamp (ns).
    pub ts: i64,
    /// Why.
    pub reason: LogRejectReason,
}

/// What a log append did.
#[derive(Debug, Clone, Default)]
pub struct LogAppendOutcome {
    /// Entries stored (exact duplicates of a stored entry, same timestamp and line,
    /// count as accepted and are stored once, as Loki does).
    pub accepted: usize,
    /// Raw line bytes stored.
    pub accepted_bytes: usize,
    /// Of `accepted`, exact duplicates of stored entries (a client's retry): held once,
    /// so neither stored again nor billed again.
    pub duplicates: usize,
    /// Raw line bytes of the duplicates.
    pub duplicate_bytes: usize,
    /// Entries refused, counted per reason.
    pub rejected: Vec<(LogRejectReason, usize)>,
    /// The first refused entry, to name in the response.
    pub first_rejection: Option<LogRejection>,
    /// Streams created by this append.
    pub new_streams: usize,
}

impl LogAppendOutcome {
    /// Counts one refusal, keeping the first for the message.
    pub fn reject(&mut self, labels: &Labels, ts: i64, reason: LogRejectReason) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
        if self.first_rejection.is_none() {
            self.first_rejection = Some(LogRejection {
                labels: labels.clone(),
                ts,
                reason,
            });
        }
    }

    /// Total refused entries.
    pub fn rejected_total(&self) -> usize {
        self.rejected.iter().map(|(_, n)| n).sum()
    }
}

/// The write side of log storage.
#[async_trait]
pub trait LogAppender: Send + Sync {
    /// Stores the accepted entries of `batch` for `tenant`. When this returns `Ok`, every
    /// accepted entry is durable (it survives `kill -9`).
    async fn append_logs(
        &self,
        tenant: &TenantId,
        batch: Vec<LogStreamBatch>,
    ) -> Result<LogAppendOutcome, StorageError>;
}

/// Shared handle to a [`LogQueryable`].
pub type LogQueryableRef = Arc<dyn LogQueryable>;

/// Something logs can be read from: hands out a querier per tenant and time range.
pub trait LogQueryable: Send + Sync {
    /// A querier for `tenant` over `[start, end)` in Unix nanoseconds. Entries outside
    /// the range may be returned; callers filter.
    fn log_querier(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError>;
}

/// Hints that let log storage skip work; storage may ignore any of them.
#[derive(Debug, Clone, Default)]
pub struct LogSelectHints {
    /// Earliest timestamp needed (ns, inclusive).
    pub start: i64,
    /// End of the range (ns, exclusive).
    pub end: i64,
    /// Case-sensitive literals every wanted line contains (from `|= "..."` filters).
    /// Storage may skip a chunk whose filter proves one of them absent; it may still
    /// return lines without them, so the engine filters again.
    pub required_literals: Vec<String>,
    /// Only stream labels are needed, no entries (`/series`, `/labels`).
    pub labels_only: bool,
}

/// Pull-based iterator over one stream's entries, ascending by timestamp (equal
/// timestamps in the order stored).
pub type LogEntryIter = Box<dyn Iterator<Item = LogEntry> + Send>;

/// One selected stream: its labels and a source of its entries.
pub struct LogStream {
    /// The stream identity.
    pub labels: Labels,
    entries: Box<dyn Fn() -> LogEntryIter + Send + Sync>,
}

impl LogStream {
    /// Builds a stream from a factory of entry iterators, so a stream can be walked more
    /// than once.
    pub fn new(labels: Labels, entries: impl Fn() -> LogEntryIter + Send + Sync + 'static) -> Self {
        LogStream {
            labels,
            entries: Box::new(entries),
        }
    }

    /// Builds a stream from entries already in memory (sorted by the caller).
    pub fn from_entries(labels: Labels, entries: Vec<LogEntry>) -> Self {
        let entries = Arc::new(entries);
        LogStream::new(labels, move || {
            let entries = Arc::clone(&entries);
            Box::new((0..entries.len()).map(move |i| entries[i].clone()))
        })
    }

    /// A fresh iterator over the entries, oldest first.
    pub fn entries(&self) -> LogEntryIter {
        (self.entries)()
    }
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// The result of a log select: streams sorted by labels, unique, plus warnings.
#[derive(Debug, Default)]
pub struct LogStreamSet {
    /// Selected streams.
    pub streams: Vec<LogStream>,
    /// Non-fatal problems to pass to the user.
    pub warnings: Vec<String>,
}

/// A tenant- and time-scoped log reader.
#[async_trait]
pub trait LogQuerier: Send + Sync {
    /// Selects streams matching all matchers (a matcher on an absent label sees the
    /// empty string), sorted by labels, each at most once.
    async fn select(
        &self,
        hints: &LogSelectHints,
        matchers: &[Matcher],
    ) -> Result<LogStreamSet, StorageError>;

    /// Sorted, unique label names of streams matching the matchers (all when empty).
    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted, unique values of label `name` in streams matching the matchers.
    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;

    /// What a query over the matching streams would read (Loki's `index/stats`), from
    /// the index and chunk headers only, without decompressing lines.
    async fn index_stats(&self, matchers: &[Matcher]) -> Result<LogIndexStats, StorageError>;
}

/// Sizes of the data matching a selector, as `/loki/api/v1/index/stats` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogIndexStats {
    /// Streams matching.
    pub streams: u64,
    /// Chunks (sealed or in the head) overlapping the range.
    pub chunks: u64,
    /// Entries in those chunks.
    pub entries: u64,
    /// Raw line bytes in those chunks.
    pub bytes: u64,
}
