//! The in-memory accumulator the ingest and query paths add to.

use std::collections::HashMap;

use parking_lot::Mutex;
use pitot_core::TenantId;

use crate::{hour_start, UsageRow};

/// Identifies one row: whose, which data source, which hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    /// The tenant.
    pub tenant: TenantId,
    /// The data source's name.
    pub datasource: String,
    /// Start of the hour (Unix ms).
    pub hour_ms: i64,
}

/// Usage counted since the last flush.
#[derive(Debug, Default)]
pub struct UsageMeter {
    pending: Mutex<HashMap<UsageKey, UsageRow>>,
}

impl UsageMeter {
    /// Adds to the row of (`tenant`, `datasource`, hour of `now_ms`); `kind` and
    /// `origin` describe the data source.
    pub fn record(
        &self,
        tenant: &TenantId,
        datasource: &str,
        kind: &str,
        origin: &str,
        now_ms: i64,
        update: impl FnOnce(&mut UsageRow),
    ) {
        let key = UsageKey {
            tenant: tenant.clone(),
            datasource: datasource.to_string(),
            hour_ms: hour_start(now_ms),
        };
        let mut pending = self.pending.lock();
        let row = pending.entry(key).or_insert_with(|| UsageRow {
            start_ms: hour_start(now_ms),
            datasource: datasource.to_string(),
            kind: kind.to_string(),
            origin: origin.to_string(),
            ..Default::default()
        });
        update(row);
    }

    /// Takes everything counted since the last call (the caller stores it, or puts it
    /// back with [`UsageMeter::restore`] if storing failed).
    pub fn take(&self) -> Vec<(UsageKey, UsageRow)> {
        let mut pending = self.pending.lock();
        pending.drain().filter(|(_, r)| !r.is_empty()).collect()
    }

    /// Puts rows back after a failed flush, so nothing counted is lost.
    pub fn restore(&self, rows: Vec<(UsageKey, UsageRow)>) {
        let mut pending = self.pending.lock();
        for (key, row) in rows {
            match pending.get_mut(&key) {
                Some(r) => r.add(&row),
                None => {
                    pending.insert(key, row);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_hour_and_takes_once() {
        let m = UsageMeter::default();
        let t = TenantId::new("t").unwrap();
        m.record(&t, "metrics", "metrics", "custom", 3_600_000 + 5, |r| {
            r.samples_ingested += 3
        });
        m.record(&t, "metrics", "metrics", "custom", 3_600_000 + 9, |r| {
            r.samples_ingested += 4
        });
        m.record(&t, "metrics", "metrics", "custom", 7_200_000, |r| {
            r.samples_ingested += 1
        });
        let mut rows = m.take();
        rows.sort_by_key(|(k, _)| k.hour_ms);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.samples_ingested, 7);
        assert!(m.take().is_empty());
        m.restore(rows);
        assert_eq!(m.take().len(), 2);
    }
}
