use std::collections::BTreeMap;

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, Sample, TenantId};

use crate::{
    Querier, Queryable, QueryableRef, SampleIter, SelectHints, Series, SeriesSet, StorageError,
};

/// Combines several queryables (head and blocks) into one: series with the same labels
/// are merged by timestamp, the first source winning on equal timestamps.
pub struct MergeQueryable {
    sources: Vec<QueryableRef>,
}

impl MergeQueryable {
    /// Merges `sources`, in priority order.
    pub fn new(sources: Vec<QueryableRef>) -> Self {
        MergeQueryable { sources }
    }
}

impl Queryable for MergeQueryable {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let queriers = self
            .sources
            .iter()
            .map(|s| s.querier(tenant, mint, maxt))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(MergeQuerier { queriers }))
    }
}

/// Collects each part in bulk and concatenates them when their time ranges follow one
/// another (blocks, then the head: the usual case); otherwise merges sample by sample.
fn collect_merged(parts: &[Series], mint: i64, maxt: i64, out: &mut Vec<Sample>) {
    // In priority order, as the sample-by-sample merge needs them.
    let collected: Vec<Vec<Sample>> = parts
        .iter()
        .map(|part| {
            let mut samples = Vec::new();
            part.collect_range(mint, maxt, &mut samples);
            samples
        })
        .filter(|samples| !samples.is_empty())
        .collect();
    let mut by_time: Vec<&Vec<Sample>> = collected.iter().collect();
    by_time.sort_by_key(|samples| samples[0].t);
    let disjoint = by_time
        .windows(2)
        .all(|w| w[0].last().map(|s| s.t) < w[1].first().map(|s| s.t));
    if disjoint {
        for samples in by_time {
            out.extend_from_slice(samples);
        }
        return;
    }
    out.extend(merge_iters(
        collected
            .into_iter()
            .map(|samples| Box::new(samples.into_iter()) as SampleIter)
            .collect(),
    ));
}

/// Merges the results of several queriers.
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    /// Merges `queriers`, in priority order.
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> Self {
        MergeQuerier { queriers }
    }
}

#[async_trait]
impl Querier for MergeQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        if self.queriers.len() == 1 {
            return self.queriers[0].select(hints, matchers).await;
        }
        let mut grouped: BTreeMap<Labels, Vec<Series>> = BTreeMap::new();
        let mut warnings = Vec::new();
        for querier in &self.queriers {
            let set = querier.select(hints, matchers).await?;
            warnings.extend(set.warnings);
            for series in set.series {
                grouped
                    .entry(series.labels.clone())
                    .or_default()
                    .push(series);
            }
        }
        let series = grouped
            .into_iter()
            .map(|(labels, mut parts)| {
                if parts.len() == 1 {
                    return parts.pop().expect("one part");
                }
                let parts = std::sync::Arc::new(parts);
                let bulk_parts = std::sync::Arc::clone(&parts);
                Series::new(labels, move || {
                    merge_iters(parts.iter().map(Series::samples).collect())
                })
                .with_bulk(move |mint, maxt, out| collect_merged(&bulk_parts, mint, maxt, out))
            })
            .collect();
        Ok(SeriesSet { series, warnings })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut all = Vec::new();
        for querier in &self.queriers {
            all.extend(querier.label_names(matchers).await?);
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut all = Vec::new();
        for querier in &self.queriers {
            all.extend(querier.label_values(name, matchers).await?);
        }
        all.sort();
        all.dedup();
        Ok(all)
    }
}

/// Merges ascending sample iterators; on equal timestamps the earliest iterator wins.
pub fn merge_iters(iters: Vec<SampleIter>) -> SampleIter {
    let mut heads: Vec<(Option<Sample>, SampleIter)> =
        iters.into_iter().map(|mut it| (it.next(), it)).collect();
    Box::new(std::iter::from_fn(move || {
        let mut best: Option<(usize, i64)> = None;
        for (i, (head, _)) in heads.iter().enumerate() {
            if let Some(s) = head {
                if best.is_none_or(|(_, t)| s.t < t) {
                    best = Some((i, s.t));
                }
            }
        }
        let (winner, t) = best?;
        let sample = heads[winner].0.take().expect("winner has a head");
        for (i, (head, it)) in heads.iter_mut().enumerate() {
            // Advance the winner, and drop equal-timestamp duplicates from the others.
            if i == winner || head.is_some_and(|s| s.t == t) {
                *head = it.next();
            }
        }
        Some(sample)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iter(samples: &[(i64, f64)]) -> SampleIter {
        let v: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        Box::new(v.into_iter())
    }

    #[test]
    fn merge_orders_and_first_source_wins_ties() {
        let merged: Vec<_> = merge_iters(vec![
            iter(&[(1, 1.0), (3, 3.0)]),
            iter(&[(2, 20.0), (3, 30.0), (4, 40.0)]),
        ])
        .map(|s| (s.t, s.v))
        .collect();
        assert_eq!(merged, [(1, 1.0), (2, 20.0), (3, 3.0), (4, 40.0)]);
    }
}

#[cfg(test)]
mod bulk_tests {
    use super::*;

    fn part(ts: &[i64], v: f64) -> Series {
        Series::from_samples(
            Labels::default(),
            ts.iter().map(|&t| Sample::new(t, v)).collect(),
        )
    }

    fn iterated(parts: &[Series], mint: i64, maxt: i64) -> Vec<Sample> {
        merge_iters(parts.iter().map(Series::samples).collect())
            .filter(|s| s.t >= mint && s.t <= maxt)
            .collect()
    }

    #[test]
    fn bulk_merge_matches_the_sample_merge() {
        for parts in [
            vec![part(&[1, 2, 3], 1.0), part(&[4, 5], 2.0)],
            vec![part(&[4, 5], 2.0), part(&[1, 2, 3], 1.0)],
            vec![part(&[1, 3, 5], 1.0), part(&[2, 3, 4], 2.0)],
            vec![part(&[], 1.0), part(&[7], 2.0)],
        ] {
            for (mint, maxt) in [(i64::MIN, i64::MAX), (2, 4), (3, 3), (6, 9)] {
                let mut bulk = Vec::new();
                collect_merged(&parts, mint, maxt, &mut bulk);
                assert_eq!(bulk, iterated(&parts, mint, maxt), "range {mint}..={maxt}");
            }
        }
    }
}
