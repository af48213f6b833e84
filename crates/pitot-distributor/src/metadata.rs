use std::collections::{BTreeMap, HashMap};

use parking_lot::{Mutex, RwLock};
use pitot_core::TenantId;
use pitot_proto::remote_write::{MetricMetadata, MetricType};

/// The latest type, help and unit of each metric family, per tenant, as remote-write
/// clients send them; served by `/api/v1/metadata`. Served from memory; what changed is
/// kept aside until the server saves it ([`MetadataStore::take_changes`]) and read back
/// at start ([`MetadataStore::restore`]), so the API answers after a restart before
/// clients resend their metadata (Prometheus does every minute).
#[derive(Debug, Default)]
pub struct MetadataStore {
    tenants: RwLock<HashMap<TenantId, BTreeMap<String, FamilyMetadata>>>,
    /// Families whose metadata changed since the last [`MetadataStore::take_changes`].
    changed: Mutex<HashMap<(TenantId, String), FamilyMetadata>>,
}

/// What is known about one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// `counter`, `gauge`, `histogram`, ...
    pub kind: &'static str,
    /// HELP text.
    pub help: String,
    /// UNIT text.
    pub unit: String,
}

impl FamilyMetadata {
    /// Metadata as saved, its type by the API's name (`unknown` for a name this version
    /// does not know).
    pub fn from_saved(kind: &str, help: String, unit: String) -> Self {
        let kind = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Gaugehistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::Stateset,
        ]
        .into_iter()
        .map(MetricType::api_name)
        .find(|name| *name == kind)
        .unwrap_or("unknown");
        FamilyMetadata { kind, help, unit }
    }
}

/// Most metric families remembered per tenant, so metadata cannot grow without bound.
const MAX_FAMILIES_PER_TENANT: usize = 100_000;

impl MetadataStore {
    /// Records metadata sent by `tenant`.
    pub fn record(&self, tenant: &TenantId, entries: &[MetricMetadata]) {
        if entries.is_empty() {
            return;
        }
        let mut tenants = self.tenants.write();
        let families = tenants.entry(tenant.clone()).or_default();
        for m in entries {
            if m.metric_family_name.is_empty() {
                continue;
            }
            if families.len() >= MAX_FAMILIES_PER_TENANT
                && !families.contains_key(&m.metric_family_name)
            {
                continue;
            }
            let kind = MetricType::try_from(m.r#type)
                .unwrap_or(MetricType::Unknown)
                .api_name();
            let new = FamilyMetadata {
                kind,
                help: m.help.clone(),
                unit: m.unit.clone(),
            };
            if families.get(&m.metric_family_name) == Some(&new) {
                continue;
            }
            self.changed
                .lock()
                .insert((tenant.clone(), m.metric_family_name.clone()), new.clone());
            families.insert(m.metric_family_name.clone(), new);
        }
    }

    /// What changed since the last call, for the server to save; a save that fails
    /// hands its entries back with [`MetadataStore::keep_unsaved`].
    pub fn take_changes(&self) -> Vec<(TenantId, String, FamilyMetadata)> {
        std::mem::take(&mut *self.changed.lock())
            .into_iter()
            .map(|((key, family), meta)| (key, family, meta))
            .collect()
    }

    /// Puts back changes whose save failed, unless newer ones arrived meanwhile.
    pub fn keep_unsaved(&self, unsaved: Vec<(TenantId, String, FamilyMetadata)>) {
        let mut changed = self.changed.lock();
        for (key, family, meta) in unsaved {
            changed.entry((key, family)).or_insert(meta);
        }
    }

    /// Adds saved metadata at start, without marking it changed; the per-tenant bound
    /// applies as to pushes.
    pub fn restore(&self, key: TenantId, family: String, meta: FamilyMetadata) {
        let mut tenants = self.tenants.write();
        let families = tenants.entry(key).or_default();
        if families.len() < MAX_FAMILIES_PER_TENANT || families.contains_key(&family) {
            families.insert(family, meta);
        }
    }

    /// The tenant's metadata, optionally for one metric, at most `limit` families.
    pub fn get(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
    ) -> Vec<(String, FamilyMetadata)> {
        let tenants = self.tenants.read();
        let Some(families) = tenants.get(tenant) else {
            return Vec::new();
        };
        match metric {
            Some(name) => families
                .get(name)
                .map(|m| vec![(name.to_string(), m.clone())])
                .unwrap_or_default(),
            None => families
                .iter()
                .take(limit)
                .map(|(n, m)| (n.clone(), m.clone()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            r#type: MetricType::Counter as i32,
            metric_family_name: name.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn only_changes_are_handed_out_for_saving_and_restored_entries_are_served() {
        let store = MetadataStore::default();
        let a = TenantId::new("a").unwrap();
        store.record(&a, &[entry("x_total", "help")]);
        let changes = store.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].2.kind, "counter");
        // The same metadata again is no change; new help is.
        store.record(&a, &[entry("x_total", "help")]);
        assert!(store.take_changes().is_empty());
        store.record(&a, &[entry("x_total", "better help")]);
        let failed = store.take_changes();
        assert_eq!(failed[0].2.help, "better help");
        // A failed save is retried with the next one.
        store.keep_unsaved(failed);
        assert_eq!(store.take_changes().len(), 1);

        // A fresh store restored from what was saved serves it.
        let restarted = MetadataStore::default();
        for (key, family, meta) in changes {
            let saved = FamilyMetadata::from_saved(meta.kind, meta.help, meta.unit);
            restarted.restore(key, family, saved);
        }
        assert_eq!(restarted.get(&a, Some("x_total"), 10)[0].1.kind, "counter");
        assert!(restarted.take_changes().is_empty());
        assert_eq!(
            FamilyMetadata::from_saved("nonsense", String::new(), String::new()).kind,
            "unknown"
        );
    }
}
