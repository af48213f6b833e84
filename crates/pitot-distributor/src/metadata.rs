use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use pitot_core::TenantId;
use pitot_proto::remote_write::{MetricMetadata, MetricType};

/// The latest type, help and unit of each metric family, per tenant, as remote-write
/// clients send them; served by `/api/v1/metadata`. Kept in memory: clients resend
/// metadata periodically (Prometheus every minute), as Prometheus itself relies on.
#[derive(Debug, Default)]
pub struct MetadataStore {
    tenants: RwLock<HashMap<TenantId, BTreeMap<String, FamilyMetadata>>>,
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
            families.insert(
                m.metric_family_name.clone(),
                FamilyMetadata {
                    kind,
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            );
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
