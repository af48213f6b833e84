//! The head's side of the read boundary.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use pitot_core::Matcher;
use pitot_storage_api::{Querier, SelectHints, Series, SeriesSet, StorageError};
use roaring::RoaringBitmap;

use crate::head::TenantHead;

/// Reads one tenant's head for one time range. Selection copies chunk references
/// under the head lock; iteration runs without it.
pub struct HeadQuerier {
    head: Arc<Mutex<TenantHead>>,
    mint: i64,
    maxt: i64,
}

impl HeadQuerier {
    /// Reads `[mint, maxt]` of `head`.
    pub fn new(head: Arc<Mutex<TenantHead>>, mint: i64, maxt: i64) -> Self {
        HeadQuerier { head, mint, maxt }
    }
}

/// Selections below this many series are built on the calling thread.
const PARALLEL_SELECT: usize = 4096;

impl HeadQuerier {
    /// Series matching `matchers` that hold samples in the querier's range.
    fn in_range(&self, head: &TenantHead, matchers: &[Matcher]) -> RoaringBitmap {
        head.select(matchers)
            .iter()
            .filter(|&id| {
                head.series(id).is_some_and(|s| {
                    s.min_t().is_some_and(|min_t| {
                        min_t <= self.maxt && s.max_t().max(min_t) >= self.mint
                    })
                })
            })
            .collect()
    }
}

#[async_trait]
impl Querier for HeadQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let (mint, maxt) = (self.mint, self.maxt);
        let out = {
            let mut head = self.head.lock();
            let mut ids: Vec<u32> = head.select(matchers).iter().collect();
            head.sort_by_labels(&mut ids);
            let head: &TenantHead = &head;
            let build = |ids: &[u32]| -> Vec<Series> {
                let mut out = Vec::with_capacity(ids.len());
                for (i, &id) in ids.iter().enumerate() {
                    if i % 256 == 255 {
                        pitot_core::yield_point();
                    }
                    let Some(series) = head.series(id) else {
                        continue;
                    };
                    let Some(min_t) = series.min_t() else {
                        continue;
                    };
                    if min_t > maxt || series.max_t().max(min_t) < mint {
                        continue;
                    }
                    if hints.labels_only {
                        out.push(Series::from_samples(head.series_labels(series), Vec::new()));
                        continue;
                    }
                    let snapshot = series.snapshot(mint, maxt);
                    let bulk = snapshot.clone();
                    out.push(
                        Series::new(head.series_labels(series), move || {
                            Box::new(
                                snapshot
                                    .samples()
                                    .filter(move |s| s.t >= mint && s.t <= maxt),
                            )
                        })
                        .with_bulk(move |a, b, out| {
                            bulk.collect_range(a.max(mint), b.min(maxt), out)
                        }),
                    );
                }
                out
            };
            // Spelling out labels and copying chunk references of 100k series was a
            // fifth of a query's time, all of it on one core while the lock is held.
            pitot_core::parallel_chunks(&ids, PARALLEL_SELECT, |part| {
                Ok::<_, std::convert::Infallible>(build(part))
            })
            .unwrap_or_else(|never| match never {})
        };
        Ok(SeriesSet {
            series: out,
            warnings: Vec::new(),
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let head = self.head.lock();
        let ids = self.in_range(&head, matchers);
        Ok(head.label_names(&ids).into_iter().collect())
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let head = self.head.lock();
        let ids = self.in_range(&head, matchers);
        Ok(head.label_values(name, &ids).into_iter().collect())
    }
}
