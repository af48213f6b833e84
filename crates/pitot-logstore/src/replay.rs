//! Rebuilding the heads at open: checkpoint records, then appends, skipping what the
//! checkpoint already holds and what blocks already hold.

use std::collections::HashMap;

use bytes::Bytes;
use pitot_core::{Labels, TenantId};

use crate::chunk::{self, SealedChunk};
use crate::head::{MemStream, TenantHead};
use crate::wal_record::{self, EntryRef, Record, RecordError};
use crate::LogStoreOptions;

/// Heads being rebuilt from the WAL.
pub(crate) struct Replayer<'a> {
    pub heads: HashMap<TenantId, TenantHead>,
    /// Newest flushed entry per tenant and stream, from the blocks.
    pub flushed: HashMap<TenantId, HashMap<Labels, i64>>,
    pub options: &'a LogStoreOptions,
    /// Highest append sequence seen.
    pub max_seq: u64,
    /// Entries restored.
    pub entries: u64,
}

impl Replayer<'_> {
    fn head(&mut self, tenant: TenantId) -> &mut TenantHead {
        let flushed = &mut self.flushed;
        self.heads
            .entry(tenant.clone())
            .or_insert_with(|| TenantHead::new(flushed.remove(&tenant).unwrap_or_default()))
    }

    /// Applies one WAL record.
    pub fn apply(&mut self, payload: &[u8]) -> Result<(), RecordError> {
        let target = self.options.chunk_target_bytes;
        let level = self.options.zstd_level;
        match wal_record::decode(payload)? {
            Record::Append {
                seq,
                tenant,
                streams,
                groups,
            } => {
                self.max_seq = self.max_seq.max(seq);
                let head = self.head(tenant);
                for (id, labels) in streams {
                    head.insert_stream(id, labels);
                }
                let mut restored = 0;
                for (id, entries) in groups {
                    let Some(stream) = head.stream_mut(id) else {
                        tracing::warn!(
                            stream = id,
                            "log wal names an unknown stream; entries skipped"
                        );
                        continue;
                    };
                    if seq <= stream.checkpoint_seq {
                        continue;
                    }
                    restored += append_all(stream, &entries, target, level);
                    stream.last_seq = stream.last_seq.max(seq);
                }
                self.entries += restored;
            }
            Record::Stream {
                tenant,
                id,
                labels,
                last_seq,
                max_ts,
                entries,
            } => {
                self.max_seq = self.max_seq.max(last_seq);
                let head = self.head(tenant);
                head.insert_stream(id, labels);
                let Some(stream) = head.stream_mut(id) else {
                    return Ok(());
                };
                stream.checkpoint_seq = last_seq;
                stream.last_seq = stream.last_seq.max(last_seq);
                let restored = append_all(stream, &entries, target, level);
                stream.max_ts = stream.max_ts.max(max_ts);
                self.entries += restored;
            }
            Record::Chunk {
                tenant,
                id,
                chunk: bytes,
                filter,
            } => {
                let meta = chunk::read_meta(bytes).map_err(|e| RecordError(e.to_string()))?;
                let head = self.head(tenant);
                let Some(stream) = head.stream_mut(id) else {
                    return Err(RecordError(format!(
                        "checkpoint chunk of unknown stream {id}"
                    )));
                };
                if meta.max_ts <= stream.flushed_through {
                    return Ok(());
                }
                if meta.min_ts > stream.flushed_through {
                    stream.push_sealed(SealedChunk {
                        meta,
                        bytes: Bytes::copy_from_slice(bytes),
                        filter: Bytes::copy_from_slice(filter),
                    });
                    self.entries += u64::from(meta.entries);
                    return Ok(());
                }
                // Partly flushed: keep only the entries after the flushed range.
                let columns = chunk::decode(bytes).map_err(|e| RecordError(e.to_string()))?;
                let mut restored = 0;
                for i in 0..columns.len() {
                    let line = String::from_utf8_lossy(columns.line(i));
                    let metadata = columns.metadata_of(i);
                    if stream
                        .append(columns.ts[i], &line, metadata, i64::MAX, target, level)
                        .is_ok()
                    {
                        restored += 1;
                    }
                }
                self.entries += restored;
            }
        }
        Ok(())
    }
}

/// Re-applies entries with no out-of-order limit (they were accepted live); entries
/// already in blocks are refused by the stream and skipped.
fn append_all(stream: &mut MemStream, entries: &[EntryRef<'_>], target: usize, level: i32) -> u64 {
    let mut restored = 0;
    for e in entries {
        if stream
            .append(e.ts, e.line, &e.metadata, i64::MAX, target, level)
            .is_ok()
        {
            restored += 1;
        }
    }
    restored
}
