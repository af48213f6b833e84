//! The head: a tenant's recent samples in memory, indexed by label pairs.

mod series;

use std::collections::{BTreeSet, HashMap};

use pitot_core::{Labels, Matcher, Sample};
use pitot_storage_api::RejectReason;
use roaring::RoaringBitmap;

use crate::postings::{self, LabelIndex};
pub use series::{Appended, ChunksIter, MemSeries, SeriesSnapshot, SAMPLES_PER_CHUNK};

/// Maps on the append path: foldhash (seeded per process, so label sets chosen by a
/// client cannot be aimed at collisions) instead of SipHash, which took a tenth of the
/// ingest CPU.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One tenant's in-memory series with their inverted index.
///
/// Series IDs are dense `u32`s that stay stable for the life of a series, so WAL
/// records can refer to a series by ID after its labels were logged once.
#[derive(Default)]
pub struct TenantHead {
    series: FastMap<u32, MemSeries>,
    by_labels: FastMap<Labels, u32>,
    postings: FastMap<String, FastMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
    next_id: u32,
    /// Oldest timestamp the head accepts: the end of the newest block cut from it.
    pub min_valid_t: i64,
}

impl TenantHead {
    /// An empty head accepting samples from `min_valid_t` on.
    pub fn new(min_valid_t: i64) -> Self {
        TenantHead {
            min_valid_t,
            ..TenantHead::default()
        }
    }

    /// Number of series held.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// The ID of the series with `labels`, if the head has it.
    pub fn lookup(&self, labels: &Labels) -> Option<u32> {
        self.by_labels.get(labels).copied()
    }

    /// Series of the metric `name` in the head.
    pub fn metric_series(&self, name: &str) -> u64 {
        self.postings
            .get(pitot_core::METRIC_NAME)
            .and_then(|values| values.get(name))
            .map_or(0, |ids| ids.len())
    }

    /// Finds the series for `labels`, creating it if needed; returns its ID and whether
    /// it was created.
    pub fn get_or_create(&mut self, labels: &Labels) -> (u32, bool) {
        if let Some(&id) = self.by_labels.get(labels) {
            return (id, false);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.insert_series(id, labels.clone());
        (id, true)
    }

    /// Inserts a series under a known ID (WAL replay). Idempotent when the ID already
    /// holds the same labels.
    pub fn insert_series(&mut self, id: u32, labels: Labels) {
        if self.series.contains_key(&id) {
            return;
        }
        self.next_id = self.next_id.max(id + 1);
        for label in &labels {
            self.postings
                .entry(label.name.clone())
                .or_default()
                .entry(label.value.clone())
                .or_default()
                .insert(id);
        }
        self.all.insert(id);
        self.by_labels.insert(labels.clone(), id);
        self.series.insert(id, MemSeries::new(labels));
    }

    /// Appends a sample to series `id`.
    pub fn append(
        &mut self,
        id: u32,
        sample: Sample,
        ooo_window: i64,
    ) -> Result<Appended, RejectReason> {
        let min_valid = self.min_valid_t;
        match self.series.get_mut(&id) {
            Some(series) => series.append(sample.t, sample.v, min_valid, ooo_window),
            None => Err(RejectReason::TooOld),
        }
    }

    /// The series with `id`.
    pub fn series(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(&id)
    }

    /// IDs of series matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        postings::select(self, matchers)
    }

    /// Oldest and newest sample timestamps in the head.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for s in self.series.values() {
            let (Some(min), max) = (s.min_t(), s.max_t()) else {
                continue;
            };
            let max = if max == i64::MIN { min } else { max };
            range = Some(match range {
                Some((a, b)) => (a.min(min), b.max(max)),
                None => (min, max),
            });
        }
        range
    }

    /// The series holding samples older than `end`, sorted by labels: what a block cut
    /// walks, a slice at a time, with [`TenantHead::samples_of`].
    pub fn series_before(&self, end: i64) -> Vec<(Labels, u32)> {
        let mut out: Vec<(Labels, u32)> = self
            .series
            .iter()
            .filter(|(_, s)| s.min_t().is_some_and(|t| t < end))
            .map(|(&id, s)| (s.labels.clone(), id))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The samples of series `id` older than `end`.
    pub fn samples_of(&self, id: u32, end: i64) -> Vec<Sample> {
        let Some(series) = self.series.get(&id) else {
            return Vec::new();
        };
        let mut samples = series.all_samples();
        samples.truncate(samples.partition_point(|s| s.t < end));
        samples
    }

    /// Removes every sample older than `end`; series left empty are dropped. Afterwards
    /// the head refuses samples older than `end`.
    pub fn drain_before(&mut self, end: i64) {
        self.min_valid_t = self.min_valid_t.max(end);
        let mut emptied = Vec::new();
        for (&id, series) in self.series.iter_mut() {
            series.drain_before(end);
            if series.is_empty() {
                emptied.push(id);
            }
        }
        for id in emptied {
            self.remove_series(id);
        }
    }

    /// Drops series without samples (left by a replay whose samples were all in blocks).
    pub fn remove_empty_series(&mut self) {
        let empty: Vec<u32> = self
            .series
            .iter()
            .filter(|(_, s)| s.is_empty())
            .map(|(&id, _)| id)
            .collect();
        for id in empty {
            self.remove_series(id);
        }
    }

    fn remove_series(&mut self, id: u32) {
        let Some(series) = self.series.remove(&id) else {
            return;
        };
        self.all.remove(id);
        self.by_labels.remove(&series.labels);
        for label in &series.labels {
            if let Some(values) = self.postings.get_mut(&label.name) {
                if let Some(ids) = values.get_mut(&label.value) {
                    ids.remove(id);
                    if ids.is_empty() {
                        values.remove(&label.value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&label.name);
                }
            }
        }
    }

    /// Every series with its ID, for WAL checkpoints.
    pub fn iter_series(&self) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series.iter().map(|(&id, s)| (id, s))
    }

    /// Label names of the selected series.
    pub fn label_names(&self, ids: &RoaringBitmap) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (name, values) in &self.postings {
            if values.values().any(|v| !v.is_disjoint(ids)) {
                names.insert(name.clone());
            }
        }
        names
    }

    /// Values of `name` among the selected series.
    pub fn label_values(&self, name: &str, ids: &RoaringBitmap) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(values) = self.postings.get(name) {
            for (value, postings) in values {
                if !postings.is_disjoint(ids) {
                    out.insert(value.clone());
                }
            }
        }
        out
    }
}

impl LabelIndex for TenantHead {
    fn all_series(&self) -> RoaringBitmap {
        self.all.clone()
    }

    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        self.postings.get(name)?.get(value)
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) {
        if let Some(values) = self.postings.get(name) {
            for (value, ids) in values {
                f(value, ids);
            }
        }
    }
}
