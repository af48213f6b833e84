//! The production driver: calls [`Alertmanager::tick`] every period until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Alertmanager;

/// Ticks `am` every `period` until `shutdown` completes; meant to be spawned on tokio.
pub async fn run(am: Arc<Alertmanager>, period: Duration, shutdown: impl Future<Output = ()>) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = interval.tick() => {
                let report = am.tick().await;
                if report.sent > 0 || !report.failures.is_empty() {
                    tracing::debug!(sent = report.sent, failures = report.failures.len(), "alertmanager tick");
                }
            }
        }
    }
}
