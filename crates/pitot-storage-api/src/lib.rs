//! The contract between Pitot's query engines and its storage engines.
//!
//! Engines see storage only through these traits (the shape of Prometheus'
//! `Queryable` → `Querier` → `SeriesSet`): select series of one tenant by label matchers
//! and a time range, then iterate their samples. The head, the blocks, and later remote
//! ingesters all implement [`Queryable`], and [`MergeQueryable`] combines them, so the
//! PromQL engine never knows whether data is in memory, on local disk or in S3.
//!
//! Selection is `async` because blocks may live in object storage; iteration over a
//! selected series is synchronous and pull-based: by the time `select` returns, the
//! chunk bytes the series need are in memory, so the engine never awaits per sample and
//! can evaluate many steps over one decoded series.
//!
//! The write side is [`MetricsAppender`]: a batch of series for one tenant, acknowledged
//! only once durable. The [`logs`](LogAppender) half is the same contract for log
//! streams (Loki push in, LogQL out).

mod append;
pub mod block_dirs;
mod datasources;
mod limit;
mod logs;
mod merge;
mod query;

pub use append::{
    AppendOutcome, MetricsAppender, RejectReason, Rejection, SeriesBatch, SeriesLimits, SeriesRef,
    WriteBatch,
};
pub use datasources::{KeyResolver, MergeLogQuerier, ResolvingLogQueryable, ResolvingQueryable};
pub use limit::{SeriesLimited, StreamsLimited};
pub use logs::{
    LogAppendOutcome, LogAppender, LogEntry, LogEntryIter, LogIndexStats, LogQuerier, LogQueryable,
    LogQueryableRef, LogRejectReason, LogRejection, LogSelectHints, LogStream, LogStreamBatch,
    LogStreamSet,
};
pub use merge::{merge_iters, MergeQuerier, MergeQueryable};
pub use query::{
    Querier, Queryable, QueryableRef, SampleIter, SelectHints, Series, SeriesSet, StorageError,
};
