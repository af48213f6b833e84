//! [`LogStore`]: the engine as a whole — WAL, heads, blocks, flushing, retention,
//! recovery — and its implementation of the storage contract.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};
use pitot_core::{Labels, TenantId};
use pitot_storage_api::{
    LogAppendOutcome, LogAppender, LogQuerier, LogQueryable, LogRejectReason, LogStreamBatch,
    StorageError,
};
use pitot_wal::{Wal, WalOptions};

use crate::block::{delete_dir, Block, LOGS_PREFIX};
use crate::checkpoint::CheckpointRecords;
use crate::chunk::SealedChunk;
use crate::head::{Appended, SealJob, TenantHead};
use crate::options::duration_ns;
use crate::query::LogStoreQuerier;
use crate::replay::Replayer;
use crate::stats::{Counters, LogStoreStats};
use crate::{wal_record, LogStoreError, LogStoreOptions};
use pitot_storage_api::block_dirs::list_block_dirs;

type HeadRef = Arc<Mutex<TenantHead>>;

/// A flush checkpoints the WAL once it has more segment files than this, even when no
/// block was written.
const CHECKPOINT_AFTER_SEGMENTS: u64 = 4;

/// An open buffer this many times the chunk target is sealed inline, under the head
/// lock, instead of after the push: a single huge push must not make one huge chunk.
const INLINE_SEAL_FACTOR: usize = 8;

/// Every tenant's blocks.
pub(crate) type BlockListRef = Arc<RwLock<HashMap<TenantId, Vec<Arc<Block>>>>>;

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Blocks written.
    pub blocks: usize,
    /// Chunks moved from the heads into blocks.
    pub chunks: usize,
    /// Encoded chunk bytes written.
    pub bytes: u64,
}

/// The log storage engine for all tenants of one process.
///
/// Lifecycle: [`LogStore::open`], then appends and queries from any task; call
/// [`LogStore::flush`] periodically (every minute or so) and
/// [`LogStore::apply_retention`] now and then; on shutdown `flush(true)` then
/// [`LogStore::close`].
pub struct LogStore {
    options: LogStoreOptions,
    wal: Arc<Wal>,
    heads: RwLock<HashMap<TenantId, HeadRef>>,
    /// Shared with queriers, which read it under the tenant's head lock: a flush adds a
    /// block and drops its chunks from the head under that lock, so a query sees every
    /// chunk exactly once.
    blocks: BlockListRef,
    store: Arc<dyn ObjectStore>,
    /// Sequence of the next WAL append record, assigned in WAL order.
    next_seq: AtomicU64,
    /// Serializes flushes, checkpoints and retention.
    maintenance: tokio::sync::Mutex<()>,
    counters: Counters,
    /// Per-tenant active-stream limit, when set.
    stream_limit: RwLock<Option<StreamLimitFn>>,
}

/// Gives a tenant's active-stream limit (0 for none).
type StreamLimitFn = Arc<dyn Fn(&TenantId) -> u64 + Send + Sync>;

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("options", &self.options)
            .field("wal", &self.wal)
            .finish_non_exhaustive()
    }
}

/// Now as Unix nanoseconds.
pub fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    duration_ns(since)
}

impl LogStore {
    /// Opens the engine: loads every tenant's block indexes from `store` (under
    /// `logs/`), then replays the WAL in `wal_dir` (its own directory, not the metrics
    /// WAL's) into the heads. Entries already in a block are skipped.
    pub async fn open(
        wal_dir: &Path,
        store: Arc<dyn ObjectStore>,
        options: LogStoreOptions,
    ) -> Result<LogStore, LogStoreError> {
        let wal = Wal::open(
            wal_dir,
            WalOptions {
                segment_size: options.wal_segment_size,
                fsync: options.wal_fsync,
            },
        )?;
        let blocks = load_blocks(&store).await?;
        let mut flushed: HashMap<TenantId, HashMap<Labels, i64>> = HashMap::new();
        for (tenant, list) in &blocks {
            let map = flushed.entry(tenant.clone()).or_default();
            for block in list {
                for stream in block.streams() {
                    let newest = stream.chunks.iter().map(|c| c.meta.max_ts).max();
                    if let Some(newest) = newest {
                        let e = map.entry(stream.labels.clone()).or_insert(i64::MIN);
                        *e = (*e).max(newest);
                    }
                }
            }
        }
        let mut replayer = Replayer {
            heads: HashMap::new(),
            flushed,
            options: &options,
            max_seq: 0,
            entries: 0,
        };
        let stats = wal
            .replay(|payload| replayer.apply(payload))
            .map_err(|e| LogStoreError::Corrupt(format!("log wal replay: {e}")))?;
        let Replayer {
            mut heads,
            flushed,
            max_seq,
            entries,
            ..
        } = replayer;
        for (tenant, map) in flushed {
            heads.insert(tenant, TenantHead::new(map));
        }
        tracing::info!(
            records = stats.records,
            entries,
            tenants = heads.len(),
            blocks = blocks.values().map(Vec::len).sum::<usize>(),
            "log storage recovered"
        );
        Ok(LogStore {
            options,
            wal: Arc::new(wal),
            heads: RwLock::new(
                heads
                    .into_iter()
                    .map(|(t, h)| (t, Arc::new(Mutex::new(h))))
                    .collect(),
            ),
            blocks: Arc::new(RwLock::new(blocks)),
            store,
            next_seq: AtomicU64::new(max_seq + 1),
            maintenance: tokio::sync::Mutex::new(()),
            counters: Counters::default(),
            stream_limit: RwLock::new(None),
        })
    }

    /// The options the store runs with.
    pub fn options(&self) -> &LogStoreOptions {
        &self.options
    }

    fn head(&self, tenant: &TenantId) -> HeadRef {
        if let Some(head) = self.heads.read().get(tenant) {
            return Arc::clone(head);
        }
        let mut heads = self.heads.write();
        Arc::clone(
            heads
                .entry(tenant.clone())
                .or_insert_with(|| Arc::new(Mutex::new(TenantHead::default()))),
        )
    }

    fn head_list(&self) -> Vec<(TenantId, HeadRef)> {
        let mut list: Vec<_> = self
            .heads
            .read()
            .iter()
            .map(|(t, h)| (t.clone(), Arc::clone(h)))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Flushes with the wall clock as "now"; see [`LogStore::flush_at`].
    pub async fn flush(&self, force: bool) -> Result<FlushOutcome, LogStoreError> {
        self.flush_at(force, now_ns()).await
    }

    /// Seals open buffers older than `max_chunk_age` (or idle for the out-of-order
    /// window), then, per tenant, writes the chunks that can no longer receive entries
    /// (newest entry older than `now_ns` minus the out-of-order window) into one block
    /// once the oldest of them is `block_range` old or they reach
    /// `block_target_bytes`. With `force` (shutdown, tests) every entry of every head
    /// goes into blocks. Afterwards entries at or before a stream's flushed chunks are
    /// refused, and the WAL is checkpointed (also when it has grown past a few
    /// segments) so replay only covers what the heads hold.
    pub async fn flush_at(&self, force: bool, now_ns: i64) -> Result<FlushOutcome, LogStoreError> {
        let _guard = self.maintenance.lock().await;
        let mut outcome = FlushOutcome::default();
        for (tenant, head) in self.head_list() {
            let cut = {
                let mut head = head.lock();
                self.cut(&mut head, now_ns, force)
            };
            let Some(cut) = cut else {
                continue;
            };
            let streams: Vec<(Labels, Vec<SealedChunk>)> = cut
                .streams
                .iter()
                .map(|s| (s.labels.clone(), s.chunks.clone()))
                .collect();
            match Block::write(Arc::clone(&self.store), &tenant, streams).await {
                Ok(block) => {
                    tracing::info!(
                        tenant = %tenant,
                        block = %block.meta.ulid,
                        streams = block.meta.stats.streams,
                        chunks = block.meta.stats.chunks,
                        raw_bytes = block.meta.stats.raw_bytes,
                        bytes = block.meta.stats.chunk_bytes,
                        "log chunks flushed into a block"
                    );
                    outcome.blocks += 1;
                    outcome.chunks += block.meta.stats.chunks as usize;
                    outcome.bytes += block.meta.stats.chunk_bytes;
                    let mut head = head.lock();
                    self.blocks
                        .write()
                        .entry(tenant.clone())
                        .or_default()
                        .push(Arc::new(block));
                    for s in &cut.streams {
                        let flushed: HashSet<*const u8> =
                            s.chunks.iter().map(|c| c.bytes.as_ptr()).collect();
                        if let Some(stream) = head.stream_mut(s.id) {
                            stream
                                .sealed
                                .retain(|c| !flushed.contains(&c.bytes.as_ptr()));
                        }
                    }
                    self.counters.blocks_written.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    let mut head = head.lock();
                    for s in &cut.streams {
                        if let Some(stream) = head.stream_mut(s.id) {
                            stream.flushed_through = s.previous_flushed_through;
                        }
                    }
                    self.counters.flush_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(tenant = %tenant, %error, "writing a log block failed; chunks stay in the head and the flush is retried");
                    return Err(error);
                }
            }
        }
        // Sealed chunks are a fifth of the raw lines the WAL holds, so a checkpoint also
        // shrinks the WAL when nothing left the heads.
        let wal_grew = self.wal.stats().segment_files > CHECKPOINT_AFTER_SEGMENTS;
        if outcome.blocks > 0 || force || wal_grew {
            self.checkpoint_wal().await?;
        }
        Ok(outcome)
    }

    /// Picks what a flush writes for one tenant and marks it flushed (see
    /// [`LogStore::flush_at`]). `None` when nothing is due.
    fn cut(&self, head: &mut TenantHead, now: i64, force: bool) -> Option<Cut> {
        let window = self.options.ooo_window_ns();
        let settled_before = now.saturating_sub(window);
        let age_limit = now.saturating_sub(self.options.max_chunk_age_ns());
        let level = self.options.zstd_level;
        let mut plans: Vec<(u32, i64, Vec<bool>)> = Vec::new();
        let (mut bytes, mut oldest) = (0usize, i64::MAX);
        let ids = head.ids();
        for &id in &ids {
            let Some(stream) = head.stream_mut(id) else {
                continue;
            };
            if let Some((min, max)) = stream.open_range() {
                if force || min < age_limit || max < settled_before {
                    stream.seal(level);
                }
            }
            let mut take = vec![false; stream.sealed.len()];
            let mut through = i64::MIN;
            for (k, c) in stream.sealed.iter().enumerate() {
                if force || c.meta.max_ts < settled_before {
                    take[k] = true;
                    through = through.max(c.meta.max_ts);
                }
            }
            if through == i64::MIN {
                continue;
            }
            // Every entry at or before `through` must go too, or a replay after a
            // crash would skip it as already flushed.
            loop {
                let mut changed = false;
                for (k, c) in stream.sealed.iter().enumerate() {
                    if !take[k] && c.meta.min_ts <= through {
                        take[k] = true;
                        through = through.max(c.meta.max_ts);
                        changed = true;
                    }
                }
                if stream.open_range().is_some_and(|(min, _)| min <= through) {
                    stream.seal(level);
                    take.push(false);
                    changed = true;
                }
                if !changed {
                    break;
                }
            }
            for (k, c) in stream.sealed.iter().enumerate() {
                if take[k] {
                    bytes += c.bytes.len();
                    oldest = oldest.min(c.meta.min_ts);
                }
            }
            plans.push((id, through, take));
        }
        let due = force
            || bytes >= self.options.block_target_bytes
            || oldest < now.saturating_sub(self.options.block_range_ns());
        if plans.is_empty() || !due {
            return None;
        }
        let mut streams = Vec::with_capacity(plans.len());
        for (id, through, take) in plans {
            let Some(stream) = head.stream_mut(id) else {
                continue;
            };
            let mut chunks: Vec<SealedChunk> = stream
                .sealed
                .iter()
                .zip(&take)
                .filter(|(_, &t)| t)
                .map(|(c, _)| c.clone())
                .collect();
            chunks.sort_by_key(|c| c.meta.min_ts);
            let previous_flushed_through = stream.flushed_through;
            stream.flushed_through = stream.flushed_through.max(through);
            streams.push(CutStream {
                id,
                labels: stream.labels.clone(),
                chunks,
                previous_flushed_through,
            });
        }
        streams.sort_by(|a, b| a.labels.cmp(&b.labels));
        Some(Cut { streams })
    }

    /// Replaces every WAL segment so far by a checkpoint of what the heads hold now.
    async fn checkpoint_wal(&self) -> Result<(), LogStoreError> {
        let heads = self.head_list();
        let wal = Arc::clone(&self.wal);
        tokio::task::spawn_blocking(move || -> Result<(), LogStoreError> {
            let segment = wal.rotate()?;
            let mut records = CheckpointRecords::new(heads);
            wal.checkpoint(segment, &mut records)?;
            Ok(())
        })
        .await
        .map_err(|e| LogStoreError::Task(e.to_string()))?
    }

    /// Deletes blocks whose newest entry is older than `now_ns` minus
    /// [`LogStoreOptions::retention`] (zero keeps everything). Returns blocks deleted.
    pub async fn apply_retention(&self, now_ns: i64) -> Result<usize, LogStoreError> {
        let retention = self.options.retention;
        self.apply_retention_with(now_ns, &move |_| retention).await
    }

    /// Like [`LogStore::apply_retention`] with a retention per tenant (from the
    /// tenant's limits); a zero duration keeps the tenant's blocks forever.
    pub async fn apply_retention_with(
        &self,
        now_ns: i64,
        retention: &(dyn Fn(&TenantId) -> Duration + Send + Sync),
    ) -> Result<usize, LogStoreError> {
        let _guard = self.maintenance.lock().await;
        let expired: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.write();
            let mut expired = Vec::new();
            for (tenant, list) in blocks.iter_mut() {
                let keep_for = retention(tenant);
                if keep_for.is_zero() {
                    continue;
                }
                let cutoff = now_ns.saturating_sub(duration_ns(keep_for));
                list.retain(|b| {
                    let keep = b.meta.max_time >= cutoff;
                    if !keep {
                        expired.push(Arc::clone(b));
                    }
                    keep
                });
            }
            expired
        };
        for block in &expired {
            block.delete().await?;
            self.counters.blocks_deleted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(tenant = %block.meta.tenant, block = %block.meta.ulid, max_time = block.meta.max_time, "log block deleted by retention");
        }
        Ok(expired.len())
    }

    /// Blocks of every storage key (for usage metering of stored bytes).
    pub fn block_metas(&self) -> Vec<(TenantId, crate::block::BlockMeta)> {
        self.blocks
            .read()
            .iter()
            .flat_map(|(t, list)| list.iter().map(move |b| (t.clone(), b.meta.clone())))
            .collect()
    }

    /// Deletes everything stored under `key` (a tenant or one of its data sources): its
    /// head, its blocks, and (by a WAL checkpoint without it) its entries in the WAL, so
    /// nothing comes back on restart. Returns the number of blocks deleted.
    pub async fn delete_tenant(&self, key: &TenantId) -> Result<usize, LogStoreError> {
        let _guard = self.maintenance.lock().await;
        self.heads.write().remove(key);
        let blocks = self.blocks.write().remove(key).unwrap_or_default();
        for block in &blocks {
            block.delete().await?;
        }
        self.checkpoint_wal().await?;
        tracing::info!(key = %key, blocks = blocks.len(), "log storage key deleted");
        Ok(blocks.len())
    }

    /// Holds every tenant to an active-stream limit from now on (asked on every append,
    /// 0 for none): entries of new streams beyond it are refused, existing streams flow.
    pub fn set_stream_limit(&self, limit: StreamLimitFn) {
        *self.stream_limit.write() = Some(limit);
    }

    /// Streams `tenant` has in the head (its active streams, for `user_stats` and the
    /// stream limit).
    pub fn tenant_streams(&self, tenant: &TenantId) -> usize {
        self.heads
            .read()
            .get(tenant)
            .map_or(0, |h| h.lock().num_streams())
    }

    /// Sizes and counters for `/metrics`.
    pub fn stats(&self) -> LogStoreStats {
        let mut stats = LogStoreStats::default();
        for (_, head) in self.head_list() {
            let head = head.lock();
            stats.tenants += 1;
            stats.streams += head.num_streams() as u64;
            for s in head.streams() {
                stats.head_bytes += s.memory_bytes() as u64;
                stats.head_chunks += s.sealed.len() as u64 + u64::from(!s.open.is_empty());
                stats.head_entries += s.open.len() as u64
                    + s.sealed
                        .iter()
                        .map(|c| u64::from(c.meta.entries))
                        .sum::<u64>();
            }
        }
        for list in self.blocks.read().values() {
            for b in list {
                stats.blocks += 1;
                stats.block_chunks += b.meta.stats.chunks;
                stats.block_bytes +=
                    b.meta.stats.chunk_bytes + b.meta.stats.filter_bytes + b.meta.stats.index_bytes;
                stats.block_raw_bytes += b.meta.stats.raw_bytes;
            }
        }
        self.counters.fill(&mut stats);
        stats.wal = self.wal.stats();
        stats
    }

    /// Writes and fsyncs what the WAL has pending and stops its writer (graceful
    /// shutdown; call `flush(true)` first to move the heads into blocks).
    pub fn close(&self) -> Result<(), LogStoreError> {
        self.wal.close()?;
        Ok(())
    }
}

/// What a flush takes from one tenant.
struct Cut {
    streams: Vec<CutStream>,
}

struct CutStream {
    id: u32,
    labels: Labels,
    chunks: Vec<SealedChunk>,
    previous_flushed_through: i64,
}

async fn load_blocks(
    store: &Arc<dyn ObjectStore>,
) -> Result<HashMap<TenantId, Vec<Arc<Block>>>, LogStoreError> {
    let root = object_store::path::Path::from(LOGS_PREFIX);
    let mut out: HashMap<TenantId, Vec<Arc<Block>>> = HashMap::new();
    for dir in list_block_dirs(store, Some(&root), &[]).await? {
        match Block::open(Arc::clone(store), &dir.tenant, &dir.id).await? {
            Some(block) => out.entry(dir.tenant).or_default().push(Arc::new(block)),
            None => {
                tracing::warn!(dir = %dir.path, "removing log block without meta.json (interrupted write)");
                delete_dir(&**store, &dir.path).await?;
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|b| b.meta.min_time);
    }
    Ok(out)
}

#[async_trait]
impl LogAppender for LogStore {
    async fn append_logs(
        &self,
        tenant: &TenantId,
        batch: Vec<LogStreamBatch>,
    ) -> Result<LogAppendOutcome, StorageError> {
        let head = self.head(tenant);
        let window = self.options.ooo_window_ns();
        let target = self.options.chunk_target_bytes;
        let level = self.options.zstd_level;
        let mut outcome = LogAppendOutcome::default();
        let ticket = {
            let mut head = head.lock();
            let mut ids = Vec::with_capacity(batch.len());
            let mut created: Vec<(u32, &Labels)> = Vec::new();
            let mut accepted: Vec<Vec<bool>> = Vec::with_capacity(batch.len());
            let mut stored = 0usize;
            let mut jobs: Vec<(u32, SealJob)> = Vec::new();
            let max_streams = self.stream_limit.read().as_ref().map_or(0, |f| f(tenant));
            for stream_batch in &batch {
                if max_streams > 0
                    && head.num_streams() as u64 >= max_streams
                    && !head.contains(&stream_batch.labels)
                {
                    for entry in &stream_batch.entries {
                        outcome.reject(
                            &stream_batch.labels,
                            entry.ts,
                            LogRejectReason::StreamLimit,
                        );
                    }
                    ids.push(u32::MAX);
                    accepted.push(vec![false; stream_batch.entries.len()]);
                    continue;
                }
                let (id, new) = head.get_or_create(&stream_batch.labels);
                if new {
                    created.push((id, &stream_batch.labels));
                    outcome.new_streams += 1;
                }
                ids.push(id);
                let mut flags = Vec::with_capacity(stream_batch.entries.len());
                let Some(stream) = head.stream_mut(id) else {
                    accepted.push(vec![false; stream_batch.entries.len()]);
                    continue;
                };
                for entry in &stream_batch.entries {
                    // Full buffers are sealed below, outside the lock; only a huge batch
                    // seals inline, so no chunk outgrows what decoders accept.
                    match stream.append(
                        entry.ts,
                        &entry.line,
                        &entry.metadata,
                        window,
                        target.saturating_mul(INLINE_SEAL_FACTOR),
                        level,
                    ) {
                        Ok(Appended::Stored) => {
                            flags.push(true);
                            stored += 1;
                            outcome.accepted += 1;
                            outcome.accepted_bytes += entry.line.len();
                        }
                        Ok(Appended::Duplicate) => {
                            flags.push(false);
                            outcome.accepted += 1;
                            outcome.accepted_bytes += entry.line.len();
                            outcome.duplicates += 1;
                            outcome.duplicate_bytes += entry.line.len();
                        }
                        Err(reason) => {
                            flags.push(false);
                            outcome.reject(&stream_batch.labels, entry.ts, reason);
                        }
                    }
                }
                accepted.push(flags);
                if let Some(job) = stream.seal_job(target) {
                    jobs.push((id, job));
                }
            }
            let ticket = if stored == 0 && created.is_empty() {
                Ok(None)
            } else {
                let mut seq = 0;
                self.wal
                    .append_with(|buf| {
                        // Runs under the WAL's append lock: sequences follow WAL order.
                        seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                        wal_record::encode_append(
                            buf, seq, tenant, &created, &batch, &ids, &accepted,
                        );
                    })
                    .map(|ticket| {
                        for (&id, flags) in ids.iter().zip(&accepted) {
                            if flags.contains(&true) || created.iter().any(|(c, _)| *c == id) {
                                if let Some(stream) = head.stream_mut(id) {
                                    stream.last_seq = seq;
                                }
                            }
                        }
                        Some(ticket)
                    })
                    .map_err(|e| StorageError::Unavailable(e.to_string()))
            };
            (ticket, jobs)
        };
        let (ticket, jobs) = ticket;
        // Full open buffers are compressed without the head lock, while the WAL syncs;
        // their entries stay readable in the open buffer until the chunk replaces them.
        if !jobs.is_empty() {
            let done: Vec<_> = jobs
                .into_iter()
                .map(|(id, job)| (id, job.run(level)))
                .collect();
            let mut head = head.lock();
            for (id, sealed) in done {
                if let Some(stream) = head.stream_mut(id) {
                    stream.finish_seal(sealed);
                }
            }
        }
        if let Some(ticket) = ticket? {
            self.wal
                .wait_durable(ticket)
                .await
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        }
        self.counters
            .entries_appended
            .fetch_add(outcome.accepted as u64, Ordering::Relaxed);
        self.counters
            .bytes_appended
            .fetch_add(outcome.accepted_bytes as u64, Ordering::Relaxed);
        self.counters
            .entries_rejected
            .fetch_add(outcome.rejected_total() as u64, Ordering::Relaxed);
        Ok(outcome)
    }
}

impl LogQueryable for LogStore {
    fn log_querier(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        let head = self.heads.read().get(tenant).cloned();
        Ok(Box::new(LogStoreQuerier::new(
            tenant.clone(),
            head,
            Arc::clone(&self.blocks),
            start,
            end,
        )))
    }
}
