//! An in-memory [`LogQueryable`] for the conformance runner and tests.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, TenantId};
use pitot_storage_api::{
    LogEntry, LogIndexStats, LogQuerier, LogQueryable, LogSelectHints, LogStream, LogStreamSet,
    StorageError,
};

type Streams = BTreeMap<Labels, Arc<Vec<LogEntry>>>;

/// Log streams per tenant, held in memory, entries kept sorted by time.
#[derive(Debug, Default, Clone)]
pub struct MemLogStore {
    tenants: Arc<RwLock<BTreeMap<TenantId, Streams>>>,
}

impl MemLogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entries to a stream (labels with empty values are dropped, as on write).
    pub fn append(&self, tenant: &TenantId, labels: &Labels, entries: Vec<LogEntry>) {
        let labels = Labels::from_unsorted(
            labels
                .iter()
                .filter(|l| !l.value.is_empty())
                .cloned()
                .collect(),
        );
        let mut t = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let streams = t.entry(tenant.clone()).or_default();
        let stream = streams.entry(labels).or_default();
        let v = Arc::make_mut(stream);
        v.extend(entries);
        v.sort_by_key(|e| e.ts);
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl LogQueryable for MemLogStore {
    fn log_querier(
        &self,
        tenant: &TenantId,
        _start: i64,
        _end: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        let streams = self
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .cloned()
            .unwrap_or_default();
        Ok(Box::new(MemQuerier { streams }))
    }
}

struct MemQuerier {
    streams: Streams,
}

fn selected<'a>(
    streams: &'a Streams,
    matchers: &'a [Matcher],
) -> impl Iterator<Item = (&'a Labels, &'a Arc<Vec<LogEntry>>)> {
    streams.iter().filter(move |(labels, _)| {
        matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    })
}

#[async_trait]
impl LogQuerier for MemQuerier {
    async fn select(
        &self,
        hints: &LogSelectHints,
        matchers: &[Matcher],
    ) -> Result<LogStreamSet, StorageError> {
        let (start, end) = (hints.start, hints.end);
        let streams = selected(&self.streams, matchers)
            .map(|(labels, entries)| {
                let entries = Arc::clone(entries);
                LogStream::new(labels.clone(), move || {
                    let entries = Arc::clone(&entries);
                    let from = entries.partition_point(|e| e.ts < start);
                    let to = entries.partition_point(|e| e.ts < end);
                    Box::new((from..to).map(move |i| entries[i].clone()))
                })
            })
            .collect();
        Ok(LogStreamSet {
            streams,
            warnings: Vec::new(),
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = selected(&self.streams, matchers)
            .flat_map(|(l, _)| l.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
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
        let mut values: Vec<String> = selected(&self.streams, matchers)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    async fn index_stats(&self, matchers: &[Matcher]) -> Result<LogIndexStats, StorageError> {
        let mut s = LogIndexStats::default();
        for (_, e) in selected(&self.streams, matchers) {
            s.streams += 1;
            s.chunks += 1;
            s.entries += e.len() as u64;
            s.bytes += e.iter().map(|e| e.line.len() as u64).sum::<u64>();
        }
        Ok(s)
    }
}
