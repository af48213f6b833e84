use async_trait::async_trait;
use pitot_core::{Labels, Sample, TenantId};

use crate::StorageError;

/// Samples of one series in a write; samples ascending by time within a batch entry
/// is usual but not required.
#[derive(Debug, Clone)]
pub struct SeriesBatch {
    /// The series identity, already validated.
    pub labels: Labels,
    /// Samples to store.
    pub samples: Vec<Sample>,
}

/// Why storage refused a sample (the distributor refuses earlier for syntax and limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Older than the oldest time the head still accepts (already cut into a block).
    TooOld,
    /// Older than the series' newest sample by more than the out-of-order window.
    OutOfOrder,
    /// Same timestamp as a stored sample but a different value.
    DuplicateTimestamp,
    /// A new series beyond the tenant's active-series limit.
    PerUserSeriesLimit,
    /// A new series beyond the tenant's active-series limit for its metric name.
    PerMetricSeriesLimit,
}

impl RejectReason {
    /// Stable identifier, used as the `reason` label of the discarded-samples counter
    /// and in error messages.
    pub fn id(self) -> &'static str {
        match self {
            RejectReason::TooOld => "sample-timestamp-too-old",
            RejectReason::OutOfOrder => "sample-out-of-order",
            RejectReason::DuplicateTimestamp => "sample-duplicate-timestamp",
            RejectReason::PerUserSeriesLimit => "per_user_series_limit",
            RejectReason::PerMetricSeriesLimit => "per_metric_series_limit",
        }
    }
}

/// One refused sample, for the error message.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Which series.
    pub labels: Labels,
    /// The refused sample's timestamp.
    pub t: i64,
    /// Why.
    pub reason: RejectReason,
}

/// What an append did.
#[derive(Debug, Clone, Default)]
pub struct AppendOutcome {
    /// Samples stored.
    pub accepted: usize,
    /// Samples refused, counted per reason.
    pub rejected: Vec<(RejectReason, usize)>,
    /// The first refused sample, to name in the response.
    pub first_rejection: Option<Rejection>,
    /// Series created by this append.
    pub new_series: usize,
}

impl AppendOutcome {
    /// Counts one refusal, keeping the first for the message.
    pub fn reject(&mut self, labels: &Labels, t: i64, reason: RejectReason) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
        if self.first_rejection.is_none() {
            self.first_rejection = Some(Rejection {
                labels: labels.clone(),
                t,
                reason,
            });
        }
    }

    /// Total refused samples.
    pub fn rejected_total(&self) -> usize {
        self.rejected.iter().map(|(_, n)| n).sum()
    }
}

/// Limits on creating series, per tenant: existing series keep flowing, new ones
/// beyond a limit are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    /// Most active series of the tenant; 0 for no limit.
    pub per_user: u64,
    /// Most active series of one metric name; 0 for no limit.
    pub per_metric: u64,
}

/// The write side of metrics storage.
#[async_trait]
pub trait MetricsAppender: Send + Sync {
    /// Stores the accepted samples of `batch` for `tenant`. When this returns `Ok`, every
    /// accepted sample is durable (it survives `kill -9`); refused samples are reported in
    /// the outcome and stored nowhere. An `Err` means nothing can be promised durable.
    async fn append(
        &self,
        tenant: &TenantId,
        batch: Vec<SeriesBatch>,
    ) -> Result<AppendOutcome, StorageError>;
}
