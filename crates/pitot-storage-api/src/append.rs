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

/// Series to append, with label strings borrowed from wherever they were decoded.
///
/// A remote-write client resends every series' labels with every sample, and nearly all
/// of those series already exist in storage: borrowing the strings lets storage find
/// them without building a label set, and only a new series is spelled out as
/// [`Labels`]. The labels and samples of all series sit in two flat vectors.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    /// Where each series' labels and samples end in the flat vectors.
    ends: Vec<(usize, usize)>,
}

/// One series of a [`WriteBatch`].
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'b> {
    /// Label pairs sorted by name, without empty values (the form of [`Labels`]).
    pub labels: &'b [(&'b str, &'b str)],
    /// Samples to store.
    pub samples: &'b [Sample],
}

impl SeriesRef<'_> {
    /// The label set, for a series storage creates or names in a refusal.
    pub fn to_labels(&self) -> Labels {
        Labels::from_unsorted(
            self.labels
                .iter()
                .map(|&(n, v)| pitot_core::Label::new(n, v))
                .collect(),
        )
    }

    /// The value of `__name__`, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == pitot_core::METRIC_NAME)
            .map(|&(_, v)| v)
    }
}

impl<'a> WriteBatch<'a> {
    /// An empty batch with room for `series` series of `pairs` labels and `samples`
    /// samples in all.
    pub fn with_capacity(series: usize, pairs: usize, samples: usize) -> Self {
        WriteBatch {
            pairs: Vec::with_capacity(pairs),
            samples: Vec::with_capacity(samples),
            ends: Vec::with_capacity(series),
        }
    }

    /// The batch of owned series (their labels are already in canonical form).
    pub fn from_series(batch: &'a [SeriesBatch]) -> Self {
        let pairs = batch.iter().map(|b| b.labels.len()).sum();
        let samples = batch.iter().map(|b| b.samples.len()).sum();
        let mut out = WriteBatch::with_capacity(batch.len(), pairs, samples);
        for b in batch {
            out.pairs
                .extend(b.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
            out.samples.extend_from_slice(&b.samples);
            out.ends.push((out.pairs.len(), out.samples.len()));
        }
        out
    }

    /// Adds a series from validated label pairs in any order: pairs with an empty
    /// value are dropped (an empty value means "no label") and the rest sorted by name.
    pub fn push(
        &mut self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        samples: &[Sample],
    ) {
        let start = self.pairs.len();
        self.pairs
            .extend(labels.into_iter().filter(|(_, v)| !v.is_empty()));
        let added = &mut self.pairs[start..];
        if !added.is_sorted_by(|a, b| a.0 <= b.0) {
            added.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        self.samples.extend_from_slice(samples);
        self.ends.push((self.pairs.len(), self.samples.len()));
    }

    /// [`WriteBatch::push`] for pairs the caller has checked are sorted by name with no
    /// empty value (validation finds that out anyway, and checking again compared every
    /// label name of every pushed series once more).
    pub fn push_canonical(&mut self, labels: &[(&'a str, &'a str)], samples: &[Sample]) {
        debug_assert!(
            labels.is_sorted_by(|a, b| a.0 < b.0) && labels.iter().all(|l| !l.1.is_empty())
        );
        self.pairs.extend_from_slice(labels);
        self.samples.extend_from_slice(samples);
        self.ends.push((self.pairs.len(), self.samples.len()));
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch holds no series.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total samples of all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// The series in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SeriesRef<'_>> + '_ {
        let mut start = (0, 0);
        self.ends.iter().map(move |&(l, s)| {
            let series = SeriesRef {
                labels: &self.pairs[start.0..l],
                samples: &self.samples[start.1..s],
            };
            start = (l, s);
            series
        })
    }
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
    /// Of `accepted`, exact duplicates of samples already stored (a client's retry):
    /// acknowledged and held once, so neither stored again nor billed again.
    pub duplicates: usize,
    /// Samples refused, counted per reason.
    pub rejected: Vec<(RejectReason, usize)>,
    /// The first refused sample, to name in the response.
    pub first_rejection: Option<Rejection>,
    /// Series created by this append.
    pub new_series: usize,
}

impl AppendOutcome {
    /// Counts one refusal, keeping the first for the message (`labels` is asked only
    /// for the first).
    pub fn reject_with(&mut self, labels: impl FnOnce() -> Labels, t: i64, reason: RejectReason) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
        if self.first_rejection.is_none() {
            self.first_rejection = Some(Rejection {
                labels: labels(),
                t,
                reason,
            });
        }
    }

    /// Counts one refusal, keeping the first for the message.
    pub fn reject(&mut self, labels: &Labels, t: i64, reason: RejectReason) {
        self.reject_with(|| labels.clone(), t, reason);
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
    async fn append_batch(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<AppendOutcome, StorageError>;

    /// [`MetricsAppender::append_batch`] for owned series (rules, usage series, tests).
    async fn append(
        &self,
        tenant: &TenantId,
        batch: Vec<SeriesBatch>,
    ) -> Result<AppendOutcome, StorageError> {
        let batch = WriteBatch::from_series(&batch);
        self.append_batch(tenant, &batch).await
    }
}
