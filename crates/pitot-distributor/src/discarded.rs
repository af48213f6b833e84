use std::collections::BTreeMap;

use parking_lot::Mutex;
use pitot_core::TenantId;

/// Samples stored, by tenant, for `/metrics`.
#[derive(Debug, Default)]
pub struct TenantCounters {
    counts: Mutex<BTreeMap<TenantId, u64>>,
}

impl TenantCounters {
    /// Adds `n` for `tenant`.
    pub fn add(&self, tenant: &TenantId, n: u64) {
        if n == 0 {
            return;
        }
        let mut counts = self.counts.lock();
        match counts.get_mut(tenant) {
            Some(c) => *c += n,
            None => {
                counts.insert(tenant.clone(), n);
            }
        }
    }

    /// Every counter, sorted by tenant.
    pub fn snapshot(&self) -> Vec<(TenantId, u64)> {
        self.counts
            .lock()
            .iter()
            .map(|(t, n)| (t.clone(), *n))
            .collect()
    }
}

/// Samples discarded, by tenant and reason ID, for `/metrics`.
#[derive(Debug, Default)]
pub struct DiscardedCounters {
    counts: Mutex<BTreeMap<(TenantId, &'static str), u64>>,
}

impl DiscardedCounters {
    /// Adds `n` discarded samples.
    pub fn add(&self, tenant: &TenantId, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        *self
            .counts
            .lock()
            .entry((tenant.clone(), reason))
            .or_default() += n;
    }

    /// Every counter, sorted.
    pub fn snapshot(&self) -> Vec<(TenantId, &'static str, u64)> {
        self.counts
            .lock()
            .iter()
            .map(|((t, r), n)| (t.clone(), *r, *n))
            .collect()
    }
}
