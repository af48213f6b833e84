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
//! `SCHED_IDLE` alone left a floor: with every core busy, even with nothing but
//! `SCHED_IDLE` busy loops (external processes, not Pitot), a thread ping-pong here waited
//! 2.5 to 4.5 ms at its 99.9th percentile instead of 0.2 ms, about one timer tick of
//! the kernel (`HZ=250`) of a virtual machine whose vCPUs never halt; with one core
//! left free the tail stayed at 0.2 ms. So demoted jobs also leave
//! [`Demotion::reserved_cores`] cores (the first of those the process may use, one by
//! default) to everything else: a long job runs on the other cores only. Short work
//! (requests, ingest, the WAL, short jobs and the first `after` of every job) uses every
//! core as before; what the reservation costs is that long jobs, when nothing else
//! runs, have one core fewer.
//!
//! A job still ran its first `after` at normal priority on any core, and a tenant that
//! sends heavy query after heavy query keeps one such job starting all the time. So
//! the watch remembers the tenants whose jobs it demoted: for [`HEAVY_TENANT_MEMORY`]
//! after its last demoted job, a tenant's new jobs start demoted. A tenant whose jobs
//! are all short never pays it; one whose job ran long once has its jobs start at the
//! lowest priority for a while, which costs it nothing while nobody else wants the
//! cores.
//!
//! Where the kernel refuses, the watch logs that once and jobs keep their priority.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::CpuSet;
use parking_lot::{Condvar, Mutex};
use pitot_core::TenantId;

/// The default time a job runs at normal priority: ten times a typical query or push,
/// well under a heavy query's run time.
pub const DEFAULT_DEMOTE_AFTER: Duration = Duration::from_millis(5);

/// How long after a tenant's last demoted job its new jobs start demoted.
pub const HEAVY_TENANT_MEMORY: Duration = Duration::from_secs(10);

/// The default number of cores demoted jobs leave to everything else.
pub const DEFAULT_RESERVED_CORES: usize = 1;

/// When long jobs step aside, and how far: the settings `query.demote_after` and
/// `query.reserved_cores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demotion {
    /// How long a job runs at normal priority; `Duration::ZERO` never demotes.
    pub after: Duration,
    /// How many of the process's cores demoted jobs never run on (the first ones of
    /// its allowed set); ignored when the process may use no more cores than this.
    pub reserved_cores: usize,
}

impl Default for Demotion {
    fn default() -> Self {
        Demotion {
            after: DEFAULT_DEMOTE_AFTER,
            reserved_cores: DEFAULT_RESERVED_CORES,
        }
    }
}

impl Demotion {
    /// Never demotes.
    pub const OFF: Demotion = Demotion {
        after: Duration::ZERO,
        reserved_cores: 0,
    };
}

/// One pool thread as the watchdog sees it.
#[derive(Debug, Default)]
struct Slot {
    /// The thread's POSIX id (`pthread_t`), 0 until it has started.
    thread: AtomicU64,
    /// The thread's kernel id (`gettid`), 0 until it has started.
    tid: AtomicI32,
    /// When its current job started, in nanoseconds since the watch's epoch; 0 idle.
    started: AtomicU64,
    /// Whether its thread was demoted; the thread is replaced after its job. Shared
    /// with the thread, whose yield points read it (see `pitot_core::yield_point`).
    demoted: Arc<AtomicBool>,
    /// Whether its demoted thread has ended and the watchdog must start another.
    vacant: AtomicBool,
    /// The tenant of its current job, if the job has one.
    tenant: Mutex<Option<TenantId>>,
}

/// Starts the thread of a pool slot; the watchdog calls it for vacated slots.
pub(super) type StartThread = Box<dyn Fn(usize) + Send + Sync>;

/// The watchdog's view of every pool thread, and the means to wake it.
pub struct DemotionWatch {
    after: Duration,
    /// The cores demoted threads are moved to; `None` leaves their affinity alone.
    long_job_cores: Option<CpuSet>,
    epoch: Instant,
    slots: Vec<Slot>,
    wake: Mutex<bool>,
    woken: Condvar,
    demotions: AtomicU64,
    closed: AtomicBool,
    start_thread: Mutex<Option<StartThread>>,
    /// When each tenant last had a job demoted (entries older than
    /// [`HEAVY_TENANT_MEMORY`] are dropped as others are added).
    heavy_tenants: Mutex<HashMap<TenantId, Instant>>,
}

impl std::fmt::Debug for DemotionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemotionWatch")
            .field("after", &self.after)
            .field("reserves_cores", &self.long_job_cores.is_some())
            .field("threads", &self.slots.len())
            .field("demotions", &self.demotions())
            .finish_non_exhaustive()
    }
}

impl DemotionWatch {
    /// A watch over `threads` pool threads that demotes jobs as `demotion` says, and
    /// starts its watchdog thread.
    pub fn start(threads: usize, demotion: Demotion) -> Arc<Self> {
        let after = demotion.after;
        let watch = Arc::new(DemotionWatch {
            after,
            long_job_cores: long_job_cores(demotion.reserved_cores),
            epoch: Instant::now(),
            slots: (0..threads).map(|_| Slot::default()).collect(),
            wake: Mutex::new(false),
            woken: Condvar::new(),
            demotions: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            start_thread: Mutex::new(None),
            heavy_tenants: Mutex::new(HashMap::new()),
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
        self.slots[slot]
            .tid
            .store(nix::unistd::gettid().as_raw(), Ordering::Relaxed);
        self.slots[slot].demoted.store(false, Ordering::Relaxed);
        pitot_core::register_demotable_thread(Arc::clone(&self.slots[slot].demoted));
    }

    /// Called by the thread of slot `slot` before it runs a job of `tenant`: a job of a
    /// tenant recently demoted is demoted at once, on the calling thread; any other is
    /// timed by the watchdog.
    pub(super) fn job_started(&self, slot: usize, tenant: Option<&TenantId>) {
        if self.after.is_zero() {
            return;
        }
        let s = &self.slots[slot];
        *s.tenant.lock() = tenant.cloned();
        let recently_heavy = tenant.is_some_and(|t| {
            self.heavy_tenants
                .lock()
                .get(t)
                .is_some_and(|at| at.elapsed() < HEAVY_TENANT_MEMORY)
        });
        if recently_heavy {
            let outcome = demote(
                s.thread.load(Ordering::Relaxed),
                s.tid.load(Ordering::Relaxed),
                self.long_job_cores.as_ref(),
            );
            if !matches!(outcome, Err(DemoteError::Policy(_))) {
                s.demoted.store(true, Ordering::Release);
                self.demotions.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let now = (self.epoch.elapsed().as_nanos() as u64).max(1);
        s.started.store(now, Ordering::Release);
        *self.wake.lock() = true;
        self.woken.notify_one();
    }

    /// Remembers that a job of the tenant running in `slot` was demoted.
    fn remember_heavy(&self, slot: &Slot) {
        let Some(tenant) = slot.tenant.lock().clone() else {
            return;
        };
        let mut heavy = self.heavy_tenants.lock();
        heavy.retain(|_, at| at.elapsed() < HEAVY_TENANT_MEMORY);
        heavy.insert(tenant, Instant::now());
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
                    match demote(
                        slot.thread.load(Ordering::Relaxed),
                        slot.tid.load(Ordering::Relaxed),
                        self.long_job_cores.as_ref(),
                    ) {
                        Ok(()) => {
                            slot.demoted.store(true, Ordering::Release);
                            self.demotions.fetch_add(1, Ordering::Relaxed);
                            self.remember_heavy(slot);
                        }
                        // Its priority is lowered, so it is demoted (and replaced
                        // after its job) even though it keeps every core.
                        Err(e @ DemoteError::Affinity(_)) => {
                            if !refused_logged {
                                tracing::info!(error = %e, "cannot keep a long query off the reserved cores; long jobs use every core");
                                refused_logged = true;
                            }
                            slot.demoted.store(true, Ordering::Release);
                            self.demotions.fetch_add(1, Ordering::Relaxed);
                            self.remember_heavy(slot);
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

/// Why a thread could not be demoted.
#[derive(Debug, thiserror::Error)]
enum DemoteError {
    #[error("cannot set SCHED_IDLE: {0}")]
    Policy(thread_priority::Error),
    #[error("cannot move the thread off the reserved cores: {0}")]
    Affinity(nix::Error),
}

/// Moves pool thread `thread` to `SCHED_IDLE`, the policy every normal thread
/// preempts as soon as it wakes, and onto `cores` when given (`tid` is its kernel id).
fn demote(thread: u64, tid: i32, cores: Option<&CpuSet>) -> Result<(), DemoteError> {
    use thread_priority::unix::{
        set_thread_priority_and_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };
    set_thread_priority_and_policy(
        thread as thread_priority::unix::ThreadId,
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .map_err(DemoteError::Policy)?;
    if let Some(cores) = cores {
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), cores)
            .map_err(DemoteError::Affinity)?;
    }
    Ok(())
}

/// The cores a demoted job may run on: those the process may use, less the first
/// `reserved` of them; `None` when nothing is reserved, when fewer than `reserved + 1`
/// cores are available or when the set cannot be read.
fn long_job_cores(reserved: usize) -> Option<CpuSet> {
    if reserved == 0 {
        return None;
    }
    let allowed = match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => set,
        Err(e) => {
            tracing::info!(error = %e, "cannot read the process's cores; long jobs may use every core");
            return None;
        }
    };
    let cores: Vec<usize> = (0..CpuSet::count())
        .filter(|&i| allowed.is_set(i).unwrap_or(false))
        .collect();
    if cores.len() <= reserved {
        return None;
    }
    let mut set = CpuSet::new();
    for &core in &cores[reserved..] {
        set.set(core).ok()?;
    }
    Some(set)
}
