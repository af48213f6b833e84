//! An in-memory [`Queryable`] for tests and the conformance runner.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, Sample, TenantId};
use pitot_storage_api::{Querier, Queryable, SelectHints, Series, SeriesSet, StorageError};

type TenantData = BTreeMap<Labels, Arc<Vec<Sample>>>;

/// Float series per tenant, held in memory, served through the same storage trait as
/// the real stores so the engine cannot tell the difference.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    data: Arc<RwLock<HashMap<TenantId, TenantData>>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// Adds samples to a series; samples are kept sorted by time, and a sample at an
    /// existing timestamp replaces the old one.
    pub fn append(&self, tenant: &TenantId, labels: Labels, samples: &[Sample]) {
        let mut data = self.data.write().expect("lock");
        let series = data.entry(tenant.clone()).or_default();
        let entry = series.entry(labels).or_default();
        let v = Arc::make_mut(entry);
        for s in samples {
            match v.binary_search_by(|x| x.t.cmp(&s.t)) {
                Ok(i) => v[i] = *s,
                Err(i) => v.insert(i, *s),
            }
        }
    }

    /// Removes all data of all tenants.
    pub fn clear(&self) {
        self.data.write().expect("lock").clear();
    }

    /// Labels of every series of `tenant` that match all `matchers`.
    pub fn matching(&self, tenant: &TenantId, matchers: &[Matcher]) -> Vec<Labels> {
        let data = self.data.read().expect("lock");
        let Some(series) = data.get(tenant) else {
            return Vec::new();
        };
        series
            .keys()
            .filter(|l| matches_all(l, matchers))
            .cloned()
            .collect()
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl Queryable for MemStorage {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let data = self.data.read().expect("lock");
        let snapshot = data.get(tenant).cloned().unwrap_or_default();
        Ok(Box::new(MemQuerier {
            series: snapshot,
            mint,
            maxt,
        }))
    }
}

/// A snapshot of one tenant's series, limited to a time range.
struct MemQuerier {
    series: TenantData,
    mint: i64,
    maxt: i64,
}

#[async_trait]
impl Querier for MemQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let (lo, hi) = (hints.start.max(self.mint), hints.end.min(self.maxt));
        let mut out = Vec::new();
        for (labels, samples) in &self.series {
            if !matches_all(labels, matchers) {
                continue;
            }
            let a = samples.partition_point(|s| s.t < lo);
            let b = samples.partition_point(|s| s.t <= hi);
            let window: Vec<Sample> = if a < b {
                samples[a..b].to_vec()
            } else {
                Vec::new()
            };
            out.push(Series::from_samples(labels.clone(), window));
        }
        Ok(SeriesSet {
            series: out,
            warnings: Vec::new(),
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(l, matchers))
            .flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches_all(l, matchers))
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}
