//! The injectable clock: the engine asks it for "now" so tests can move time by hand.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// Where the engine gets the current time from.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests that simulate time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock();
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }

    /// Sets the clock to an instant.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}

/// Converts a std duration for chrono arithmetic, saturating on absurd values.
pub(crate) fn chrono_dur(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
