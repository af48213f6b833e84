//! Loading per-tenant limit overrides: the API's (from the metadata store) at start,
//! and the runtime-overrides file, re-read whenever its content changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pitot_limits::{parse_runtime_file, LimitOverrides, Limits};
use pitot_meta::MetaStore;

/// Puts the overrides saved through the API into `limits`.
pub async fn load_api_overrides(meta: &dyn MetaStore, limits: &Limits) -> anyhow::Result<()> {
    for (tenant, text) in meta.limit_overrides().await? {
        let overrides: LimitOverrides = serde_json::from_str(&text)
            .with_context(|| format!("stored limit overrides of tenant {tenant} do not parse"))?;
        limits.set_api_overrides(&tenant, overrides);
    }
    Ok(())
}

/// Reads the file once (an error stops the start: a typo must not go unnoticed).
pub fn load_file(path: &PathBuf, limits: &Limits) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read runtime config file {}", path.display()))?;
    let file = parse_runtime_file(&text).with_context(|| path.display().to_string())?;
    limits.set_file_overrides(file.overrides);
    Ok(text)
}

/// Re-reads the file every `period`; a changed file that parses replaces the file
/// overrides, one that does not is logged and the previous overrides stay.
pub async fn watch(path: PathBuf, limits: Arc<Limits>, period: Duration, mut last: String) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, file = %path.display(), "cannot read the runtime config file; keeping the current overrides");
                continue;
            }
        };
        if text == last {
            continue;
        }
        match parse_runtime_file(&text) {
            Ok(file) => {
                let tenants = file.overrides.len();
                limits.set_file_overrides(file.overrides);
                tracing::info!(file = %path.display(), tenants, "runtime config reloaded");
                last = text;
            }
            Err(error) => {
                tracing::error!(%error, file = %path.display(), "runtime config not applied; fix the file (the previous overrides stay in force)");
                last = text;
            }
        }
    }
}
