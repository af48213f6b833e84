//! Reading several storage keys as one: a query over several data sources of a tenant,
//! and the ruler's view of everything a tenant stores.
//!
//! Engines ask a queryable for a querier of "the tenant"; these wrappers decide which
//! storage keys that means and merge what they hold (series or streams with the same
//! labels in two data sources are read as one).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::{Labels, Matcher, TenantId};

use crate::{
    LogEntry, LogIndexStats, LogQuerier, LogQueryable, LogQueryableRef, LogSelectHints, LogStream,
    LogStreamSet, MergeQuerier, Querier, Queryable, QueryableRef, StorageError,
};

/// Maps the tenant an engine asks for to the storage keys to read.
pub type KeyResolver = Arc<dyn Fn(&TenantId) -> Vec<TenantId> + Send + Sync>;

/// A metrics queryable that reads the keys a resolver names for each tenant.
pub struct ResolvingQueryable {
    inner: QueryableRef,
    resolve: KeyResolver,
}

impl ResolvingQueryable {
    /// Reads `inner` at the keys `resolve` gives for the tenant asked for.
    pub fn new(inner: QueryableRef, resolve: KeyResolver) -> Self {
        ResolvingQueryable { inner, resolve }
    }

    /// Reads exactly `keys`, whatever tenant is asked for (one request's selection).
    pub fn fixed(inner: QueryableRef, keys: Vec<TenantId>) -> Self {
        ResolvingQueryable::new(inner, Arc::new(move |_| keys.clone()))
    }
}

impl Queryable for ResolvingQueryable {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let mut keys = (self.resolve)(tenant);
        if keys.len() == 1 {
            return self.inner.querier(&keys.remove(0), mint, maxt);
        }
        let queriers = keys
            .iter()
            .map(|k| self.inner.querier(k, mint, maxt))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(MergeQuerier::new(queriers)))
    }
}

/// A logs queryable that reads the keys a resolver names for each tenant.
pub struct ResolvingLogQueryable {
    inner: LogQueryableRef,
    resolve: KeyResolver,
}

impl ResolvingLogQueryable {
    /// Reads `inner` at the keys `resolve` gives for the tenant asked for.
    pub fn new(inner: LogQueryableRef, resolve: KeyResolver) -> Self {
        ResolvingLogQueryable { inner, resolve }
    }

    /// Reads exactly `keys`, whatever tenant is asked for.
    pub fn fixed(inner: LogQueryableRef, keys: Vec<TenantId>) -> Self {
        ResolvingLogQueryable::new(inner, Arc::new(move |_| keys.clone()))
    }
}

impl LogQueryable for ResolvingLogQueryable {
    fn log_querier(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        let mut keys = (self.resolve)(tenant);
        if keys.len() == 1 {
            return self.inner.log_querier(&keys.remove(0), start, end);
        }
        let queriers = keys
            .iter()
            .map(|k| self.inner.log_querier(k, start, end))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(MergeLogQuerier { queriers }))
    }
}

/// Merges several log queriers: streams with the same labels become one stream whose
/// entries are merged by timestamp (all entries kept, earlier queriers first on ties).
pub struct MergeLogQuerier {
    queriers: Vec<Box<dyn LogQuerier>>,
}

impl MergeLogQuerier {
    /// Merges `queriers`, in priority order.
    pub fn new(queriers: Vec<Box<dyn LogQuerier>>) -> Self {
        MergeLogQuerier { queriers }
    }
}

#[async_trait]
impl LogQuerier for MergeLogQuerier {
    async fn select(
        &self,
        hints: &LogSelectHints,
        matchers: &[Matcher],
    ) -> Result<LogStreamSet, StorageError> {
        let mut grouped: BTreeMap<Labels, Vec<LogStream>> = BTreeMap::new();
        let mut warnings = Vec::new();
        for querier in &self.queriers {
            let set = querier.select(hints, matchers).await?;
            warnings.extend(set.warnings);
            for stream in set.streams {
                grouped
                    .entry(stream.labels.clone())
                    .or_default()
                    .push(stream);
            }
        }
        let streams = grouped
            .into_iter()
            .map(|(labels, mut parts)| {
                if parts.len() == 1 {
                    return parts.pop().expect("one part");
                }
                let parts = Arc::new(parts);
                LogStream::new(labels, move || {
                    Box::new(MergedEntries::new(
                        parts.iter().map(LogStream::entries).collect(),
                    ))
                })
            })
            .collect();
        Ok(LogStreamSet { streams, warnings })
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

    async fn index_stats(&self, matchers: &[Matcher]) -> Result<LogIndexStats, StorageError> {
        let mut total = LogIndexStats::default();
        for querier in &self.queriers {
            let s = querier.index_stats(matchers).await?;
            total.streams += s.streams;
            total.chunks += s.chunks;
            total.entries += s.entries;
            total.bytes += s.bytes;
        }
        Ok(total)
    }
}

/// Ascending merge of several ascending entry iterators.
struct MergedEntries {
    heads: Vec<(Option<LogEntry>, Box<dyn Iterator<Item = LogEntry> + Send>)>,
}

impl MergedEntries {
    fn new(iters: Vec<Box<dyn Iterator<Item = LogEntry> + Send>>) -> Self {
        MergedEntries {
            heads: iters.into_iter().map(|mut it| (it.next(), it)).collect(),
        }
    }
}

impl Iterator for MergedEntries {
    type Item = LogEntry;

    fn next(&mut self) -> Option<LogEntry> {
        let mut best: Option<(usize, i64)> = None;
        for (i, (head, _)) in self.heads.iter().enumerate() {
            if let Some(e) = head {
                if best.is_none_or(|(_, t)| e.ts < t) {
                    best = Some((i, e.ts));
                }
            }
        }
        let (winner, _) = best?;
        let (head, it) = &mut self.heads[winner];
        let entry = head.take();
        *head = it.next();
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, line: &str) -> LogEntry {
        LogEntry {
            ts,
            line: line.to_string(),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn merged_entries_keep_every_entry_in_time_order() {
        let a = vec![entry(1, "a1"), entry(3, "a3"), entry(5, "a5")];
        let b = vec![entry(2, "b2"), entry(3, "b3"), entry(9, "b9")];
        let merged: Vec<(i64, String)> =
            MergedEntries::new(vec![Box::new(a.into_iter()), Box::new(b.into_iter())])
                .map(|e| (e.ts, e.line))
                .collect();
        let want = [
            (1, "a1"),
            (2, "b2"),
            (3, "a3"),
            (3, "b3"),
            (5, "a5"),
            (9, "b9"),
        ];
        assert_eq!(
            merged,
            want.iter()
                .map(|(t, l)| (*t, l.to_string()))
                .collect::<Vec<_>>()
        );
    }
}
