//! Pitot's metrics storage engine.
//!
//! Per tenant, recent samples live in the *head* (compressed chunks in memory, indexed
//! by label pairs) and every write is first made durable in a shared write-ahead log
//! (`pitot-wal`, group commit). Once the head spans one and a half block ranges, its
//! oldest whole range is cut into an immutable *block* written through
//! `object_store` (a local directory or S3), and the WAL is checkpointed so that it
//! only holds what is still in the head. On start, blocks are loaded and the WAL is
//! replayed. Retention deletes whole blocks.
//!
//! Design choices:
//! - one WAL for all tenants, so concurrent pushes of different tenants share fsyncs;
//!   a tenant's records are appended while its head is locked, which keeps series
//!   records ahead of the samples that use them;
//! - the head refuses samples older than the end of the last block cut from it, so
//!   blocks never overlap the head and a replay never resurrects data already in a block;
//! - out-of-order samples within a window go to a small per-series buffer merged on
//!   read, and are folded into chunks when the block is cut;
//! - reads go through `pitot-storage-api`: the querier merges head and blocks.

mod block;
mod db;
mod error;
pub mod head;
mod options;
mod postings;
mod querier;
pub mod wal_record;

pub use block::format::{decode_index as decode_block_index, BlockIndex, IndexError};
pub use block::{Block, BlockBuilder, BlockMeta, BlockStats};
pub use db::{RetentionFn, Tsdb, TsdbStats};
pub use error::TsdbError;
pub use options::TsdbOptions;
