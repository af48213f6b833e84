//! The head: a tenant's recent samples in memory, indexed by label pairs.

mod series;
mod store;
mod symbols;

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

use pitot_core::{Labels, Matcher, Sample};
use pitot_storage_api::RejectReason;
use roaring::RoaringBitmap;

use crate::postings::{self, LabelIndex};
pub use series::{
    collect_chunks, Appended, ChunksIter, Late, MemSeries, SeriesSnapshot, SAMPLES_PER_CHUNK,
};
use store::SeriesStore;
pub use store::Slot;
use symbols::Symbols;

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
    series: SeriesStore,
    /// Series slots by the hash of their labels; the labels themselves live only in the
    /// series (a second copy as map keys was a third of the head's memory).
    /// Entries carry the hash, so probing compares hashes and growing never rehashes.
    by_labels: hashbrown::HashTable<(u64, Slot)>,
    hasher: foldhash::fast::RandomState,
    symbols: Symbols,
    postings: FastMap<String, FastMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
    /// Every series' position in label order, by slot; `None` after series were added
    /// or removed. A query returns its series in label order, and comparing label sets
    /// was a quarter of the serial part of a query over 100k series; with this, a query
    /// after the series set settled sorts by one integer.
    label_order: Option<Vec<u32>>,
    next_id: u32,
    /// Oldest timestamp the head accepts: the end of the newest block cut from it.
    pub min_valid_t: i64,
    /// Series a cut emptied but kept (for late samples, see [`Late`]): held, not
    /// counted as active.
    placeholders: usize,
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
        self.series.len() - self.placeholders
    }

    /// The ID of the series with `labels`, if the head has it.
    pub fn lookup(&self, labels: &Labels) -> Option<u32> {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        self.lookup_pairs(&pairs).map(|(id, _)| id)
    }

    /// The ID of the series with the label pairs `pairs` (sorted by name, no empty
    /// values), if the head has it: the append path finds a series without building
    /// its label set.
    pub fn lookup_pairs(&self, pairs: &[(&str, &str)]) -> Option<(u32, Slot)> {
        let hash = hash_pairs(&self.hasher, pairs.iter().copied());
        let &(_, slot) = self.by_labels.find(hash, |&(h, slot)| {
            h == hash
                && self
                    .series
                    .at(slot)
                    .is_some_and(|(_, series)| self.symbols.equals_pairs(&series.labels, pairs))
        })?;
        self.series.at(slot).map(|(id, _)| (id, slot))
    }

    /// [`TenantHead::lookup_pairs`] for a whole batch of label-pair sets: `out` gets one
    /// entry per set, `None` where the head has no such series (yet).
    ///
    /// With 100k series none of them is in the CPU cache, and finding one is a chain of
    /// misses: the table's bucket, then the series' slot, then its label IDs, then (to
    /// append) its open chunk. Taken one series at a time the CPU waits on each miss in
    /// turn; the bucket read alone was a tenth of the ingest CPU. Here the work goes in
    /// passes over the batch (hash every set, probe every hash, read every candidate's
    /// labels and chunk tail, then verify), so each pass's misses are independent of one
    /// another and the CPU keeps many in flight; the last pass finds its data in cache.
    pub fn lookup_many(&self, sets: &[&[(&str, &str)]], out: &mut Vec<Option<(u32, Slot)>>) {
        let hashes: Vec<u64> = sets
            .iter()
            .map(|pairs| hash_pairs(&self.hasher, pairs.iter().copied()))
            .collect();
        let candidates: Vec<Option<Slot>> = hashes
            .iter()
            .map(|&hash| {
                self.by_labels
                    .find(hash, |&(h, _)| h == hash)
                    .map(|&(_, slot)| slot)
            })
            .collect();
        let mut touched = 0u64;
        for &slot in candidates.iter().flatten() {
            if let Some((_, series)) = self.series.at(slot) {
                touched ^= series.touch();
            }
        }
        std::hint::black_box(touched);
        out.clear();
        out.extend(sets.iter().zip(&candidates).map(|(&pairs, &candidate)| {
            let slot = candidate?;
            match self.series.at(slot) {
                Some((id, series)) if self.symbols.equals_pairs(&series.labels, pairs) => {
                    Some((id, slot))
                }
                // Another series with the same 64-bit hash: probe it in full.
                _ => self.lookup_pairs(pairs),
            }
        }));
    }

    /// Creates a series the head does not have yet (see [`TenantHead::lookup_pairs`])
    /// and returns its ID and slot.
    pub fn create(&mut self, labels: Labels) -> (u32, Slot) {
        let id = self.next_id;
        self.next_id += 1;
        self.insert_series(id, labels);
        (id, self.series.slot_of(id).expect("just inserted"))
    }

    /// The labels of `series` (a series of this head).
    pub fn series_labels(&self, series: &MemSeries) -> Labels {
        self.symbols.decode(&series.labels)
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
        match self.lookup(labels) {
            Some(id) => (id, false),
            None => (self.create(labels.clone()).0, true),
        }
    }

    /// Inserts a series under a known ID (WAL replay). Idempotent when the ID already
    /// holds the same labels.
    pub fn insert_series(&mut self, id: u32, labels: Labels) {
        if self.series.contains(id) {
            return;
        }
        self.next_id = self.next_id.max(id + 1);
        for label in &labels {
            self.postings
                .entry(label.name.to_string())
                .or_default()
                .entry(label.value.to_string())
                .or_default()
                .insert(id);
        }
        self.all.insert(id);
        let hash = hash_pairs(
            &self.hasher,
            labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
        );
        let pairs = self.symbols.encode(&labels);
        let slot = self.series.insert(id, MemSeries::staggered(pairs, id));
        self.label_order = None;
        self.by_labels
            .insert_unique(hash, (hash, slot), |&(h, _)| h);
    }

    /// Appends a replayed sample to series `id` (WAL replay: a series it meets first
    /// below the cut may take it, as the live head did); see [`TenantHead::append_at`].
    pub fn append(
        &mut self,
        id: u32,
        sample: Sample,
        ooo_window: i64,
        late_window: i64,
    ) -> Result<Appended, RejectReason> {
        let late = Late {
            window: late_window,
            new_series: true,
        };
        match self.series.slot_of(id) {
            Some(slot) => self.append_with(slot, sample, ooo_window, late),
            None => Err(RejectReason::TooOld),
        }
    }

    /// Appends a sample to the series in `slot` (from [`TenantHead::lookup_pairs`] or
    /// [`TenantHead::create`] under the same lock). A sample may be `ooo_window` behind
    /// its series' newest, and `late_window` behind the end of the newest block cut if
    /// it is new for its series (see [`Late`]).
    pub fn append_at(
        &mut self,
        slot: Slot,
        sample: Sample,
        ooo_window: i64,
        late_window: i64,
    ) -> Result<Appended, RejectReason> {
        let late = Late {
            window: late_window,
            new_series: false,
        };
        self.append_with(slot, sample, ooo_window, late)
    }

    fn append_with(
        &mut self,
        slot: Slot,
        sample: Sample,
        ooo_window: i64,
        late: Late,
    ) -> Result<Appended, RejectReason> {
        let min_valid = self.min_valid_t;
        let Some(series) = self.series.at_mut(slot) else {
            return Err(RejectReason::TooOld);
        };
        let was_placeholder = series.is_placeholder();
        let appended = series.append(sample.t, sample.v, min_valid, late, ooo_window);
        if was_placeholder && !series.is_empty() {
            self.placeholders = self.placeholders.saturating_sub(1);
        }
        appended
    }

    /// The series with `id`.
    pub fn series(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(id)
    }

    /// IDs of series matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        postings::select(self, matchers)
    }

    /// Oldest and newest sample timestamps in the head.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for (_, s) in self.series.iter() {
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

    /// The IDs of the series holding samples older than `end`, in label order: what a
    /// block cut walks, a slice at a time, with [`TenantHead::series_labels`] and
    /// [`TenantHead::samples_of`]. Sorting compares interned strings in place, so a cut
    /// never spells out every series' labels at once.
    pub fn series_before(&self, end: i64) -> Vec<u32> {
        let mut out: Vec<(&[u32], u32)> = self
            .series
            .iter()
            .filter(|(_, s)| s.min_t().is_some_and(|t| t < end))
            .map(|(id, s)| (&*s.labels, id))
            .collect();
        out.sort_unstable_by(|a, b| self.symbols.pairs(a.0).cmp(self.symbols.pairs(b.0)));
        out.into_iter().map(|(_, id)| id).collect()
    }

    /// Sorts the IDs of series of this head into the label order of their series
    /// (IDs the head does not have go last). Uses the cached order of all series, and
    /// rebuilds it when it is stale and `ids` is a large part of the head; a small
    /// selection is sorted by comparing its labels.
    pub fn sort_by_labels(&mut self, ids: &mut [u32]) {
        if self.label_order.is_none() && ids.len() * 8 >= self.series.len() {
            self.label_order = Some(self.build_label_order());
        }
        let series = &self.series;
        match &self.label_order {
            Some(order) => {
                // Each ID's rank is looked up once, not once per comparison.
                let mut ranked: Vec<(u32, u32)> = ids
                    .iter()
                    .map(|&id| {
                        let rank = series
                            .slot_of(id)
                            .map_or(u32::MAX, |slot| order[slot as usize]);
                        (rank, id)
                    })
                    .collect();
                ranked.sort_unstable();
                for (dst, (_, id)) in ids.iter_mut().zip(ranked) {
                    *dst = id;
                }
            }
            None => {
                let symbols = &self.symbols;
                let pairs = |id: u32| series.get(id).map(|s| symbols.pairs(&s.labels));
                ids.sort_unstable_by(|&a, &b| match (pairs(a), pairs(b)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
            }
        }
    }

    /// The position in label order of every series, by slot.
    fn build_label_order(&self) -> Vec<u32> {
        let mut slots: Vec<(Slot, &[u32])> = (0..self.series.capacity() as Slot)
            .filter_map(|slot| self.series.at(slot).map(|(_, s)| (slot, &*s.labels)))
            .collect();
        slots.sort_unstable_by(|a, b| self.symbols.pairs(a.1).cmp(self.symbols.pairs(b.1)));
        let mut order = vec![u32::MAX; self.series.capacity()];
        for (rank, (slot, _)) in slots.into_iter().enumerate() {
            order[slot as usize] = rank as u32;
        }
        order
    }

    /// The labels of series `id`, if the head has it.
    pub fn labels_of(&self, id: u32) -> Option<Labels> {
        self.series.get(id).map(|s| self.series_labels(s))
    }

    /// The samples of series `id` older than `end`.
    pub fn samples_of(&self, id: u32, end: i64) -> Vec<Sample> {
        let Some(series) = self.series.get(id) else {
            return Vec::new();
        };
        let mut samples = series.all_samples();
        samples.truncate(samples.partition_point(|s| s.t < end));
        samples
    }

    /// Removes every sample older than `end`; series left empty are dropped unless their
    /// newest sample is at or after `keep_since`. Afterwards the head refuses samples
    /// older than `end`, except a series' new samples within the late window (see
    /// [`TenantHead::append_at`]).
    pub fn drain_before(&mut self, end: i64, keep_since: i64) {
        self.min_valid_t = self.min_valid_t.max(end);
        let mut emptied = Vec::new();
        for (id, series) in self.series.iter_mut() {
            let was_placeholder = series.is_placeholder();
            series.drain_before(end);
            if !series.is_empty() {
                continue;
            }
            // An emptied series that had samples lately is kept, without samples, so
            // its newest timestamp still tells a late sample from one a block may hold.
            if series.newest_t() < keep_since {
                emptied.push(id);
                if was_placeholder {
                    self.placeholders = self.placeholders.saturating_sub(1);
                }
            } else if !was_placeholder {
                self.placeholders += 1;
            }
        }
        let removed = !emptied.is_empty();
        for id in emptied {
            self.remove_series(id);
        }
        if removed {
            self.compact_symbols();
        }
    }

    /// Rebuilds the symbol table from the live series, dropping strings only removed
    /// series used (series churn would otherwise grow it for the life of the process).
    fn compact_symbols(&mut self) {
        let mut fresh = Symbols::default();
        for (_, series) in self.series.iter_mut() {
            let labels = self.symbols.decode(&series.labels);
            series.labels = fresh.encode(&labels);
        }
        self.symbols = fresh;
    }

    /// Drops series without samples (left by a replay whose samples were all in blocks).
    pub fn remove_empty_series(&mut self) {
        let empty: Vec<u32> = self
            .series
            .iter()
            .filter(|(_, s)| s.is_empty())
            .map(|(id, _)| id)
            .collect();
        self.placeholders = 0;
        for id in empty {
            self.remove_series(id);
        }
    }

    fn remove_series(&mut self, id: u32) {
        let Some((slot, series)) = self.series.remove(id) else {
            return;
        };
        self.label_order = None;
        self.all.remove(id);
        let hash = hash_pairs(&self.hasher, self.symbols.pairs(&series.labels));
        if let Ok(entry) = self.by_labels.find_entry(hash, |&(_, other)| other == slot) {
            entry.remove();
        }
        for (name, value) in self.symbols.pairs(&series.labels) {
            if let Some(values) = self.postings.get_mut(name) {
                if let Some(ids) = values.get_mut(value) {
                    ids.remove(id);
                    if ids.is_empty() {
                        values.remove(value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(name);
                }
            }
        }
    }

    /// Every series with its ID, for WAL checkpoints.
    pub fn iter_series(&self) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series.iter()
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

/// The hash of a label set, the same whether it comes as [`Labels`] or as interned pairs.
fn hash_pairs<'a>(
    hasher: &foldhash::fast::RandomState,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let mut h = hasher.build_hasher();
    for (name, value) in pairs {
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write(value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(instance: &str) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("instance", instance)])
    }

    fn pairs(labels: &Labels) -> Vec<(&str, &str)> {
        labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn lookup_many_finds_what_lookup_pairs_finds_even_past_a_hash_collision() {
        let mut head = TenantHead::new(i64::MIN);
        let (y, _) = head.get_or_create(&labels("y:9100"));
        // A table entry with x's hash that points at y: what a 64-bit collision between
        // x and y would leave. Inserted before x, it is the one a probe meets first.
        let x_labels = labels("x:9100");
        let x_hash = hash_pairs(&head.hasher, pairs(&x_labels).into_iter());
        let y_slot = head.series.slot_of(y).unwrap();
        head.by_labels
            .insert_unique(x_hash, (x_hash, y_slot), |&(h, _)| h);
        let (x, _) = head.get_or_create(&x_labels);
        assert_ne!(x, y);

        let sets = [labels("x:9100"), labels("y:9100"), labels("z:9100")];
        let owned: Vec<Vec<(&str, &str)>> = sets.iter().map(pairs).collect();
        let borrowed: Vec<&[(&str, &str)]> = owned.iter().map(Vec::as_slice).collect();
        let mut found = vec![Some((99, 99))];
        head.lookup_many(&borrowed, &mut found);
        let ids: Vec<Option<u32>> = found.iter().map(|f| f.map(|(id, _)| id)).collect();
        assert_eq!(ids, vec![Some(x), Some(y), None]);
        for (set, got) in borrowed.iter().zip(&found) {
            assert_eq!(*got, head.lookup_pairs(set));
        }
    }

    #[test]
    fn series_are_found_by_labels_and_dropped_symbols_are_reclaimed() {
        let mut head = TenantHead::new(i64::MIN);
        let (a, created) = head.get_or_create(&labels("a:9100"));
        assert!(created);
        let (b, _) = head.get_or_create(&labels("b:9100"));
        assert_eq!(head.get_or_create(&labels("a:9100")), (a, false));
        assert_eq!(head.lookup(&labels("b:9100")), Some(b));
        assert_eq!(head.lookup(&labels("c:9100")), None);
        assert_eq!(
            head.series_labels(head.series(b).unwrap()),
            labels("b:9100")
        );
        head.append(a, Sample::new(10, 1.0), 0, 0).unwrap();
        head.append(b, Sample::new(20, 1.0), 0, 0).unwrap();
        assert_eq!(head.symbols.len(), 5);

        head.drain_before(15, i64::MAX);
        assert_eq!(head.lookup(&labels("a:9100")), None);
        assert_eq!(head.lookup(&labels("b:9100")), Some(b));
        assert_eq!(head.symbols.len(), 4, "a:9100 is no longer interned");
        assert_eq!(
            head.series_labels(head.series(b).unwrap()),
            labels("b:9100")
        );
        assert_eq!(head.select(&[]).len(), 1);
    }

    #[test]
    fn a_series_emptied_by_a_cut_takes_late_new_samples_only() {
        let mut head = TenantHead::new(i64::MIN);
        let (a, _) = head.get_or_create(&labels("a:9100"));
        let (b, _) = head.get_or_create(&labels("b:9100"));
        head.append(a, Sample::new(1_000, 1.0), 0, 0).unwrap();
        head.append(b, Sample::new(2_000, 1.0), 0, 0).unwrap();
        // A flush: everything up to the newest sample goes to a block; series that had
        // samples within the window (here: since 0) stay, empty.
        head.drain_before(2_001, 0);
        assert_eq!(head.lookup(&labels("a:9100")), Some(a));
        let slot = |head: &TenantHead, id| head.series.slot_of(id).unwrap();
        // New for a, within the window below the cut: taken.
        assert!(head
            .append_at(slot(&head, a), Sample::new(1_500, 2.0), 600, 600)
            .is_ok());
        // Not newer than what a held (a block may hold it), or beyond the window: refused.
        for t in [1_000, 900] {
            assert_eq!(
                head.append_at(slot(&head, a), Sample::new(t, 3.0), 600, 600),
                Err(RejectReason::TooOld),
                "{t}"
            );
        }
        assert_eq!(
            head.append_at(slot(&head, b), Sample::new(1_300, 3.0), 600, 600),
            Err(RejectReason::TooOld),
            "beyond the window"
        );
        // A series the head never saw takes none live, but does in WAL replay.
        let (c, _) = head.get_or_create(&labels("c:9100"));
        assert_eq!(
            head.append_at(slot(&head, c), Sample::new(1_800, 1.0), 600, 600),
            Err(RejectReason::TooOld)
        );
        assert!(head.append(c, Sample::new(1_800, 1.0), 600, 600).is_ok());
    }

    #[test]
    fn series_before_lists_ids_in_label_order() {
        let mut head = TenantHead::new(i64::MIN);
        let sets = [
            Labels::from_pairs([("__name__", "b"), ("x", "1")]),
            Labels::from_pairs([("__name__", "a"), ("x", "2"), ("y", "1")]),
            Labels::from_pairs([("__name__", "a"), ("x", "2")]),
            Labels::from_pairs([("__name__", "a"), ("x", "10")]),
        ];
        for (i, l) in sets.iter().enumerate() {
            let (id, _) = head.get_or_create(l);
            head.append(id, Sample::new(i as i64, 1.0), 0, 0).unwrap();
        }
        let ids = head.series_before(100);
        let got: Vec<Labels> = ids.iter().map(|&id| head.labels_of(id).unwrap()).collect();
        let mut want = sets.to_vec();
        want.sort();
        assert_eq!(got, want);
        assert!(head.series_before(2).len() == 2);
    }

    #[test]
    fn ids_sort_into_label_order_with_and_without_the_cached_order() {
        let mut head = TenantHead::new(i64::MIN);
        let mut sets: Vec<Labels> = (0..40)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", if i % 3 == 0 { "b" } else { "a" }),
                    ("x", &*format!("{}", (i * 7) % 40)),
                ])
            })
            .collect();
        sets.push(Labels::from_pairs([("__name__", "a")]));
        sets.push(Labels::from_pairs([
            ("__name__", "a"),
            ("x", "1"),
            ("y", ""),
        ]));
        let ids: Vec<u32> = sets.iter().map(|l| head.get_or_create(l).0).collect();
        let sorted = |head: &mut TenantHead, mut ids: Vec<u32>| {
            head.sort_by_labels(&mut ids);
            ids.iter()
                .map(|&id| head.labels_of(id).unwrap())
                .collect::<Vec<_>>()
        };
        let mut want = sets.clone();
        want.sort();
        // A small selection is sorted by comparing labels; the order is not built.
        let few = vec![ids[5], ids[1], ids[40], ids[2]];
        let mut want_few: Vec<Labels> = few.iter().map(|&id| head.labels_of(id).unwrap()).collect();
        want_few.sort();
        assert_eq!(sorted(&mut head, few.clone()), want_few);
        assert!(head.label_order.is_none());
        // A large one builds the order, which then serves small ones too.
        assert_eq!(sorted(&mut head, ids.iter().rev().copied().collect()), want);
        assert!(head.label_order.is_some());
        assert_eq!(sorted(&mut head, few), want_few);
        // A new series makes the order stale; IDs the head lacks go last.
        let new = Labels::from_pairs([("__name__", "a"), ("x", "0"), ("z", "1")]);
        let (new_id, _) = head.get_or_create(&new);
        assert!(head.label_order.is_none());
        let mut all: Vec<u32> = ids.clone();
        all.push(new_id);
        all.push(9_999);
        head.sort_by_labels(&mut all);
        assert_eq!(all.last(), Some(&9_999));
        let got: Vec<Labels> = all[..all.len() - 1]
            .iter()
            .map(|&id| head.labels_of(id).unwrap())
            .collect();
        want.push(new);
        want.sort();
        assert_eq!(got, want);
    }
}
