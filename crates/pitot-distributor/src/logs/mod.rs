//! The logs half of the distributor: Loki pushes are validated stream by stream and
//! entry by entry, valid entries are stored (durably) even when others are refused, and
//! refusals are counted by tenant and Loki's reason IDs. Accepted entries are also
//! offered to live-tail subscribers.

mod limits;
mod reason;
mod stream_labels;
mod validate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pitot_core::{Labels, Origin, Target, TenantId};
use pitot_limits::{Limits, RateDecision, RateKind, RateLimiters};
use pitot_proto::loki_push::PushStream;
use pitot_storage_api::{LogAppender, LogRejectReason, LogStreamBatch};
use tokio::sync::broadcast;

pub use limits::LogValidationLimits;
pub use reason::LogDiscardReason;
pub use stream_labels::parse_stream_labels;
pub use validate::LogRefusal;

use crate::{DiscardedCounters, PushError, TenantCounters};
use validate::{check_entry, check_stream_labels, describe_stream, rfc3339, TimeWindow};

/// Most refusal messages returned in one response; the rest are only counted.
const MAX_MESSAGES: usize = 10;

/// What a log push did.
#[derive(Debug, Clone, Default)]
pub struct LogPushOutcome {
    /// Entries stored (and durable).
    pub accepted: usize,
    /// Raw line bytes stored.
    pub accepted_bytes: usize,
    /// Entries discarded, for any reason.
    pub discarded: usize,
    /// The first refusals, each naming the stream and the rule; empty when everything
    /// was stored.
    pub errors: Vec<String>,
}

/// Entries just stored for one tenant, as live tail sees them.
#[derive(Debug)]
pub struct TailBatch {
    /// Whose entries.
    pub tenant: TenantId,
    /// The storage key of the data source they went to (what a tail reads).
    pub storage: TenantId,
    /// The streams and their entries.
    pub streams: Vec<LogStreamBatch>,
}

/// The logs ingest pipeline: validate, then append to log storage.
pub struct LogsDistributor {
    appender: Arc<dyn LogAppender>,
    limits: LogValidationLimits,
    tail: broadcast::Sender<Arc<TailBatch>>,
    /// Entries discarded by tenant and reason.
    pub discarded_entries: DiscardedCounters,
    /// Line bytes discarded by tenant and reason.
    pub discarded_bytes: DiscardedCounters,
    /// Entries received (valid or not).
    pub received_entries: AtomicU64,
    /// Line bytes received (valid or not).
    pub received_bytes: AtomicU64,
    /// Entries stored, by tenant (exact duplicates of stored entries not included).
    pub ingested_entries: TenantCounters,
    /// Entries acknowledged as exact duplicates of stored ones (a client's retry), by
    /// tenant: held once and not billed.
    pub duplicate_entries: TenantCounters,
    /// Line bytes stored, by tenant.
    pub ingested_bytes: TenantCounters,
    tenant_limits: Option<Arc<Limits>>,
    rates: RateLimiters,
    meter: crate::RateMeter,
    usage: Option<Arc<pitot_usage::UsageMeter>>,
}

/// Bytes in Loki's "MB" of `ingestion_rate_mb`.
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

impl LogsDistributor {
    /// A distributor writing into `appender`.
    pub fn new(appender: Arc<dyn LogAppender>, limits: LogValidationLimits) -> Self {
        LogsDistributor {
            appender,
            limits,
            tail: broadcast::channel(1024).0,
            discarded_entries: DiscardedCounters::default(),
            discarded_bytes: DiscardedCounters::default(),
            received_entries: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            ingested_entries: TenantCounters::default(),
            duplicate_entries: TenantCounters::default(),
            ingested_bytes: TenantCounters::default(),
            tenant_limits: None,
            rates: RateLimiters::default(),
            meter: crate::RateMeter::default(),
            usage: None,
        }
    }

    /// What `tenant` stored per second over the last minute (samples for metrics,
    /// line bytes for logs).
    pub fn ingestion_rate(&self, tenant: &TenantId) -> f64 {
        self.meter.rate(tenant, std::time::Instant::now())
    }

    /// Meters stored and refused log lines and bytes per tenant for billing.
    pub fn with_usage(mut self, usage: Arc<pitot_usage::UsageMeter>) -> Self {
        self.usage = Some(usage);
        self
    }

    fn usage_rejected(&self, target: &Target, reason: &str, n: u64) {
        if let (Some(usage), true) = (&self.usage, n > 0) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            usage.record(
                &target.tenant,
                &target.datasource,
                "logs",
                target.origin.as_str(),
                now,
                |r| *r.rejected.entry(reason.to_string()).or_default() += n,
            );
        }
    }

    /// Holds every tenant to its own limits (byte rate, line size, label lengths) on
    /// top of the server-wide settings.
    pub fn with_tenant_limits(mut self, limits: Arc<Limits>) -> Self {
        self.tenant_limits = Some(limits);
        self
    }

    /// The validation limits of `tenant`, after taking `bytes` from its rate bucket.
    /// Managed data sources are not held to the tenant's byte rate.
    fn admit(
        &self,
        target: &Target,
        entries: usize,
        bytes: usize,
    ) -> Result<LogValidationLimits, PushError> {
        let Some(all) = &self.tenant_limits else {
            return Ok(self.limits.clone());
        };
        let tenant = &target.tenant;
        let l = all.get(tenant);
        let decision = if target.origin == Origin::Managed {
            RateDecision::Allowed
        } else {
            self.rates.check(
                tenant,
                RateKind::LogBytes,
                l.ingestion_rate_mb * BYTES_PER_MB,
                l.ingestion_burst_size_mb * BYTES_PER_MB,
                bytes as u64,
                std::time::Instant::now(),
            )
        };
        let refusal = match decision {
            RateDecision::Allowed => None,
            RateDecision::TooLarge => Some(PushError::TooLarge {
                message: format!(
                    "the request carried {bytes} bytes of log lines, more than the tenant's whole ingestion burst of {} bytes (err-pitot-tenant-max-ingestion-burst), so it can never be admitted: send smaller batches or raise ingestion_burst_size_mb ({})",
                    (l.ingestion_burst_size_mb * BYTES_PER_MB) as u64,
                    l.ingestion_burst_size_mb
                ),
            }),
            RateDecision::Limited { retry_after } => Some(PushError::RateLimited {
                retry_after,
                message: format!(
                    "ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{entries}' lines totaling '{bytes}' bytes, reduce log volume or contact your administrator to request a higher limit (ingestion_rate_mb: {}, ingestion_burst_size_mb: {})",
                    (l.ingestion_rate_mb * BYTES_PER_MB) as u64,
                    l.ingestion_rate_mb,
                    l.ingestion_burst_size_mb
                ),
            }),
        };
        if let Some(refusal) = refusal {
            self.discarded_entries
                .add(tenant, "rate_limited", entries as u64);
            self.discarded_bytes
                .add(tenant, "rate_limited", bytes as u64);
            self.usage_rejected(target, "rate_limited", entries as u64);
            return Err(refusal);
        }
        Ok(LogValidationLimits {
            max_label_name_length: l.max_label_name_length as usize,
            max_label_value_length: l.max_label_value_length as usize,
            max_line_size: l.max_line_size as usize,
            ..self.limits.clone()
        })
    }

    /// The limits pushes are checked against.
    pub fn limits(&self) -> &LogValidationLimits {
        &self.limits
    }

    /// Subscribes to entries as they are stored, for live tail. A subscriber that falls
    /// more than 1,024 pushes behind misses some and is told so by the channel.
    pub fn subscribe_tail(&self) -> broadcast::Receiver<Arc<TailBatch>> {
        self.tail.subscribe()
    }

    /// Validates and stores the streams of a push into `target`, a data source of its
    /// tenant; `now_ns` anchors the timestamp window.
    pub async fn push(
        &self,
        target: &Target,
        streams: Vec<PushStream>,
        now_ns: i64,
    ) -> Result<LogPushOutcome, PushError> {
        let tenant = &target.tenant;
        let mut outcome = LogPushOutcome::default();
        let total_entries: usize = streams.iter().map(|s| s.entries.len()).sum();
        let total_bytes: usize = streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum();
        let limits = self.admit(target, total_entries, total_bytes)?;
        let max_age = limits.reject_old_samples_max_age;
        let window = TimeWindow {
            now: now_ns,
            min: if max_age.is_zero() {
                i64::MIN
            } else {
                now_ns.saturating_sub(max_age.as_nanos().min(i64::MAX as u128) as i64)
            },
            max: now_ns.saturating_add(limits.creation_grace_period.as_nanos() as i64),
        };
        let mut batch: Vec<LogStreamBatch> = Vec::with_capacity(streams.len());
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        for stream in streams {
            let n = stream.entries.len();
            let bytes: usize = stream.entries.iter().map(|e| e.line.len()).sum();
            self.received_entries.fetch_add(n as u64, Ordering::Relaxed);
            self.received_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
            let verbose = outcome.errors.len() < MAX_MESSAGES;
            let labels = match check_stream_labels(&stream.labels, &limits, verbose) {
                Ok(l) => l,
                Err(refusal) => {
                    self.discard(target, &mut outcome, &refusal, n, bytes);
                    continue;
                }
            };
            let mut entries = Vec::with_capacity(n);
            for entry in stream.entries {
                let len = entry.line.len();
                let verbose = outcome.errors.len() < MAX_MESSAGES;
                match check_entry(entry, &labels, window, &limits, verbose) {
                    Ok(e) => entries.push(e),
                    Err(refusal) => self.discard(target, &mut outcome, &refusal, 1, len),
                }
            }
            if entries.is_empty() {
                continue;
            }
            // Two pushed streams with the same labels become one batch entry, found by
            // hash: a linear search made a push of many small streams quadratic.
            match by_labels.get(&labels) {
                Some(&i) => batch[i].entries.extend(entries),
                None => {
                    by_labels.insert(labels.clone(), batch.len());
                    batch.push(LogStreamBatch { labels, entries });
                }
            }
        }
        if batch.is_empty() {
            return Ok(outcome);
        }
        let for_tail = (self.tail.receiver_count() > 0).then(|| batch.clone());
        let stored = self.appender.append_logs(&target.storage, batch).await?;
        outcome.accepted += stored.accepted;
        outcome.accepted_bytes += stored.accepted_bytes;
        // A retried batch is acknowledged again but stored, and billed, once.
        let new_entries = (stored.accepted - stored.duplicates) as u64;
        let new_bytes = (stored.accepted_bytes - stored.duplicate_bytes) as u64;
        self.ingested_entries.add(tenant, new_entries);
        self.duplicate_entries.add(tenant, stored.duplicates as u64);
        if let Some(usage) = &self.usage {
            usage.record(
                tenant,
                &target.datasource,
                "logs",
                target.origin.as_str(),
                now_ns / 1_000_000,
                |r| {
                    r.log_lines_ingested += new_entries;
                    r.log_bytes_ingested += new_bytes;
                },
            );
        }
        self.ingested_bytes.add(tenant, new_bytes);
        self.meter.add(tenant, new_bytes, std::time::Instant::now());
        for (reason, n) in &stored.rejected {
            self.discarded_entries.add(tenant, reason.id(), *n as u64);
            self.usage_rejected(target, reason.id(), *n as u64);
            outcome.discarded += n;
        }
        if let Some(r) = stored.first_rejection {
            if outcome.errors.len() < MAX_MESSAGES {
                let message = match r.reason {
                    LogRejectReason::TooFarBehind => format!(
                        "entry with timestamp {} ignored for stream '{}': entry too far behind, older than the stream's newest entry by more than the out-of-order window (limit: {})",
                        rfc3339(r.ts),
                        r.labels,
                        LogDiscardReason::TooFarBehind.setting().unwrap_or_default(),
                    ),
                    LogRejectReason::StreamLimit => format!(
                        "stream '{}' refused: maximum active stream limit exceeded (limit: {} streams, max_global_streams_per_user); existing streams keep being accepted, reduce the number of label combinations or contact your service administrator",
                        r.labels,
                        self.tenant_limits
                            .as_ref()
                            .map_or(0, |l| l.get(tenant).max_global_streams_per_user),
                    ),
                };
                outcome.errors.push(message);
            }
        }
        if let Some(streams) = for_tail {
            // Nobody listening is not an error.
            let _ = self.tail.send(Arc::new(TailBatch {
                tenant: tenant.clone(),
                storage: target.storage.clone(),
                streams,
            }));
        }
        Ok(outcome)
    }

    fn discard(
        &self,
        target: &Target,
        outcome: &mut LogPushOutcome,
        refusal: &LogRefusal,
        entries: usize,
        bytes: usize,
    ) {
        let tenant = &target.tenant;
        self.discarded_entries
            .add(tenant, refusal.reason.id(), entries as u64);
        self.discarded_bytes
            .add(tenant, refusal.reason.id(), bytes as u64);
        self.usage_rejected(target, refusal.reason.id(), entries as u64);
        outcome.discarded += entries;
        if outcome.errors.len() < MAX_MESSAGES {
            outcome.errors.push(refusal.message.clone());
        } else if outcome.errors.len() == MAX_MESSAGES {
            outcome
                .errors
                .push("(further refusals counted but not listed)".into());
        }
    }
}

/// Describes a pushed stream's labels as sent, for messages outside this module.
pub fn describe_pushed_stream(stream: &PushStream) -> String {
    describe_stream(&stream.labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use parking_lot::Mutex;
    use pitot_proto::loki_push::{PushEntry, StreamLabels};
    use pitot_storage_api::{LogAppendOutcome, StorageError};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<LogStreamBatch>>);

    #[async_trait]
    impl LogAppender for Recorder {
        async fn append_logs(
            &self,
            _: &TenantId,
            batch: Vec<LogStreamBatch>,
        ) -> Result<LogAppendOutcome, StorageError> {
            let accepted = batch.iter().map(|b| b.entries.len()).sum();
            let accepted_bytes = batch
                .iter()
                .flat_map(|b| &b.entries)
                .map(|e| e.line.len())
                .sum();
            self.0.lock().extend(batch);
            Ok(LogAppendOutcome {
                accepted,
                accepted_bytes,
                ..Default::default()
            })
        }
    }

    #[tokio::test]
    async fn valid_streams_are_stored_and_invalid_ones_named() {
        let rec = Arc::new(Recorder::default());
        let d = LogsDistributor::new(rec.clone(), LogValidationLimits::default());
        let mut tail = d.subscribe_tail();
        let now = 1_800_000_000_000_000_000;
        let entry = |line: &str| PushEntry {
            ts: now,
            line: line.into(),
            metadata: vec![],
        };
        let streams = vec![
            PushStream {
                labels: StreamLabels::Selector("{app=\"ok\"}".into()),
                entries: vec![entry("a"), entry("b")],
            },
            PushStream {
                labels: StreamLabels::Selector("{app=ok}".into()),
                entries: vec![entry("c")],
            },
            PushStream {
                labels: StreamLabels::Selector("{app=\"ok\"}".into()),
                entries: vec![entry(&"x".repeat(300 * 1024))],
            },
        ];
        let tenant = TenantId::new("t1").unwrap();
        let target = Target::default_for(&tenant, pitot_core::DataKind::Logs);
        let out = d.push(&target, streams, now).await.unwrap();
        assert_eq!(out.accepted, 2);
        assert_eq!(out.discarded, 2);
        assert_eq!(out.errors.len(), 2);
        assert!(out.errors[0].contains("{app=ok}"), "{}", out.errors[0]);
        assert!(
            out.errors[1].contains("max entry size"),
            "{}",
            out.errors[1]
        );
        let stored = rec.0.lock();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].labels.get("service_name"), Some("ok"));
        let seen = tail.try_recv().unwrap();
        assert_eq!(seen.streams[0].entries.len(), 2);
        assert_eq!(
            d.discarded_entries.snapshot(),
            vec![
                (tenant.clone(), "invalid_labels", 1),
                (tenant.clone(), "line_too_long", 1)
            ]
        );
    }
}
