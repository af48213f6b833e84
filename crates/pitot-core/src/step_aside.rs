//! Long jobs step aside at their own check points.
//!
//! The query pool demotes a long job's thread to the lowest priority, and a short
//! request that wakes on that job's core should take the core at once. On the 2-vCPU
//! machines Pitot is measured on it often did not: `perf sched timehist` showed the
//! runtime worker of another tenant's request queued behind a demoted query for up to
//! one timer tick (4 ms at `HZ=250`) while the query kept the core, so the kernel's
//! wake-up preemption cannot be relied on. So a demoted job yields the core itself:
//! the engines call [`yield_point`] where they already check their deadline and
//! cancellation, and on a thread whose job was demoted it calls `sched_yield` at most
//! every [`YIELD_EVERY`]. A yield with nobody waiting returns at once; on a thread that
//! is not demoted a yield point is one thread-local read.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a demoted job runs between two yields (when it reaches yield points
/// that often).
pub const YIELD_EVERY: Duration = Duration::from_micros(100);

thread_local! {
    /// The flag that says this thread's job was demoted, if the thread may be.
    static DEMOTED: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
    /// When this thread last yielded.
    static LAST_YIELD: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Registers the calling thread as one whose jobs may be demoted: once `demoted` is
/// raised (by whoever lowers the thread's priority), its yield points yield.
pub fn register_demotable_thread(demoted: Arc<AtomicBool>) {
    DEMOTED.with(|d| *d.borrow_mut() = Some(demoted));
}

/// Whether the calling thread's job was demoted.
pub fn demoted_here() -> bool {
    DEMOTED.with(|d| {
        d.borrow()
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    })
}

/// A point where a long computation can let others run: on a demoted thread, yields
/// the core when [`YIELD_EVERY`] has passed since its last yield; elsewhere does
/// nothing. Returns whether it yielded.
pub fn yield_point() -> bool {
    if !demoted_here() {
        return false;
    }
    let now = Instant::now();
    let due = LAST_YIELD.with(|last| match last.get() {
        Some(at) if now.duration_since(at) < YIELD_EVERY => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        std::thread::yield_now();
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_demoted_threads_yield_and_at_most_every_interval() {
        std::thread::spawn(|| {
            // An unregistered thread never yields.
            assert!(!yield_point());
            let flag = Arc::new(AtomicBool::new(false));
            register_demotable_thread(Arc::clone(&flag));
            assert!(!yield_point());
            flag.store(true, Ordering::Relaxed);
            let before_first = Instant::now();
            assert!(yield_point());
            // Not again before the interval has passed...
            let again = yield_point();
            assert!(!again || before_first.elapsed() >= YIELD_EVERY);
            // ...and again after it.
            std::thread::sleep(YIELD_EVERY * 2);
            assert!(yield_point());
        })
        .join()
        .unwrap();
    }
}
