//! The production driver: calls [`Alertmanager::dispatch`] every period until shutdown.
//!
//! The loop never waits for a send: each flushed group is its own task, so a receiver that
//! hangs delays only its own group, never the next tick or another tenant.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Alertmanager;

/// Flushes `am` every `period` until `shutdown` completes; meant to be spawned on tokio.
pub async fn run(am: Arc<Alertmanager>, period: Duration, shutdown: impl Future<Output = ()>) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = interval.tick() => {
                let sending = am.dispatch().len();
                if sending > 0 {
                    tracing::debug!(groups = sending, "alertmanager flush");
                }
            }
        }
    }
}
