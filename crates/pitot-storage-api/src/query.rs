use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, Sample, TenantId};

/// Errors a storage read can return.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Reading a block or chunk failed.
    #[error("storage read failed: {0}")]
    Io(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A per-query limit was exceeded; the message names the limit.
    #[error("{0}")]
    LimitExceeded(String),
    /// The storage is shutting down or not ready.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Shared handle to a [`Queryable`].
pub type QueryableRef = Arc<dyn Queryable>;

/// Something that can be queried: hands out a querier per tenant and time range.
pub trait Queryable: Send + Sync {
    /// Returns a querier scoped to `tenant` and the inclusive range `[mint, maxt]` in
    /// milliseconds. Samples outside the range may be returned; callers filter.
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError>;
}

/// Hints that let storage skip work; storage may ignore them.
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Earliest timestamp (ms, inclusive) the caller needs.
    pub start: i64,
    /// Latest timestamp (ms, inclusive) the caller needs.
    pub end: i64,
    /// Only series labels are needed, not samples (for `/api/v1/series`).
    pub labels_only: bool,
}

/// A tenant- and time-scoped reader.
#[async_trait]
pub trait Querier: Send + Sync {
    /// Selects series matching all matchers, sorted by labels, each series at most once.
    /// Every matcher must hold; a matcher on an absent label sees the empty string.
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError>;

    /// Sorted, unique label names of series matching the matchers (all series when empty).
    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted, unique values of label `name` in series matching the matchers.
    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;
}

/// Pull-based iterator over one series' samples, ascending by timestamp with unique
/// timestamps.
pub type SampleIter = Box<dyn Iterator<Item = Sample> + Send>;

/// Appends the samples of a series in `[mint, maxt]` to a vector in one call: what a
/// storage offers next to the iterator when it can decode whole chunks at once (a
/// query decoding every series spends most of its time per sample otherwise).
pub type BulkCollect = Box<dyn Fn(i64, i64, &mut Vec<Sample>) + Send + Sync>;

/// One selected series: its labels and a source of its samples.
pub struct Series {
    /// The series identity.
    pub labels: Labels,
    samples: Box<dyn Fn() -> SampleIter + Send + Sync>,
    bulk: Option<BulkCollect>,
}

impl Series {
    /// Builds a series from a factory of sample iterators, so that a series can be
    /// iterated more than once (range queries walk a series once per step window).
    pub fn new(labels: Labels, samples: impl Fn() -> SampleIter + Send + Sync + 'static) -> Self {
        Series {
            labels,
            samples: Box::new(samples),
            bulk: None,
        }
    }

    /// Adds a bulk collector that appends exactly what [`Series::samples`] yields within
    /// `[mint, maxt]`.
    pub fn with_bulk(
        mut self,
        collect: impl Fn(i64, i64, &mut Vec<Sample>) + Send + Sync + 'static,
    ) -> Self {
        self.bulk = Some(Box::new(collect));
        self
    }

    /// Appends the samples in `[mint, maxt]` to `out`, ascending.
    pub fn collect_range(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        match &self.bulk {
            Some(collect) => collect(mint, maxt, out),
            None => out.extend(
                self.samples()
                    .skip_while(|s| s.t < mint)
                    .take_while(|s| s.t <= maxt),
            ),
        }
    }

    /// Builds a series from samples already in memory.
    pub fn from_samples(labels: Labels, samples: Vec<Sample>) -> Self {
        let samples = Arc::new(samples);
        let all = Arc::clone(&samples);
        Series::new(labels, move || {
            let samples = Arc::clone(&samples);
            Box::new((0..samples.len()).map(move |i| samples[i]))
        })
        .with_bulk(move |mint, maxt, out| {
            let a = all.partition_point(|s| s.t < mint);
            let b = all.partition_point(|s| s.t <= maxt);
            if a < b {
                out.extend_from_slice(&all[a..b]);
            }
        })
    }

    /// A fresh iterator over the samples, from the start.
    pub fn samples(&self) -> SampleIter {
        (self.samples)()
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// The result of a select: series sorted by labels, plus warnings to pass to the user.
#[derive(Debug, Default)]
pub struct SeriesSet {
    /// Selected series, sorted by labels, unique.
    pub series: Vec<Series>,
    /// Non-fatal problems (for example a block that could not be read).
    pub warnings: Vec<String>,
}
