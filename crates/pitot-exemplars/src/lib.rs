//! Exemplar storage: what remote write 1.0 and 2.0 and OTLP carry as exemplars (a
//! trace ID and a value at a time, attached to a series), kept so that
//! `/api/v1/query_exemplars` can answer and Grafana can jump from a graph to a trace.
//!
//! # Shape
//!
//! Each tenant has a circular buffer as Prometheus' exemplar storage does: at most the
//! tenant's limit (Mimir's `max_global_exemplars_per_user`) of exemplars, the oldest
//! overwritten first, whatever series they belong to. Within a series exemplars are
//! kept in time order: an exemplar equal to one the series holds is a duplicate (a
//! retried push; acknowledged and stored once), any other not newer than the series'
//! newest is out of order (refused and named, as Prometheus refuses it). Exemplar labels may hold at most
//! [`MAX_LABELS_RUNES`] characters, names and values together, as OpenMetrics requires.
//!
//! # Durability
//!
//! Every accepted exemplar is written to this store's own write-ahead log
//! (`pitot-wal`, in its own directory) and [`ExemplarStore::append`] returns only when
//! it is fsynced, so an acknowledged exemplar survives `kill -9`. Replay applies the
//! log through the same rules, so an exemplar applied twice (a checkpoint taken while
//! appends went on, then the segment after it) is a duplicate and stored once. Every
//! [`CHECKPOINT_EVERY`] records the log is compacted into a checkpoint of what the
//! buffers hold.

mod record;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pitot_core::{Labels, Matcher, TenantId};
use pitot_wal::{Wal, WalError, WalOptions};

pub use record::RecordError;

/// Most characters (Unicode scalar values) of an exemplar's label names and values
/// together, as OpenMetrics and Prometheus allow.
pub const MAX_LABELS_RUNES: usize = 128;

/// Records appended between two checkpoints of the log.
pub const CHECKPOINT_EVERY: u64 = 4096;

/// Reason ID of an exemplar older than (or at the time of, and different from) the
/// newest exemplar of its series.
pub const OUT_OF_ORDER: &str = "exemplar_out_of_order";
/// Reason ID of exemplar labels longer than [`MAX_LABELS_RUNES`].
pub const LABELS_TOO_LONG: &str = "exemplar_labels_too_long";
/// Reason ID of an exemplar of a tenant whose limit is 0.
pub const DISABLED: &str = "exemplars_disabled";

/// One exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its labels, often `trace_id` and `span_id`.
    pub labels: Labels,
    /// The value observed.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

impl Exemplar {
    /// Same labels, same timestamp, same value bits: a resend of the same exemplar.
    fn same_as(&self, other: &Exemplar) -> bool {
        self.timestamp == other.timestamp
            && self.value.to_bits() == other.value.to_bits()
            && self.labels == other.labels
    }
}

/// What happened to the exemplars of one append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Exemplars stored.
    pub stored: u64,
    /// Exact resends of a series' newest exemplar: acknowledged, stored once.
    pub duplicates: u64,
    /// Exemplars refused, by reason ID.
    pub refused: BTreeMap<&'static str, u64>,
    /// The first refusal, described for the client (which series, which rule).
    pub first_refusal: Option<String>,
}

impl AppendOutcome {
    fn refuse(&mut self, reason: &'static str, describe: impl FnOnce() -> String) {
        *self.refused.entry(reason).or_default() += 1;
        if self.first_refusal.is_none() {
            self.first_refusal = Some(describe());
        }
    }

    /// Exemplars refused, all reasons together.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Why the store could not take or load exemplars.
#[derive(Debug, thiserror::Error)]
pub enum ExemplarError {
    /// The write-ahead log failed; nothing of the append can be promised durable.
    #[error("exemplar log: {0}")]
    Wal(#[from] WalError),
    /// A log record could not be read back.
    #[error("exemplar log record: {0}")]
    Record(#[from] RecordError),
}

/// One series' exemplars, oldest first.
#[derive(Debug, Default)]
struct SeriesExemplars {
    id: u64,
    exemplars: VecDeque<Exemplar>,
}

/// One tenant's circular buffer.
#[derive(Debug, Default)]
struct TenantBuffer {
    series: HashMap<Labels, SeriesExemplars>,
    /// Series of each id, to evict by insertion order.
    ids: HashMap<u64, Labels>,
    /// The series id of every exemplar held, oldest first.
    order: VecDeque<u64>,
    next_id: u64,
}

impl TenantBuffer {
    /// Applies one exemplar under the ordering rules; `limit` bounds what the tenant
    /// holds (0 refuses).
    fn apply(
        &mut self,
        series: &Labels,
        exemplar: Exemplar,
        limit: usize,
        outcome: &mut AppendOutcome,
    ) -> bool {
        if limit == 0 {
            outcome.refuse(DISABLED, || {
                "exemplars are not stored for this tenant: its limit max_global_exemplars_per_user is 0 (err-pitot-exemplars_disabled); raise it, or turn off sending exemplars".to_string()
            });
            return false;
        }
        let runes: usize = exemplar
            .labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if runes > MAX_LABELS_RUNES {
            outcome.refuse(LABELS_TOO_LONG, || {
                format!(
                    "an exemplar of series {series} has labels of {runes} characters, above the limit of {MAX_LABELS_RUNES} (err-pitot-{LABELS_TOO_LONG}); shorten its labels"
                )
            });
            return false;
        }
        let held = self.series.get(series).map(|s| &s.exemplars);
        if let Some(newest) = held.and_then(|h| h.back()) {
            if exemplar.timestamp <= newest.timestamp {
                // A resend of one still held (a retried batch) is a duplicate; the
                // series' exemplars are in time order, so only those at its time are
                // compared.
                let held = held.expect("newest is in it");
                let from = held.partition_point(|e| e.timestamp < exemplar.timestamp);
                if held
                    .range(from..)
                    .take_while(|e| e.timestamp == exemplar.timestamp)
                    .any(|e| e.same_as(&exemplar))
                {
                    outcome.duplicates += 1;
                    return false;
                }
                let newest_ts = newest.timestamp;
                outcome.refuse(OUT_OF_ORDER, || {
                    format!(
                        "an exemplar of series {series} at {} is not newer than the series' newest exemplar at {newest_ts} (err-pitot-{OUT_OF_ORDER}); send each series' exemplars in time order",
                        exemplar.timestamp
                    )
                });
                return false;
            }
        }
        let next_id = &mut self.next_id;
        let entry = self.series.entry(series.clone()).or_insert_with(|| {
            *next_id += 1;
            SeriesExemplars {
                id: *next_id,
                exemplars: VecDeque::new(),
            }
        });
        if entry.exemplars.is_empty() {
            self.ids.insert(entry.id, series.clone());
        }
        entry.exemplars.push_back(exemplar);
        self.order.push_back(entry.id);
        outcome.stored += 1;
        self.evict_to(limit);
        true
    }

    /// Drops the oldest exemplars until at most `limit` are held.
    fn evict_to(&mut self, limit: usize) {
        while self.order.len() > limit {
            let Some(id) = self.order.pop_front() else {
                return;
            };
            let Some(labels) = self.ids.get(&id) else {
                continue;
            };
            if let Some(series) = self.series.get_mut(labels) {
                series.exemplars.pop_front();
                if series.exemplars.is_empty() {
                    let labels = self.ids.remove(&id).expect("present above");
                    self.series.remove(&labels);
                }
            }
        }
    }
}

/// A series' exemplars in a query's range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplarsResult {
    /// The series.
    pub series: Labels,
    /// Its exemplars in the range, oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExemplarStats {
    /// Exemplars held, all tenants together.
    pub held: u64,
    /// Exemplars stored since start.
    pub appended: u64,
}

/// The exemplars of every tenant, durable through their own log.
pub struct ExemplarStore {
    tenants: Mutex<HashMap<TenantId, TenantBuffer>>,
    wal: Wal,
    records_since_checkpoint: AtomicU64,
    checkpointing: AtomicBool,
    appended: AtomicU64,
}

/// One exemplar to append, with the series it belongs to.
#[derive(Debug, Clone)]
pub struct NewExemplar {
    /// The series' labels.
    pub series: Labels,
    /// The exemplar.
    pub exemplar: Exemplar,
}

impl ExemplarStore {
    /// Opens (or creates) the store's log under `dir` and replays it; replayed exemplars
    /// are held to `replay_limit` per tenant until the tenant's next append applies its
    /// own limit.
    pub fn open(
        dir: impl AsRef<Path>,
        fsync: bool,
        replay_limit: usize,
    ) -> Result<Arc<ExemplarStore>, ExemplarError> {
        let wal = Wal::open(
            dir,
            WalOptions {
                fsync,
                ..WalOptions::default()
            },
        )?;
        let mut tenants: HashMap<TenantId, TenantBuffer> = HashMap::new();
        let mut replayed = 0u64;
        let mut skipped = 0u64;
        let stats = wal
            .replay(|bytes| -> Result<(), RecordError> {
                // The log's checksums passed, so a record that does not decode was written
                // by a newer build or a bug: its exemplars are skipped and said so, rather
                // than keeping the whole server from starting.
                let (tenant, items) = match record::decode(bytes) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        tracing::error!(error = %e, "an exemplar log record cannot be read; its exemplars are skipped");
                        skipped += 1;
                        return Ok(());
                    }
                };
                let buffer = tenants.entry(tenant).or_default();
                let mut outcome = AppendOutcome::default();
                for item in items {
                    buffer.apply(&item.series, item.exemplar, replay_limit, &mut outcome);
                }
                replayed += outcome.stored;
                Ok(())
            })
            .map_err(|e| match e {
                pitot_wal::ReplayError::Wal(e) => ExemplarError::Wal(e),
                pitot_wal::ReplayError::Callback(e) => ExemplarError::Record(e),
            })?;
        tracing::info!(
            exemplars = replayed,
            records = stats.records,
            skipped_records = skipped,
            "exemplar log replayed"
        );
        Ok(Arc::new(ExemplarStore {
            tenants: Mutex::new(tenants),
            wal,
            records_since_checkpoint: AtomicU64::new(stats.records),
            checkpointing: AtomicBool::new(false),
            appended: AtomicU64::new(0),
        }))
    }

    /// Stores `items` of `tenant`, holding the tenant to `limit` exemplars; returns when
    /// what was stored is durable.
    pub async fn append(
        self: &Arc<Self>,
        tenant: &TenantId,
        items: Vec<NewExemplar>,
        limit: usize,
    ) -> Result<AppendOutcome, ExemplarError> {
        let mut outcome = AppendOutcome::default();
        if items.is_empty() {
            return Ok(outcome);
        }
        let ticket = {
            let mut tenants = self.tenants.lock();
            let buffer = tenants.entry(tenant.clone()).or_default();
            let mut accepted = Vec::new();
            for item in items {
                if buffer.apply(&item.series, item.exemplar.clone(), limit, &mut outcome) {
                    accepted.push(item);
                }
            }
            buffer.evict_to(limit);
            if accepted.is_empty() {
                return Ok(outcome);
            }
            // Appended under the lock, so the log holds each series' exemplars in the
            // order they were applied.
            self.wal
                .append_with(|out| record::encode(out, tenant, &accepted))?
        };
        self.wal.wait_durable(ticket).await?;
        self.appended.fetch_add(outcome.stored, Ordering::Relaxed);
        let records = self
            .records_since_checkpoint
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if records >= CHECKPOINT_EVERY && !self.checkpointing.swap(true, Ordering::AcqRel) {
            let store = Arc::clone(self);
            tokio_free_checkpoint(store);
        }
        Ok(outcome)
    }

    /// Compacts the log: rotates it, then writes what the buffers hold as the
    /// checkpoint replacing every earlier segment. Blocking (fsyncs).
    pub fn checkpoint(&self) -> Result<(), ExemplarError> {
        let segment = self.wal.rotate()?;
        self.records_since_checkpoint.store(0, Ordering::Relaxed);
        let snapshot: Vec<Vec<u8>> = {
            let tenants = self.tenants.lock();
            let mut records = Vec::new();
            for (tenant, buffer) in tenants.iter() {
                // Oldest first, so that replay evicts in the same order.
                let mut cursor: HashMap<u64, usize> = HashMap::new();
                let mut items = Vec::new();
                for id in &buffer.order {
                    let Some(labels) = buffer.ids.get(id) else {
                        continue;
                    };
                    let at = cursor.entry(*id).or_default();
                    if let Some(e) = buffer.series.get(labels).and_then(|s| s.exemplars.get(*at)) {
                        items.push(NewExemplar {
                            series: labels.clone(),
                            exemplar: e.clone(),
                        });
                    }
                    *at += 1;
                    if items.len() == 1000 {
                        let mut out = Vec::new();
                        record::encode(&mut out, tenant, &items);
                        records.push(out);
                        items.clear();
                    }
                }
                if !items.is_empty() {
                    let mut out = Vec::new();
                    record::encode(&mut out, tenant, &items);
                    records.push(out);
                }
            }
            records
        };
        self.wal.checkpoint(segment, &mut snapshot.into_iter())?;
        Ok(())
    }

    /// Exemplars of `tenant` in `[start, end]` (ms) of series matching any of the
    /// matcher sets, sorted by series.
    pub fn query(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<SeriesExemplarsResult> {
        let tenants = self.tenants.lock();
        let Some(buffer) = tenants.get(tenant) else {
            return Vec::new();
        };
        let mut out: Vec<SeriesExemplarsResult> = buffer
            .series
            .iter()
            .filter(|(labels, _)| {
                matcher_sets.iter().any(|set| {
                    set.iter()
                        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
                })
            })
            .filter_map(|(labels, s)| {
                let exemplars: Vec<Exemplar> = s
                    .exemplars
                    .iter()
                    .filter(|e| e.timestamp >= start && e.timestamp <= end)
                    .cloned()
                    .collect();
                (!exemplars.is_empty()).then(|| SeriesExemplarsResult {
                    series: labels.clone(),
                    exemplars,
                })
            })
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    /// Drops every exemplar kept under `key` (a deleted data source's storage key) and
    /// writes a checkpoint, so that replay cannot bring them back. Blocking (fsyncs).
    pub fn forget(&self, key: &TenantId) -> Result<(), ExemplarError> {
        if self.tenants.lock().remove(key).is_none() {
            return Ok(());
        }
        // A background checkpoint may be running; this one waits for the log's own lock.
        self.checkpoint()
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> ExemplarStats {
        let held = self
            .tenants
            .lock()
            .values()
            .map(|b| b.order.len() as u64)
            .sum();
        ExemplarStats {
            held,
            appended: self.appended.load(Ordering::Relaxed),
        }
    }

    /// Flushes and closes the log (graceful shutdown).
    pub fn close(&self) -> Result<(), ExemplarError> {
        Ok(self.wal.close()?)
    }
}

/// Runs a checkpoint on its own thread (it fsyncs), so no append waits for it.
fn tokio_free_checkpoint(store: Arc<ExemplarStore>) {
    std::thread::spawn(move || {
        if let Err(e) = store.checkpoint() {
            tracing::error!(error = %e, "exemplar log checkpoint failed; the log keeps growing until the next one");
        }
        store.checkpointing.store(false, Ordering::Release);
    });
}
