use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pitot_core::{Origin, Sample, Target, TenantId};
use pitot_limits::{Limits, RateDecision, RateKind, RateLimiters};
use pitot_proto::remote_write_view::WriteRequestView;
use pitot_storage_api::{MetricsAppender, StorageError, WriteBatch};

use crate::validate::{check_labels, describe, InvalidSeries, ValidationReason};
use crate::{DiscardedCounters, MetadataStore, TenantCounters, ValidationLimits};

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    /// Samples stored (and durable).
    pub accepted: usize,
    /// Samples discarded, for any reason.
    pub discarded: usize,
    /// The first problem, phrased for the client; `None` when everything was stored.
    pub first_error: Option<String>,
}

/// A push that failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Storage could not make the data durable; the client should retry.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The tenant is over its ingestion rate; nothing was stored. Answer 429 with
    /// `Retry-After`.
    #[error("{message}")]
    RateLimited {
        /// When the request would fit.
        retry_after: std::time::Duration,
        /// Names the limit and its value.
        message: String,
    },
    /// The request is larger than the tenant's whole ingestion burst: it can never be
    /// admitted, so it is refused without a retry hint (413), nothing stored.
    #[error("{message}")]
    TooLarge {
        /// Names the limit, its value and what to change.
        message: String,
    },
}

/// A request the tenant's ingestion rate admitted, with the limits to validate it by.
#[derive(Debug)]
pub struct Admitted {
    limits: ValidationLimits,
    samples: usize,
}

/// The metrics ingest pipeline: validate, then append to storage.
pub struct Distributor {
    appender: Arc<dyn MetricsAppender>,
    limits: ValidationLimits,
    /// Samples discarded by tenant and reason.
    pub discarded: DiscardedCounters,
    /// Samples received (valid or not).
    pub received_samples: AtomicU64,
    /// Samples stored, by tenant (exact duplicates of stored samples not included).
    pub ingested: TenantCounters,
    /// Samples acknowledged as exact duplicates of stored ones (a client's retry), by
    /// tenant: held once and not billed.
    pub duplicates: TenantCounters,
    /// Metric metadata by tenant.
    pub metadata: MetadataStore,
    /// Metadata entries received.
    pub received_metadata: AtomicU64,
    tenant_limits: Option<Arc<Limits>>,
    rates: RateLimiters,
    meter: crate::RateMeter,
    usage: Option<Arc<pitot_usage::UsageMeter>>,
}

impl Distributor {
    /// A distributor writing into `appender`.
    pub fn new(appender: Arc<dyn MetricsAppender>, limits: ValidationLimits) -> Self {
        Distributor {
            appender,
            limits,
            discarded: DiscardedCounters::default(),
            received_samples: AtomicU64::new(0),
            ingested: TenantCounters::default(),
            duplicates: TenantCounters::default(),
            received_metadata: AtomicU64::new(0),
            metadata: MetadataStore::default(),
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

    /// Meters stored and refused samples per tenant for billing.
    pub fn with_usage(mut self, usage: Arc<pitot_usage::UsageMeter>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Counts parts of a push that Pitot does not store yet (exemplars, native
    /// histograms) as refused under `reason`, in `/metrics` and usage, so the refusal
    /// the client is told of is also on the operator's and the tenant's books.
    pub fn count_unsupported(&self, target: &Target, reason: &'static str, n: u64) {
        self.count_discarded(target, reason, n);
    }

    /// Counts refused samples for `/metrics` and usage.
    fn count_discarded(&self, target: &Target, reason: &'static str, n: u64) {
        let tenant = &target.tenant;
        self.discarded.add(tenant, reason, n);
        if let (Some(usage), true) = (&self.usage, n > 0) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            usage.record(
                tenant,
                &target.datasource,
                "metrics",
                target.origin.as_str(),
                now,
                |r| *r.rejected.entry(reason.to_string()).or_default() += n,
            );
        }
    }

    /// Phrases a storage refusal for the client, naming the limit and its value.
    fn rejection_message(&self, tenant: &TenantId, r: &pitot_storage_api::Rejection) -> String {
        use pitot_storage_api::RejectReason;
        let limits = self.tenant_limits.as_ref().map(|l| l.get(tenant));
        let what = match r.reason {
            RejectReason::TooOld => "the sample is older than the oldest time still accepted (its range was already cut into a block)".to_string(),
            RejectReason::OutOfOrder => "the sample is older than the series' newest sample by more than the out-of-order window; to accept older samples, raise storage.out_of_order_window".to_string(),
            RejectReason::DuplicateTimestamp => "a different value was already stored at this timestamp".to_string(),
            RejectReason::PerUserSeriesLimit => format!(
                "per-user series limit of {} exceeded (max_global_series_per_user): the new series is refused, existing series keep being accepted; reduce the number of series or contact your service administrator",
                limits.as_ref().map_or(0, |l| l.max_global_series_per_user)
            ),
            RejectReason::PerMetricSeriesLimit => format!(
                "per-metric series limit of {} exceeded (max_global_series_per_metric): the new series is refused, existing series keep being accepted; reduce the number of series of this metric or contact your service administrator",
                limits.as_ref().map_or(0, |l| l.max_global_series_per_metric)
            ),
        };
        format!(
            "{what} for series {} at timestamp {} (err-pitot-{})",
            r.labels,
            r.t,
            r.reason.id()
        )
    }

    /// Holds every tenant to its own limits (rate, label limits), on top of the
    /// server-wide validation settings.
    pub fn with_tenant_limits(mut self, limits: Arc<Limits>) -> Self {
        self.tenant_limits = Some(limits);
        self
    }

    /// The validation limits of `tenant` and, when per-tenant limits are set, the
    /// result of taking `samples` from its rate bucket.
    /// Data the platform writes into a managed data source is not held to the tenant's
    /// ingestion rate (the tenant neither sends nor pays for it).
    fn admit(&self, target: &Target, samples: usize) -> Result<ValidationLimits, PushError> {
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
                RateKind::Samples,
                l.ingestion_rate,
                l.ingestion_burst_size as f64,
                samples as u64,
                std::time::Instant::now(),
            )
        };
        let refusal = match decision {
            RateDecision::Allowed => None,
            RateDecision::TooLarge => Some(PushError::TooLarge {
                message: format!(
                    "the request carried {samples} samples, more than the tenant's whole ingestion burst of {} (err-pitot-tenant-max-ingestion-burst), so it can never be admitted: send smaller batches (Prometheus: queue_config.max_samples_per_send) or raise ingestion_burst_size",
                    l.ingestion_burst_size
                ),
            }),
            RateDecision::Limited { retry_after } => Some(PushError::RateLimited {
                retry_after,
                message: format!(
                    "the request has been rejected because the tenant exceeded the ingestion rate limit, set to {} samples/s with a maximum allowed burst of {} (err-pitot-tenant-max-ingestion-rate); the request carried {samples} samples. To adjust the related per-tenant limits, set ingestion_rate and ingestion_burst_size, or contact your service administrator",
                    l.ingestion_rate, l.ingestion_burst_size
                ),
            }),
        };
        if let Some(refusal) = refusal {
            self.count_discarded(target, "rate_limited", samples as u64);
            return Err(refusal);
        }
        Ok(ValidationLimits {
            max_label_names_per_series: l.max_label_names_per_series as usize,
            max_label_name_length: l.max_label_name_length as usize,
            max_label_value_length: l.max_label_value_length as usize,
            ..self.limits.clone()
        })
    }

    /// Validates and stores a remote-write request into `target`, a data source of its
    /// tenant. Valid series are stored even when others are refused; `now_ms` anchors the
    /// timestamp window.
    pub async fn push(
        &self,
        target: &Target,
        request: &WriteRequestView<'_>,
        now_ms: i64,
    ) -> Result<PushOutcome, PushError> {
        let admitted = self.admit_samples(target, request.sample_count())?;
        self.push_admitted(target, admitted, request, now_ms).await
    }

    /// Takes `samples` from the tenant's ingestion rate before the request is decoded
    /// (the count comes from the body's framing), so a request over the rate is refused
    /// before its series are built.
    pub fn admit_samples(&self, target: &Target, samples: usize) -> Result<Admitted, PushError> {
        Ok(Admitted {
            limits: self.admit(target, samples)?,
            samples,
        })
    }

    /// [`Distributor::push`] for a request [`Distributor::admit_samples`] admitted.
    pub async fn push_admitted(
        &self,
        target: &Target,
        admitted: Admitted,
        request: &WriteRequestView<'_>,
        now_ms: i64,
    ) -> Result<PushOutcome, PushError> {
        let tenant = &target.tenant;
        let mut outcome = PushOutcome::default();
        let total = request.sample_count();
        debug_assert_eq!(total, admitted.samples, "admitted with another count");
        let limits = admitted.limits;
        let max_t = now_ms.saturating_add(limits.creation_grace_period.as_millis() as i64);
        let min_t = if limits.past_grace_period.is_zero() {
            i64::MIN
        } else {
            now_ms.saturating_sub(limits.past_grace_period.as_millis() as i64)
        };
        self.received_metadata
            .fetch_add(request.metadata.len() as u64, Ordering::Relaxed);
        // Metadata is kept per data source (its storage key), so a token restricted to
        // some data sources reads only theirs.
        self.metadata.record(&target.storage, &request.metadata);
        self.received_samples
            .fetch_add(total as u64, Ordering::Relaxed);
        let mut batch = WriteBatch::with_capacity(request.len(), request.label_count(), total);
        let mut samples = Vec::new();
        for series in request.series() {
            let n = series.samples.len();
            let canonical = match check_labels(series.labels, &limits) {
                Ok(canonical) => canonical,
                Err(invalid) => {
                    self.discard(target, &mut outcome, invalid.reason, n, || {
                        invalid.to_string()
                    });
                    continue;
                }
            };
            samples.clear();
            for s in series.samples {
                let reason = if s.timestamp > max_t {
                    Some(ValidationReason::TooFarInFuture)
                } else if s.timestamp < min_t {
                    Some(ValidationReason::TooFarInPast)
                } else {
                    None
                };
                match reason {
                    Some(reason) => self.discard(target, &mut outcome, reason, 1, || {
                        InvalidSeries {
                            reason,
                            detail: format!("timestamp: {}, now: {now_ms}", s.timestamp),
                            series: describe(series.labels),
                        }
                        .to_string()
                    }),
                    None => samples.push(Sample::new(s.timestamp, s.value)),
                }
            }
            if !samples.is_empty() {
                if canonical {
                    batch.push_canonical(series.labels, &samples);
                } else {
                    batch.push(series.labels.iter().copied(), &samples);
                }
            }
        }
        if batch.is_empty() {
            return Ok(outcome);
        }
        let stored = self.appender.append_batch(&target.storage, &batch).await?;
        outcome.accepted += stored.accepted;
        // A retried batch is acknowledged again but stored, and billed, once.
        let new_samples = stored.accepted - stored.duplicates;
        self.ingested.add(tenant, new_samples as u64);
        self.duplicates.add(tenant, stored.duplicates as u64);
        if let Some(usage) = &self.usage {
            usage.record(
                tenant,
                &target.datasource,
                "metrics",
                target.origin.as_str(),
                now_ms,
                |r| r.samples_ingested += new_samples as u64,
            );
        }
        self.meter
            .add(tenant, new_samples as u64, std::time::Instant::now());
        for (reason, n) in &stored.rejected {
            self.count_discarded(target, reason.id(), *n as u64);
            outcome.discarded += n;
        }
        if outcome.first_error.is_none() {
            if let Some(r) = stored.first_rejection {
                outcome.first_error = Some(self.rejection_message(tenant, &r));
            }
        }
        Ok(outcome)
    }

    fn discard(
        &self,
        target: &Target,
        outcome: &mut PushOutcome,
        reason: ValidationReason,
        samples: usize,
        message: impl FnOnce() -> String,
    ) {
        self.count_discarded(target, reason.id(), samples as u64);
        outcome.discarded += samples;
        if outcome.first_error.is_none() {
            outcome.first_error = Some(message());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use parking_lot::Mutex;
    use pitot_proto::remote_write::WriteRequest;
    use pitot_proto::remote_write::{Label, Sample as PSample, TimeSeries};
    use pitot_storage_api::{AppendOutcome, SeriesBatch};

    /// Records what reaches storage; storage behaviour itself is tested in pitot-tsdb.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<SeriesBatch>>);

    #[async_trait]
    impl MetricsAppender for Recorder {
        async fn append_batch(
            &self,
            _: &TenantId,
            batch: &WriteBatch<'_>,
        ) -> Result<AppendOutcome, StorageError> {
            let accepted = batch.sample_count();
            self.0.lock().extend(batch.iter().map(|s| SeriesBatch {
                labels: s.to_labels(),
                samples: s.samples.to_vec(),
            }));
            Ok(AppendOutcome {
                accepted,
                ..Default::default()
            })
        }
    }

    fn series(name: &str, ts: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: vec![Label::new("__name__", name)],
            samples: ts
                .iter()
                .map(|&t| PSample {
                    value: 1.0,
                    timestamp: t,
                })
                .collect(),
            exemplars: vec![],
        }
    }

    #[tokio::test]
    async fn valid_series_are_stored_and_the_first_invalid_is_named() {
        let recorder = Arc::new(Recorder::default());
        let d = Distributor::new(recorder.clone(), ValidationLimits::default());
        let tenant = TenantId::new("t").unwrap();
        let now = 1_000_000_000;
        let req = WriteRequest {
            timeseries: vec![
                series("ok", &[now]),
                series("bad-name", &[now]),
                series("future", &[now, now + 3_600_000]),
            ],
            metadata: vec![],
        };
        let target = Target::default_for(&tenant, pitot_core::DataKind::Metrics);
        let bytes = pitot_proto::decode_snappy(
            &pitot_proto::remote_write::encode_write_request(&req),
            usize::MAX,
        )
        .unwrap();
        let view = WriteRequestView::decode(&bytes).unwrap();
        let out = d.push(&target, &view, now).await.unwrap();
        assert_eq!(out.accepted, 2);
        assert_eq!(out.discarded, 2);
        assert!(out
            .first_error
            .unwrap()
            .contains("err-pitot-metric-name-invalid"));
        assert_eq!(recorder.0.lock().len(), 2);
        let counters = d.discarded.snapshot();
        assert!(counters
            .iter()
            .any(|(_, r, n)| *r == "sample-too-far-in-future" && *n == 1));
    }
}
