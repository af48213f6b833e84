//! The per-query series bound, applied by wrapping the storage a read goes through, so
//! every read path (PromQL, series, label names and values with a selector, export,
//! and the Loki stream reads) counts the series it touches the same way.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, TenantId};

use crate::{
    LogIndexStats, LogQuerier, LogQueryable, LogQueryableRef, LogSelectHints, LogStreamSet,
    Querier, Queryable, QueryableRef, SelectHints, SeriesSet, StorageError,
};

/// Counts what one query selects against its limit (0: none), summed over all its
/// selectors and label reads.
#[derive(Debug, Clone)]
struct Budget {
    limit: usize,
    selected: Arc<AtomicUsize>,
    /// `series` or `streams`, for the message.
    what: &'static str,
    /// The limit's name and its server ceiling, for the message.
    names: &'static str,
}

impl Budget {
    fn new(limit: usize, what: &'static str, names: &'static str) -> Self {
        Budget {
            limit,
            selected: Arc::new(AtomicUsize::new(0)),
            what,
            names,
        }
    }

    fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// Adds `n` selected items; fails once the total is over the limit.
    fn take(&self, n: usize) -> Result<(), StorageError> {
        let total = self
            .selected
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if self.limit > 0 && total > self.limit {
            return Err(StorageError::LimitExceeded(format!(
                "the query selects more than {} {} (err-pitot-max-series-per-query); narrow the selectors or the time range, or raise {}",
                self.limit, self.what, self.names
            )));
        }
        Ok(())
    }
}

/// Sorted, unique label names of `labels`.
fn names_of<'a>(labels: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for set in labels {
        for l in set {
            names.insert(l.name.to_string());
        }
    }
    names.into_iter().collect()
}

/// Sorted, unique values of label `name` in `labels` (series without it are skipped).
fn values_of<'a>(name: &str, labels: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut values = BTreeSet::new();
    for set in labels {
        if let Some(v) = set.get(name) {
            if !v.is_empty() {
                values.insert(v.to_string());
            }
        }
    }
    values.into_iter().collect()
}

/// A label read (names when `name` is `None`, else the values of `name`): from the
/// label index when nothing is limited or no matchers narrow it (`index`), else from
/// the label sets the matchers select (`selected`, counted against the limit), so a
/// label read with matchers touches no more series than a query may.
async fn label_read(
    limited: bool,
    matchers: &[Matcher],
    name: Option<&str>,
    index: impl std::future::Future<Output = Result<Vec<String>, StorageError>>,
    selected: impl std::future::Future<Output = Result<Vec<Labels>, StorageError>>,
) -> Result<Vec<String>, StorageError> {
    if !limited || matchers.is_empty() {
        return index.await;
    }
    let labels = selected.await?;
    Ok(match name {
        None => names_of(labels.iter()),
        Some(name) => values_of(name, labels.iter()),
    })
}

/// Caps the number of series one query may select, summed over all its selectors, so
/// that a single query cannot pull a tenant's whole index into memory. Label name and
/// value reads with matchers select the series they describe and count them the same
/// way; without matchers they read the label index only. Build one per query.
pub struct SeriesLimited {
    inner: QueryableRef,
    budget: Budget,
}

impl SeriesLimited {
    /// Wraps `inner`; `limit` of zero means no limit.
    pub fn new(inner: QueryableRef, limit: usize) -> Self {
        SeriesLimited {
            inner,
            budget: Budget::new(
                limit,
                "series",
                "the tenant's max_fetched_series_per_query (server ceiling: query.max_series)",
            ),
        }
    }
}

impl Queryable for SeriesLimited {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(LimitedQuerier {
            inner: self.inner.querier(tenant, mint, maxt)?,
            budget: self.budget.clone(),
            range: (mint, maxt),
        }))
    }
}

struct LimitedQuerier {
    inner: Box<dyn Querier>,
    budget: Budget,
    range: (i64, i64),
}

impl LimitedQuerier {
    /// The label sets of the series `matchers` select, counted against the limit.
    async fn select_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
        let hints = SelectHints {
            start: self.range.0,
            end: self.range.1,
            labels_only: true,
        };
        let set = self.select(&hints, matchers).await?;
        Ok(set.series.into_iter().map(|s| s.labels).collect())
    }
}

#[async_trait]
impl Querier for LimitedQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let set = self.inner.select(hints, matchers).await?;
        self.budget.take(set.series.len())?;
        Ok(set)
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let (index, selected) = (
            self.inner.label_names(matchers),
            self.select_labels(matchers),
        );
        label_read(self.budget.enabled(), matchers, None, index, selected).await
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let (index, selected) = (
            self.inner.label_values(name, matchers),
            self.select_labels(matchers),
        );
        label_read(self.budget.enabled(), matchers, Some(name), index, selected).await
    }
}

/// [`SeriesLimited`] for log streams: the Loki series, label and label-value reads
/// count the streams they touch against the tenant's `max_query_series`.
pub struct StreamsLimited {
    inner: LogQueryableRef,
    budget: Budget,
}

impl StreamsLimited {
    /// Wraps `inner`; `limit` of zero means no limit.
    pub fn new(inner: LogQueryableRef, limit: usize) -> Self {
        StreamsLimited {
            inner,
            budget: Budget::new(
                limit,
                "streams",
                "the tenant's max_query_series (server ceiling: logs.max_query_series)",
            ),
        }
    }
}

impl LogQueryable for StreamsLimited {
    fn log_querier(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        Ok(Box::new(LimitedLogQuerier {
            inner: self.inner.log_querier(tenant, start, end)?,
            budget: self.budget.clone(),
            range: (start, end),
        }))
    }
}

struct LimitedLogQuerier {
    inner: Box<dyn LogQuerier>,
    budget: Budget,
    range: (i64, i64),
}

impl LimitedLogQuerier {
    /// The label sets of the streams `matchers` select, counted against the limit.
    async fn select_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
        let hints = LogSelectHints {
            start: self.range.0,
            end: self.range.1,
            required_literals: Vec::new(),
            labels_only: true,
        };
        let set = self.select(&hints, matchers).await?;
        Ok(set.streams.into_iter().map(|s| s.labels).collect())
    }
}

#[async_trait]
impl LogQuerier for LimitedLogQuerier {
    async fn select(
        &self,
        hints: &LogSelectHints,
        matchers: &[Matcher],
    ) -> Result<LogStreamSet, StorageError> {
        let set = self.inner.select(hints, matchers).await?;
        self.budget.take(set.streams.len())?;
        Ok(set)
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let (index, selected) = (
            self.inner.label_names(matchers),
            self.select_labels(matchers),
        );
        label_read(self.budget.enabled(), matchers, None, index, selected).await
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let (index, selected) = (
            self.inner.label_values(name, matchers),
            self.select_labels(matchers),
        );
        label_read(self.budget.enabled(), matchers, Some(name), index, selected).await
    }

    async fn index_stats(&self, matchers: &[Matcher]) -> Result<LogIndexStats, StorageError> {
        self.inner.index_stats(matchers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Series;

    /// Storage holding fixed series, answering label reads from them.
    struct Fixed(Vec<Labels>);

    impl Queryable for Fixed {
        fn querier(&self, _: &TenantId, _: i64, _: i64) -> Result<Box<dyn Querier>, StorageError> {
            Ok(Box::new(FixedQuerier(self.0.clone())))
        }
    }

    struct FixedQuerier(Vec<Labels>);

    impl FixedQuerier {
        fn matching(&self, matchers: &[Matcher]) -> Vec<Labels> {
            self.0
                .iter()
                .filter(|l| {
                    matchers
                        .iter()
                        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                })
                .cloned()
                .collect()
        }
    }

    #[async_trait]
    impl Querier for FixedQuerier {
        async fn select(
            &self,
            _: &SelectHints,
            matchers: &[Matcher],
        ) -> Result<SeriesSet, StorageError> {
            Ok(SeriesSet {
                series: self
                    .matching(matchers)
                    .into_iter()
                    .map(|l| Series::from_samples(l, Vec::new()))
                    .collect(),
                warnings: Vec::new(),
            })
        }

        async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Ok(names_of(self.matching(matchers).iter()))
        }

        async fn label_values(
            &self,
            name: &str,
            matchers: &[Matcher],
        ) -> Result<Vec<String>, StorageError> {
            Ok(values_of(name, self.matching(matchers).iter()))
        }
    }

    fn fixed() -> QueryableRef {
        let series = ["a", "b", "c"]
            .iter()
            .map(|i| Labels::from_pairs([("__name__", "up"), ("instance", *i)]))
            .collect();
        Arc::new(Fixed(series))
    }

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    /// Polls a future that never waits (the fixed storage's are always ready).
    fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the fixed storage never waits"),
        }
    }

    #[test]
    fn selects_and_label_reads_with_matchers_count_against_one_budget() {
        ready(budget_checks());
    }

    async fn budget_checks() {
        let up = [Matcher::equal("__name__", "up")];
        let limited = SeriesLimited::new(fixed(), 2);
        let q = limited.querier(&tenant(), 0, 10).unwrap();
        let err = q.label_names(&up).await.unwrap_err();
        assert!(
            err.to_string().contains("err-pitot-max-series-per-query")
                && err.to_string().contains("max_fetched_series_per_query"),
            "{err}"
        );
        assert!(q.label_values("instance", &up).await.is_err());
        assert!(q.select(&SelectHints::default(), &up).await.is_err());
        // Without matchers, label reads answer from the index.
        assert_eq!(q.label_names(&[]).await.unwrap(), ["__name__", "instance"]);

        let roomy = SeriesLimited::new(fixed(), 3);
        let q = roomy.querier(&tenant(), 0, 10).unwrap();
        assert_eq!(
            q.label_values("instance", &up).await.unwrap(),
            ["a", "b", "c"]
        );
        // The budget is per query: three more series are over it.
        assert!(q.select(&SelectHints::default(), &up).await.is_err());

        let unlimited = SeriesLimited::new(fixed(), 0);
        let q = unlimited.querier(&tenant(), 0, 10).unwrap();
        for _ in 0..3 {
            assert_eq!(
                q.select(&SelectHints::default(), &up)
                    .await
                    .unwrap()
                    .series
                    .len(),
                3
            );
        }
    }
}
