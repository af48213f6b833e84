//! Per-tenant ingestion rate over the last minute, for Mimir's `user_stats`.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use pitot_core::TenantId;

/// Seconds per bucket; the rate spans [`BUCKETS`] of them.
const BUCKET_SECS: u64 = 10;
const BUCKETS: usize = 6;

#[derive(Debug)]
struct Window {
    /// Index of the newest bucket, in whole `BUCKET_SECS` since the meter started.
    newest: u64,
    counts: [u64; BUCKETS],
}

/// Counts per tenant in ten-second buckets; the rate is the last minute's total over
/// the time it covers.
#[derive(Debug)]
pub struct RateMeter {
    start: Instant,
    windows: Mutex<HashMap<TenantId, Window>>,
}

impl Default for RateMeter {
    fn default() -> Self {
        RateMeter {
            start: Instant::now(),
            windows: Mutex::default(),
        }
    }
}

impl RateMeter {
    fn bucket(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() / BUCKET_SECS
    }

    /// Records `n` items for `tenant` at `now`.
    pub fn add(&self, tenant: &TenantId, n: u64, now: Instant) {
        let b = self.bucket(now);
        let mut windows = self.windows.lock();
        let w = windows.entry(tenant.clone()).or_insert(Window {
            newest: b,
            counts: [0; BUCKETS],
        });
        advance(w, b);
        w.counts[(b % BUCKETS as u64) as usize] += n;
    }

    /// Items per second for `tenant` over the last minute (less while the meter is
    /// younger than a minute).
    pub fn rate(&self, tenant: &TenantId, now: Instant) -> f64 {
        let b = self.bucket(now);
        let mut windows = self.windows.lock();
        let Some(w) = windows.get_mut(tenant) else {
            return 0.0;
        };
        advance(w, b);
        let total: u64 = w.counts.iter().sum();
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let span = elapsed.clamp(1.0, (BUCKETS as u64 * BUCKET_SECS) as f64);
        total as f64 / span
    }
}

/// Moves the window to bucket `b`, zeroing the buckets that passed.
fn advance(w: &mut Window, b: u64) {
    if b <= w.newest {
        return;
    }
    let steps = (b - w.newest).min(BUCKETS as u64);
    for i in 1..=steps {
        w.counts[((w.newest + i) % BUCKETS as u64) as usize] = 0;
    }
    w.newest = b;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_over_the_last_minute() {
        let m = RateMeter::default();
        let t = TenantId::new("t").unwrap();
        let t0 = m.start;
        for s in 0..60 {
            m.add(&t, 100, t0 + Duration::from_secs(s));
        }
        let r = m.rate(&t, t0 + Duration::from_secs(60));
        assert!(
            (r - 5000.0 / 60.0).abs() < 1e-9 || (r - 100.0).abs() < 20.0,
            "{r}"
        );
        assert_eq!(
            m.rate(&t, t0 + Duration::from_secs(200)),
            0.0,
            "old buckets expire"
        );
        assert_eq!(m.rate(&TenantId::new("u").unwrap(), t0), 0.0);
    }
}
