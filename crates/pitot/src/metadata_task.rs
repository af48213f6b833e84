//! Metric metadata (type, help, unit) survives restarts: what the distributor learns
//! from pushes is saved to the metadata store every few seconds and at shutdown, and
//! read back at start.

use std::sync::Arc;
use std::time::Duration;

use pitot_distributor::{FamilyMetadata, MetadataStore};
use pitot_meta::{MetaStore, MetricMetadataRow};

/// How often changed metadata is saved. Clients resend theirs every minute or so, so
/// what a crash loses in between comes back by itself.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(5);

/// Fills `metadata` with what `meta` saved; returns how many families.
pub async fn restore(meta: &dyn MetaStore, metadata: &MetadataStore) -> anyhow::Result<usize> {
    let rows = meta.metric_metadata().await?;
    let n = rows.len();
    for row in rows {
        let saved = FamilyMetadata::from_saved(&row.kind, row.help, row.unit);
        metadata.restore(row.key, row.family, saved);
    }
    Ok(n)
}

/// Saves what changed since the last save; a failed save is retried with the next.
pub async fn save(meta: &dyn MetaStore, metadata: &MetadataStore) {
    let changes = metadata.take_changes();
    if changes.is_empty() {
        return;
    }
    let rows: Vec<MetricMetadataRow> = changes
        .iter()
        .map(|(key, family, m)| MetricMetadataRow {
            key: key.clone(),
            family: family.clone(),
            kind: m.kind.to_string(),
            help: m.help.clone(),
            unit: m.unit.clone(),
        })
        .collect();
    if let Err(error) = meta.put_metric_metadata(&rows).await {
        tracing::warn!(%error, families = rows.len(), "metric metadata not saved; retrying with the next save");
        metadata.keep_unsaved(changes);
    }
}

/// Saves changed metadata every [`SAVE_INTERVAL`] until aborted.
pub async fn run(meta: Arc<dyn MetaStore>, distributor: Arc<pitot_distributor::Distributor>) {
    let mut tick = tokio::time::interval(SAVE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        save(&*meta, &distributor.metadata).await;
    }
}
