//! The storage engine as a whole: WAL, heads, blocks, cutting, retention, recovery.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};
use pitot_core::{Sample, TenantId};
use pitot_storage_api::{
    AppendOutcome, MergeQuerier, MetricsAppender, Querier, Queryable, RejectReason, SeriesBatch,
    SeriesLimits, SeriesRef, StorageError, WriteBatch,
};
use pitot_wal::{Wal, WalOptions};

use crate::block::{delete_dir, Block, BlockBuilder, BlockQuerier};
use crate::head::{Appended, Slot, TenantHead};
use crate::querier::HeadQuerier;
use crate::wal_record::{self, RecordBuilder};
use crate::{TsdbError, TsdbOptions};
use pitot_storage_api::block_dirs::list_block_dirs;

/// Series whose samples a block cut copies under one hold of the head lock.
const CUT_SERIES_PER_SLICE: usize = 1000;

/// Series of a push looked up together by [`TenantHead::lookup_many`]: enough for the
/// CPU to overlap their cache misses, few enough that what the lookup brought into
/// cache is still there when their samples are appended.
const LOOKUP_GROUP: usize = 256;

/// Series per WAL checkpoint record, to keep records (and memory while writing) small.
const CHECKPOINT_SERIES_PER_RECORD: usize = 1000;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct TsdbStats {
    /// Samples stored.
    pub samples_appended: AtomicU64,
    /// Series created in heads.
    pub series_created: AtomicU64,
    /// Blocks written.
    pub blocks_written: AtomicU64,
    /// Blocks deleted by retention.
    pub blocks_deleted: AtomicU64,
    /// Head cuts that failed (retried later).
    pub cut_failures: AtomicU64,
}

type HeadRef = Arc<Mutex<TenantHead>>;

/// The metrics storage engine for all tenants of one process.
pub struct Tsdb {
    options: TsdbOptions,
    wal: Arc<Wal>,
    heads: RwLock<HashMap<TenantId, HeadRef>>,
    blocks: RwLock<HashMap<TenantId, Vec<Arc<Block>>>>,
    store: Arc<dyn ObjectStore>,
    /// Serializes cuts, checkpoints and retention.
    maintenance: tokio::sync::Mutex<()>,
    /// Counters.
    pub stats: TsdbStats,
    /// Per-tenant limits on creating series, when set.
    series_limits: RwLock<Option<SeriesLimitsFn>>,
    /// Per-storage-key retention overriding the default, when set.
    retention: RwLock<Option<RetentionFn>>,
}

/// Gives a storage key's retention; `None` for the engine's default.
pub type RetentionFn = Arc<dyn Fn(&TenantId) -> Option<std::time::Duration> + Send + Sync>;

/// Gives a tenant's series limits.
type SeriesLimitsFn = Arc<dyn Fn(&TenantId) -> SeriesLimits + Send + Sync>;

impl Tsdb {
    /// Opens the engine: loads every tenant's blocks from `store`, then replays the WAL
    /// in `wal_dir` into the heads. Samples in the WAL that are older than a tenant's
    /// newest block are already in that block and are skipped.
    pub async fn open(
        wal_dir: &Path,
        store: Arc<dyn ObjectStore>,
        options: TsdbOptions,
    ) -> Result<Arc<Tsdb>, TsdbError> {
        let wal = Wal::open(
            wal_dir,
            WalOptions {
                segment_size: options.wal_segment_size,
                fsync: options.wal_fsync,
            },
        )?;
        let blocks = load_blocks(&store).await?;
        let mut heads: HashMap<TenantId, TenantHead> = HashMap::new();
        for (tenant, list) in &blocks {
            let end = list
                .iter()
                .map(|b| b.meta.max_time)
                .max()
                .unwrap_or(i64::MIN);
            heads.insert(tenant.clone(), TenantHead::new(end));
        }
        let mut replayed_samples = 0u64;
        let stats = wal.replay(|payload| -> Result<(), wal_record::RecordError> {
            let record = wal_record::decode(payload)?;
            let head = heads
                .entry(record.tenant)
                .or_insert_with(|| TenantHead::new(i64::MIN));
            for (id, labels) in record.series {
                head.insert_series(id, labels);
            }
            for (id, sample) in record.samples {
                // Replay accepts what the head accepted live, whatever its age relative
                // to the newest sample, and late samples within the out-of-order window
                // behind the newest block as live; older data is already in a block.
                if head
                    .append(id, sample, i64::MAX, options.ooo_window_ms())
                    .is_ok()
                {
                    replayed_samples += 1;
                }
            }
            Ok(())
        });
        let stats = stats.map_err(|e| TsdbError::Corrupt(format!("wal replay: {e}")))?;
        for head in heads.values_mut() {
            head.remove_empty_series();
        }
        tracing::info!(
            records = stats.records,
            samples = replayed_samples,
            tenants = heads.len(),
            blocks = blocks.values().map(Vec::len).sum::<usize>(),
            "metrics storage recovered"
        );
        Ok(Arc::new(Tsdb {
            options,
            wal: Arc::new(wal),
            heads: RwLock::new(
                heads
                    .into_iter()
                    .map(|(t, h)| (t, Arc::new(Mutex::new(h))))
                    .collect(),
            ),
            blocks: RwLock::new(blocks),
            store,
            maintenance: tokio::sync::Mutex::new(()),
            stats: TsdbStats::default(),
            series_limits: RwLock::new(None),
            retention: RwLock::new(None),
        }))
    }

    fn head(&self, tenant: &TenantId) -> HeadRef {
        if let Some(head) = self.heads.read().get(tenant) {
            return Arc::clone(head);
        }
        let mut heads = self.heads.write();
        let min_valid = self
            .blocks
            .read()
            .get(tenant)
            .and_then(|list| list.iter().map(|b| b.meta.max_time).max())
            .unwrap_or(i64::MIN);
        Arc::clone(
            heads
                .entry(tenant.clone())
                .or_insert_with(|| Arc::new(Mutex::new(TenantHead::new(min_valid)))),
        )
    }

    /// Number of series in `tenant`'s head (its active series).
    pub fn tenant_series(&self, tenant: &TenantId) -> usize {
        self.heads
            .read()
            .get(tenant)
            .map_or(0, |h| h.lock().num_series())
    }

    /// Number of series in the heads of every storage key of `owner` (a tenant's data
    /// sources together).
    pub fn owner_series(&self, owner: &TenantId) -> usize {
        let heads: Vec<HeadRef> = self
            .heads
            .read()
            .iter()
            .filter(|(k, _)| &k.owner() == owner)
            .map(|(_, h)| Arc::clone(h))
            .collect();
        heads.iter().map(|h| h.lock().num_series()).sum()
    }

    /// Holds each storage key to its own retention from now on.
    pub fn set_retention(&self, retention: RetentionFn) {
        *self.retention.write() = Some(retention);
    }

    /// Deletes everything stored under `key`: its head, its blocks, and (by a WAL
    /// checkpoint without it) its samples in the WAL, so nothing comes back on restart.
    /// Returns the number of blocks deleted.
    pub async fn delete_tenant(&self, key: &TenantId) -> Result<usize, TsdbError> {
        let _guard = self.maintenance.lock().await;
        self.heads.write().remove(key);
        let blocks = self.blocks.write().remove(key).unwrap_or_default();
        for block in &blocks {
            block.delete().await?;
        }
        self.checkpoint_wal().await?;
        tracing::info!(key = %key, blocks = blocks.len(), "storage key deleted");
        Ok(blocks.len())
    }

    /// Number of series in all heads.
    pub fn head_series(&self) -> usize {
        self.heads
            .read()
            .values()
            .map(|h| h.lock().num_series())
            .sum()
    }

    /// Blocks of every tenant.
    pub fn block_metas(&self) -> Vec<(TenantId, crate::BlockMeta)> {
        let blocks = self.blocks.read();
        let mut out: Vec<_> = blocks
            .iter()
            .flat_map(|(t, list)| list.iter().map(move |b| (t.clone(), b.meta.clone())))
            .collect();
        out.sort_by(|a, b| (&a.0, a.1.min_time).cmp(&(&b.0, b.1.min_time)));
        out
    }

    /// WAL counters.
    pub fn wal_stats(&self) -> pitot_wal::WalStats {
        self.wal.stats()
    }

    /// Cuts every head that spans at least 1.5 block ranges (all of it up to its newest
    /// sample when `force`), writes the blocks, and checkpoints the WAL. Returns the
    /// number of blocks written.
    pub async fn cut_blocks(&self, force: bool) -> Result<usize, TsdbError> {
        let _guard = self.maintenance.lock().await;
        let heads: Vec<(TenantId, HeadRef)> = self
            .heads
            .read()
            .iter()
            .map(|(t, h)| (t.clone(), Arc::clone(h)))
            .collect();
        let range = self.options.block_range_ms();
        let mut written = 0;
        for (tenant, head) in heads {
            loop {
                // Freeze the range (no more samples older than `end`), copy it, write the
                // block, and only then drop it from the head: queries see the samples in
                // the head until the block is listed.
                let (start, end, previous_min_valid, series) = {
                    let mut head = head.lock();
                    let Some((min_t, max_t)) = head.time_range() else {
                        break;
                    };
                    let start = min_t.div_euclid(range) * range;
                    let end = if force {
                        (start + range).min(max_t.saturating_add(1))
                    } else {
                        start + range
                    };
                    if !force && max_t < end + range / 2 {
                        break;
                    }
                    let previous = head.min_valid_t;
                    head.min_valid_t = previous.max(end);
                    (start, end, previous, head.series_before(end))
                };
                if series.is_empty() {
                    head.lock()
                        .drain_before(end, end.saturating_sub(self.options.ooo_window_ms()));
                    continue;
                }
                // Encode a slice of series at a time: the head lock is held only to copy
                // one slice's samples, and the builder keeps compressed chunks only. The
                // range below `end` no longer changes (the head refuses it now).
                let mut builder = BlockBuilder::new();
                for slice in series.chunks(CUT_SERIES_PER_SLICE) {
                    let parts: Vec<(pitot_core::Labels, Vec<Sample>)> = {
                        let head = head.lock();
                        slice
                            .iter()
                            .filter_map(|&id| Some((head.labels_of(id)?, head.samples_of(id, end))))
                            .collect()
                    };
                    for (labels, samples) in parts {
                        builder.add(&labels, &samples);
                    }
                }
                match builder
                    .write(Arc::clone(&self.store), &tenant, start, end)
                    .await
                {
                    Ok(block) => {
                        tracing::info!(
                            tenant = %tenant,
                            block = %block.meta.ulid,
                            min_time = start,
                            max_time = end,
                            series = block.meta.stats.num_series,
                            samples = block.meta.stats.num_samples,
                            bytes = block.meta.stats.chunk_bytes + block.meta.stats.index_bytes,
                            "head cut into block"
                        );
                        self.blocks
                            .write()
                            .entry(tenant.clone())
                            .or_default()
                            .push(Arc::new(block));
                        head.lock()
                            .drain_before(end, end.saturating_sub(self.options.ooo_window_ms()));
                        self.stats.blocks_written.fetch_add(1, Ordering::Relaxed);
                        written += 1;
                    }
                    Err(error) => {
                        head.lock().min_valid_t = previous_min_valid;
                        self.stats.cut_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(tenant = %tenant, %error, "writing a block failed; samples stay in the head and the cut is retried");
                        return Err(error);
                    }
                }
            }
        }
        if written > 0 {
            self.checkpoint_wal().await?;
        }
        Ok(written)
    }

    /// Replaces every WAL segment so far by a checkpoint of what the heads hold now.
    /// Runs on a blocking thread: it fsyncs and writes the whole head.
    async fn checkpoint_wal(&self) -> Result<(), TsdbError> {
        let heads: Vec<(TenantId, HeadRef)> = self
            .heads
            .read()
            .iter()
            .map(|(t, h)| (t.clone(), Arc::clone(h)))
            .collect();
        let wal = Arc::clone(&self.wal);
        tokio::task::spawn_blocking(move || -> Result<(), TsdbError> {
            let segment = wal.rotate()?;
            let mut records = CheckpointRecords::new(heads);
            wal.checkpoint(segment, &mut records)?;
            Ok(())
        })
        .await
        .map_err(|e| TsdbError::Corrupt(format!("checkpoint task failed: {e}")))?
    }

    /// Deletes blocks whose range ended more than the retention period before `now_ms`.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<usize, TsdbError> {
        let _guard = self.maintenance.lock().await;
        let retention = self.retention.read().clone();
        let expired: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.write();
            let mut expired = Vec::new();
            for (key, list) in blocks.iter_mut() {
                let keep_for = retention
                    .as_ref()
                    .and_then(|f| f(key))
                    .unwrap_or(self.options.retention);
                let cutoff = now_ms - keep_for.as_millis() as i64;
                list.retain(|b| {
                    let keep = b.meta.max_time > cutoff;
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
            self.stats.blocks_deleted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(block = %block.meta.ulid, max_time = block.meta.max_time, "block deleted by retention");
        }
        Ok(expired.len())
    }

    /// Flushes the WAL and stops its writer (graceful shutdown).
    pub fn close(&self) -> Result<(), TsdbError> {
        self.wal.close()?;
        Ok(())
    }
}

/// Lazily encodes the heads as WAL records, locking one head at a time for one slice
/// of series, so a checkpoint neither blocks pushes for long nor holds the whole head
/// encoded in memory.
struct CheckpointRecords {
    heads: Vec<(TenantId, HeadRef)>,
    tenant: usize,
    ids: Vec<u32>,
    pos: usize,
}

impl CheckpointRecords {
    fn new(heads: Vec<(TenantId, HeadRef)>) -> Self {
        CheckpointRecords {
            heads,
            tenant: 0,
            ids: Vec::new(),
            pos: 0,
        }
    }
}

impl Iterator for CheckpointRecords {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let (tenant, head) = self.heads.get(self.tenant)?;
            if self.pos == 0 && self.ids.is_empty() {
                self.ids = head.lock().iter_series().map(|(id, _)| id).collect();
                self.ids.sort_unstable();
                if self.ids.is_empty() {
                    self.tenant += 1;
                    continue;
                }
            }
            let end = (self.pos + CHECKPOINT_SERIES_PER_RECORD).min(self.ids.len());
            let mut builder = RecordBuilder::new();
            {
                let head = head.lock();
                for &id in &self.ids[self.pos..end] {
                    let Some(series) = head.series(id) else {
                        continue;
                    };
                    builder.series(id, &head.series_labels(series));
                    for sample in series.all_samples() {
                        builder.sample(id, sample);
                    }
                }
            }
            self.pos = end;
            if self.pos >= self.ids.len() {
                self.tenant += 1;
                self.pos = 0;
                self.ids.clear();
            }
            if builder.is_empty() {
                continue;
            }
            let mut buf = Vec::new();
            builder.encode_into(tenant, &mut buf);
            return Some(buf);
        }
    }
}

/// Creates the series of `entry`, which `head` does not have, and logs its labels in
/// `record`; unless a series limit refuses it, when its samples are counted as refused
/// in `outcome` instead. `others` is the tenant's series in its other heads.
fn create_series(
    head: &mut TenantHead,
    entry: &SeriesRef<'_>,
    limits: Option<SeriesLimits>,
    others: u64,
    record: &mut RecordBuilder,
    outcome: &mut AppendOutcome,
) -> Option<(u32, Slot)> {
    let over = limits.and_then(|limits| {
        if limits.per_user > 0 && others + head.num_series() as u64 >= limits.per_user {
            Some(RejectReason::PerUserSeriesLimit)
        } else if limits.per_metric > 0
            && head.metric_series(entry.metric_name().unwrap_or("")) >= limits.per_metric
        {
            Some(RejectReason::PerMetricSeriesLimit)
        } else {
            None
        }
    });
    if let Some(reason) = over {
        for sample in entry.samples {
            outcome.reject_with(|| entry.to_labels(), sample.t, reason);
        }
        return None;
    }
    let labels = entry.to_labels();
    let (id, slot) = head.create(labels.clone());
    record.series(id, &labels);
    outcome.new_series += 1;
    Some((id, slot))
}

async fn load_blocks(
    store: &Arc<dyn ObjectStore>,
) -> Result<HashMap<TenantId, Vec<Arc<Block>>>, TsdbError> {
    let mut out: HashMap<TenantId, Vec<Arc<Block>>> = HashMap::new();
    // The log store's blocks sit beside the tenants' under their reserved prefix.
    let dirs = list_block_dirs(store, None, &[pitot_core::RESERVED_LOGS_DIR]).await?;
    for dir in dirs {
        match Block::open(Arc::clone(store), &dir.tenant, &dir.id).await? {
            Some(block) => out.entry(dir.tenant).or_default().push(Arc::new(block)),
            None => {
                tracing::warn!(dir = %dir.path, "removing block without meta.json (interrupted write)");
                delete_dir(&**store, &dir.path).await?;
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|b| b.meta.min_time);
    }
    Ok(out)
}

impl Tsdb {
    /// Applies `batch` to the head and queues its WAL record; the caller waits for the
    /// returned ticket before acknowledging.
    fn stage(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<(AppendOutcome, Option<pitot_wal::Ticket>), StorageError> {
        let head = self.head(tenant);
        let ooo = self.options.ooo_window_ms();
        let mut outcome = AppendOutcome::default();
        let mut record = RecordBuilder::new();
        let limits = self.series_limits.read().as_ref().map(|f| f(tenant));
        // The per-user limit covers every data source of the tenant: count the series of
        // its other storage keys once, before taking this head's lock.
        let others = match limits {
            Some(l) if l.per_user > 0 => {
                let owner = tenant.owner();
                let heads: Vec<HeadRef> = self
                    .heads
                    .read()
                    .iter()
                    .filter(|(k, _)| *k != tenant && k.owner() == owner)
                    .map(|(_, h)| Arc::clone(h))
                    .collect();
                heads.iter().map(|h| h.lock().num_series() as u64).sum()
            }
            _ => 0,
        };
        let mut head = head.lock();
        let entries: Vec<SeriesRef<'_>> = batch.iter().collect();
        let mut sets = Vec::with_capacity(LOOKUP_GROUP.min(entries.len()));
        let mut found = Vec::with_capacity(sets.capacity());
        for group in entries.chunks(LOOKUP_GROUP) {
            sets.clear();
            sets.extend(group.iter().map(|entry| entry.labels));
            head.lookup_many(&sets, &mut found);
            for (entry, &found) in group.iter().zip(&found) {
                // Series found by their borrowed pairs, a group at a time: existing series
                // (nearly all of them) skip the limit checks, creation and building a label
                // set. A series missing from the group's lookup may have been created by an
                // earlier entry of the same request, so it is looked up again before creating.
                let found = found.or_else(|| head.lookup_pairs(entry.labels));
                let Some((id, slot)) = found.or_else(|| {
                    create_series(&mut head, entry, limits, others, &mut record, &mut outcome)
                }) else {
                    continue;
                };
                for &sample in entry.samples {
                    match head.append_at(slot, sample, ooo, ooo) {
                        Ok(Appended::Stored) => {
                            record.sample(id, sample);
                            outcome.accepted += 1;
                        }
                        Ok(Appended::Duplicate) => {
                            outcome.accepted += 1;
                            outcome.duplicates += 1;
                        }
                        Err(reason) => outcome.reject_with(|| entry.to_labels(), sample.t, reason),
                    }
                }
            }
        }
        let ticket = if record.is_empty() {
            None
        } else {
            Some(
                self.wal
                    .append_with(|buf| record.encode_into(tenant, buf))
                    .map_err(|e| StorageError::Unavailable(e.to_string()))?,
            )
        };
        Ok((outcome, ticket))
    }

    fn count(&self, outcome: &AppendOutcome) {
        self.stats
            .samples_appended
            .fetch_add(outcome.accepted as u64, Ordering::Relaxed);
        self.stats
            .series_created
            .fetch_add(outcome.new_series as u64, Ordering::Relaxed);
    }

    /// Holds every tenant to series limits from now on (`limits` is asked on every
    /// append, so run-time changes apply at once).
    pub fn set_series_limits(&self, limits: SeriesLimitsFn) {
        *self.series_limits.write() = Some(limits);
    }

    /// [`MetricsAppender::append`] for callers on a blocking thread (the ruler writes
    /// each rule's results before the next rule of its group runs): returns once durable.
    pub fn append_blocking(
        &self,
        tenant: &TenantId,
        batch: Vec<SeriesBatch>,
    ) -> Result<AppendOutcome, StorageError> {
        let (outcome, ticket) = self.stage(tenant, &WriteBatch::from_series(&batch))?;
        if let Some(ticket) = ticket {
            self.wal
                .wait_durable_blocking(ticket)
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        }
        self.count(&outcome);
        Ok(outcome)
    }
}

#[async_trait]
impl MetricsAppender for Tsdb {
    async fn append_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<AppendOutcome, StorageError> {
        let (outcome, ticket) = self.stage(tenant, batch)?;
        if let Some(ticket) = ticket {
            self.wal
                .wait_durable(ticket)
                .await
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        }
        self.count(&outcome);
        Ok(outcome)
    }
}

impl Queryable for Tsdb {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let mut queriers: Vec<Box<dyn Querier>> = Vec::new();
        if let Some(head) = self.heads.read().get(tenant) {
            queriers.push(Box::new(HeadQuerier::new(Arc::clone(head), mint, maxt)));
        }
        if let Some(blocks) = self.blocks.read().get(tenant) {
            for block in blocks {
                if block.meta.max_time > mint && block.meta.min_time <= maxt {
                    queriers.push(Box::new(BlockQuerier::new(Arc::clone(block), mint, maxt)));
                }
            }
        }
        Ok(Box::new(MergeQuerier::new(queriers)))
    }
}
