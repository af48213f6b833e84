use async_trait::async_trait;
use pitot_core::{Matcher, Sample, TenantId};

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
        let mut all: Vec<Series> = Vec::new();
        let mut warnings = Vec::new();
        for querier in &self.queriers {
            let set = querier.select(hints, matchers).await?;
            warnings.extend(set.warnings);
            all.extend(set.series);
        }
        // Each querier's series are sorted, so this stable sort merges sorted runs, and
        // equal label sets end up adjacent in priority order (no label set is cloned).
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut series = Vec::with_capacity(all.len());
        let mut all = all.into_iter().peekable();
        while let Some(first) = all.next() {
            if all.peek().is_none_or(|next| next.labels != first.labels) {
                series.push(first);
                continue;
            }
            let mut parts = vec![first];
            while let Some(next) = all.next_if(|next| next.labels == parts[0].labels) {
                parts.push(next);
            }
            let labels = std::mem::take(&mut parts[0].labels);
            let parts = std::sync::Arc::new(parts);
            let bulk_parts = std::sync::Arc::clone(&parts);
            series.push(
                Series::new(labels, move || {
                    merge_iters(parts.iter().map(Series::samples).collect())
                })
                .with_bulk(move |mint, maxt, out| collect_merged(&bulk_parts, mint, maxt, out)),
            );
        }
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
    use pitot_core::Labels;

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

#[cfg(test)]
mod querier_tests {
    use super::*;
    use pitot_core::Labels;

    /// A querier over fixed series, sorted as a storage returns them.
    struct Fixed(Vec<(&'static str, Vec<i64>)>);

    #[async_trait]
    impl Querier for Fixed {
        async fn select(
            &self,
            _hints: &SelectHints,
            _matchers: &[Matcher],
        ) -> Result<SeriesSet, StorageError> {
            let mut series: Vec<Series> = self
                .0
                .iter()
                .map(|(name, ts)| {
                    let labels = Labels::from_pairs([("__name__", *name)]);
                    let samples = ts.iter().map(|&t| Sample::new(t, t as f64)).collect();
                    Series::from_samples(labels, samples)
                })
                .collect();
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(SeriesSet {
                series,
                warnings: Vec::new(),
            })
        }

        async fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }

        async fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
    }

    fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a fixed querier never waits"),
        }
    }

    #[test]
    fn series_of_several_queriers_merge_by_labels_in_order() {
        let merged = MergeQuerier::new(vec![
            Box::new(Fixed(vec![("c", vec![5, 6]), ("a", vec![1, 2])])),
            Box::new(Fixed(vec![("b", vec![1]), ("c", vec![1, 6, 9])])),
            Box::new(Fixed(vec![("c", vec![7])])),
        ]);
        let set = ready(merged.select(&SelectHints::default(), &[])).unwrap();
        let names: Vec<&str> = set
            .series
            .iter()
            .map(|s| s.labels.metric_name().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let c = &set.series[2];
        let times: Vec<i64> = c.samples().map(|s| s.t).collect();
        assert_eq!(times, [1, 5, 6, 7, 9]);
        let mut bulk = Vec::new();
        c.collect_range(0, 100, &mut bulk);
        assert_eq!(
            bulk.iter().map(|s| s.t).collect::<Vec<_>>(),
            [1, 5, 6, 7, 9]
        );
    }
}
