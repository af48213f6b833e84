//! Long jobs step aside for short ones.
//!
//! A tenant's share of the pool bounds how many cores its queries and large pushes use,
//! but not how promptly the other tenants' short requests get a core back: on a
//! two-core machine one heavy query keeps a core busy, and every hand-off of another
//! tenant's push or query (runtime worker, WAL writer, query thread) that wakes behind
//! it waited a scheduler slice or more, a few milliseconds each, so the neighbour's
//! p99 grew to 10x its solo value while its median did not move.
//!
//! So a job that has run longer than `query.demote_after` is demoted: a watchdog moves
//! its thread to Linux's `SCHED_IDLE` policy, and the kernel then hands the core to any
//! normal thread that wakes (a short request) at once, while the long job still gets
//! every cycle nobody else wants. (A nice value of 19 was tried first and did less: the
//! scheduler lets a running thread of any nice value finish its slice.) A process
//! cannot leave `SCHED_IDLE` without privileges, so a demoted thread finishes its job
//! and is replaced by a fresh one at normal priority, started by the watchdog (a thread
//! inherits its creator's policy, so the demoted thread cannot start its own
//! successor). Short jobs (the usual query, every small push) never reach the threshold
//! and never pay anything but one atomic store at start and end.
//!
//! Where the kernel refuses, the watch logs that once and jobs keep their priority.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The default time a job runs at normal priority: ten times a typical query or push,
/// well under a heavy query's run time.
pub const DEFAULT_DEMOTE_AFTER: Duration = Duration::from_millis(5);

/// One pool thread as the watchdog sees it.
#[derive(Debug, Default)]
struct Slot {
    /// The thread's POSIX id, 0 until it has started.
    thread: AtomicU64,
    /// When its current job started, in nanoseconds since the watch's epoch; 0 idle.
    started: AtomicU64,
    /// Whether its thread was demoted; the thread is replaced after its job.
    demoted: AtomicBool,
    /// Whether its demoted thread has ended and the watchdog must start another.
    vacant: AtomicBool,
}

/// Starts the thread of a pool slot; the watchdog calls it for vacated slots.
pub(super) type StartThread = Box<dyn Fn(usize) + Send + Sync>;

/// The watchdog's view of every pool thread, and the means to wake it.
pub struct DemotionWatch {
    after: Duration,
    epoch: Instant,
    slots: Vec<Slot>,
    wake: Mutex<bool>,
    woken: Condvar,
    demotions: AtomicU64,
    closed: AtomicBool,
    start_thread: Mutex<Option<StartThread>>,
}

impl std::fmt::Debug for DemotionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemotionWatch")
            .field("after", &self.after)
            .field("threads", &self.slots.len())
            .field("demotions", &self.demotions())
            .finish_non_exhaustive()
    }
}

impl DemotionWatch {
    /// A watch over `threads` pool threads that demotes jobs running longer than
    /// `after` (`Duration::ZERO` turns demotion off), and starts its watchdog thread.
    pub fn start(threads: usize, after: Duration) -> Arc<Self> {
        let watch = Arc::new(DemotionWatch {
            after,
            epoch: Instant::now(),
            slots: (0..threads).map(|_| Slot::default()).collect(),
            wake: Mutex::new(false),
            woken: Condvar::new(),
            demotions: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            start_thread: Mutex::new(None),
        });
        if !after.is_zero() {
            let watchdog = Arc::clone(&watch);
            std::thread::Builder::new()
                .name("pitot-query-watch".into())
                .spawn(move || watchdog.run())
                .expect("start the query watchdog thread");
        }
        watch
    }

    /// How many jobs have been demoted since the start, for `/metrics`.
    pub fn demotions(&self) -> u64 {
        self.demotions.load(Ordering::Relaxed)
    }

    /// Sets how the watchdog starts a fresh thread for a vacated slot.
    pub(super) fn set_start_thread(&self, start: StartThread) {
        *self.start_thread.lock() = Some(start);
    }

    /// Called by a demoted thread that ends: the watchdog starts its successor.
    pub(super) fn vacate(&self, slot: usize) {
        self.slots[slot].vacant.store(true, Ordering::Release);
        *self.wake.lock() = true;
        self.woken.notify_one();
    }

    /// Called by the thread of slot `slot` when it starts.
    pub(super) fn thread_started(&self, slot: usize) {
        let thread = thread_priority::unix::thread_native_id() as u64;
        self.slots[slot].thread.store(thread, Ordering::Relaxed);
        self.slots[slot].demoted.store(false, Ordering::Relaxed);
    }

    /// Called by the thread of slot `slot` before it runs a job.
    pub(super) fn job_started(&self, slot: usize) {
        if self.after.is_zero() {
            return;
        }
        let now = (self.epoch.elapsed().as_nanos() as u64).max(1);
        self.slots[slot].started.store(now, Ordering::Release);
        *self.wake.lock() = true;
        self.woken.notify_one();
    }

    /// Called by the thread of slot `slot` after its job; true when the thread was
    /// demoted and must hand its slot to a fresh thread.
    pub(super) fn job_ended(&self, slot: usize) -> bool {
        self.slots[slot].started.store(0, Ordering::Release);
        self.slots[slot].demoted.load(Ordering::Acquire)
    }

    /// Asks the watchdog to stop (the pool is gone).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        *self.wake.lock() = true;
        self.woken.notify_one();
    }

    /// The watchdog: sleeps until the earliest running job reaches the threshold (or
    /// until a job starts), then demotes every job past it.
    fn run(&self) {
        let mut refused_logged = false;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
            for (i, slot) in self.slots.iter().enumerate() {
                if slot.vacant.swap(false, Ordering::AcqRel) {
                    if let Some(start) = self.start_thread.lock().as_ref() {
                        start(i);
                    }
                }
            }
            let now = self.epoch.elapsed();
            let mut earliest: Option<Duration> = None;
            for slot in &self.slots {
                let started = slot.started.load(Ordering::Acquire);
                if started == 0 || slot.demoted.load(Ordering::Relaxed) {
                    continue;
                }
                let due = Duration::from_nanos(started) + self.after;
                if due <= now {
                    match demote(slot.thread.load(Ordering::Relaxed)) {
                        Ok(()) => {
                            slot.demoted.store(true, Ordering::Release);
                            self.demotions.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if !refused_logged {
                                tracing::info!(error = %e, "cannot lower the priority of a long query's thread; long jobs keep their priority");
                                refused_logged = true;
                            }
                            // Do not try this job again.
                            slot.demoted.store(false, Ordering::Relaxed);
                            slot.started.store(0, Ordering::Relaxed);
                        }
                    }
                } else {
                    earliest = Some(earliest.map_or(due, |e: Duration| e.min(due)));
                }
            }
            let mut woken = self.wake.lock();
            if !*woken {
                match earliest {
                    Some(due) => {
                        let wait = due.saturating_sub(self.epoch.elapsed());
                        self.woken.wait_for(&mut woken, wait);
                    }
                    // Idle: wake on the next job or when the pool closes.
                    None => self.woken.wait(&mut woken),
                }
            }
            *woken = false;
        }
    }
}

/// Moves pool thread `thread` to `SCHED_IDLE`, the policy every normal thread
/// preempts as soon as it wakes.
fn demote(thread: u64) -> Result<(), thread_priority::Error> {
    use thread_priority::unix::{
        set_thread_priority_and_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };
    set_thread_priority_and_policy(
        thread as thread_priority::unix::ThreadId,
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
}
