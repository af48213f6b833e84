//! Pitot's log storage engine: Loki's ingester and chunk store in one crate.
//!
//! Per tenant, recent entries live in the *head*: streams found by their label set,
//! indexed by label pairs (roaring postings), each with an uncompressed open buffer that
//! is sorted and sealed into a compressed [chunk](chunk) once it holds
//! [`LogStoreOptions::chunk_target_bytes`] of lines or gets old. Every push is first
//! made durable in a write-ahead log of its own (`pitot-wal`, group commit): one record
//! per push, encoded straight into the WAL buffer. [`LogStore::flush`] writes chunks
//! that can no longer receive entries into immutable [blocks](block) in the object
//! store under `logs/<tenant>/<ulid>/`, then checkpoints the WAL so that it only holds
//! what the heads hold. Retention deletes whole blocks.
//!
//! Design choices:
//! - **columnar chunks with a template/variable line codec**: timestamps, lines and
//!   structured metadata are separate columns; lines are split into per-chunk templates
//!   and typed variables (numbers grouped by field, hex ids packed two digits a byte,
//!   the entry's own timestamp as a flag), each column compressed on its own, and a
//!   decoded chunk is still one contiguous line buffer for `|= "needle"` scans
//!   (memchr's memmem);
//! - **compression outside the tenant lock**: a full open buffer is copied and
//!   compressed after the push releases the head lock, then swapped for its chunk, so
//!   other pushes of the tenant do not wait for zstd;
//! - **a sampled n-gram filter per chunk** ([`filter`]) proves a needle absent, never
//!   wrongly, from the content-defined sample of its 5-byte grams, at a few percent of
//!   the chunk's size; filters of flushed chunks stay in the object store and are
//!   fetched only by queries with literals;
//! - **lines are filtered before they become `String`s**: a stream iterator scans the
//!   decoded line column for the query's required literals and only materializes lines
//!   that contain them;
//! - **a stream's flushed range is final**: entries at or before the newest flushed
//!   entry of a stream are refused, so blocks and head never overlap and a replay never
//!   resurrects data already in a block;
//! - **checkpoints are consistent without stopping pushes**: every WAL append carries a
//!   sequence number and each checkpointed stream records the last one it includes.
//!
//! Measured with the whole server (`bench/logs_bench.sh --bytes 1G`: 1 GB of
//! `/work/shared/bench/loggen.py` lines over 60 streams, 2 shared cores): chunk format
//! 2 stores 6.9x raw/block bytes (format 1: 4.7x; filters are about a tenth of the
//! block bytes), at 70-78 MB of raw lines per server CPU-second against 87-92 for
//! format 1 (the tokenizer costs more than the zstd work it saves). Its decode runs at
//! about 0.5 GB/s per core, a third of plain zstd, so queries that decode most chunks
//! are about as fast as before (fewer bytes to decompress) while needle queries that
//! decode a few false-positive chunks are slower (30-40 ms instead of 10 ms).
//! `cargo run --release -p pitot-logstore --example chunk_columns -- <push file>` shows
//! where the bytes go: on this mix packed hex ids (incompressible) are ~40% of chunk
//! bytes, numbers and templates ~25% and ~18%, timestamps ~8%.

pub mod block;
mod checkpoint;
pub mod chunk;
mod error;
pub mod filter;
mod head;
mod options;
mod postings;
mod query;
mod replay;
mod stats;
mod store;
pub mod wal_record;

pub use error::LogStoreError;
pub use options::LogStoreOptions;
pub use stats::LogStoreStats;
pub use store::{now_ns, FlushOutcome, LogStore};
