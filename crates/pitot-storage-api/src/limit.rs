use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{Matcher, TenantId};

use crate::{Querier, Queryable, QueryableRef, SelectHints, SeriesSet, StorageError};

/// Caps the number of series one query may select, summed over all its selectors, so
/// that a single query cannot pull a tenant's whole index into memory. Build one per
/// query.
pub struct SeriesLimited {
    inner: QueryableRef,
    limit: usize,
    selected: Arc<AtomicUsize>,
}

impl SeriesLimited {
    /// Wraps `inner`; `limit` of zero means no limit.
    pub fn new(inner: QueryableRef, limit: usize) -> Self {
        SeriesLimited {
            inner,
            limit,
            selected: Arc::new(AtomicUsize::new(0)),
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
            limit: self.limit,
            selected: Arc::clone(&self.selected),
        }))
    }
}

struct LimitedQuerier {
    inner: Box<dyn Querier>,
    limit: usize,
    selected: Arc<AtomicUsize>,
}

#[async_trait]
impl Querier for LimitedQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let set = self.inner.select(hints, matchers).await?;
        let total = self.selected.fetch_add(set.series.len(), Ordering::Relaxed) + set.series.len();
        if self.limit > 0 && total > self.limit {
            return Err(StorageError::LimitExceeded(format!(
                "the query selects more than {} series (err-pitot-max-series-per-query); narrow the selectors, or raise query.max_series",
                self.limit
            )));
        }
        Ok(set)
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(matchers).await
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(name, matchers).await
    }
}
