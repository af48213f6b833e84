//! Where queries run: a fixed set of dedicated threads, never the async runtime's
//! workers.
//!
//! PromQL and LogQL evaluation, and the heavy read APIs (series, labels, export, Loki
//! series and index stats, the tail backfill), are CPU-bound once their data is
//! selected. On a runtime worker, two heavy queries on a two-core machine stalled
//! `/health`, ingest and authentication for every tenant. Each query here runs on one of
//! `query.max_concurrent` threads the pool starts for itself, while it holds one of as
//! many slots, so at most that many query threads exist and the runtime's workers stay
//! free. The slot is held by the job, not by the request: a client that goes away
//! cannot free a slot its query still uses.
//!
//! Fairness: one tenant runs at most [`QueryPool::tenant_share`] queries at once (half
//! the cores by default), and a query spreads over at most that many cores (its own
//! thread and the helpers it may start), so one tenant's heavy queries, and its large
//! pushes, which are decoded here too, leave the other half of the machine to ingest,
//! authentication and every other tenant. Threads of the pool's own rather than the
//! runtime's shared blocking pool, so that bound holds however busy the rest is.
//!
//! Priority: a job that runs long (a heavy query, a large push being decoded) is
//! demoted to the lowest priority after [`demotion::DEFAULT_DEMOTE_AFTER`] (see
//! [`demotion`]), so it takes only the cycles short requests leave, and only on the
//! cores not reserved for them.
//!
//! Cancellation: dropping the future returned by [`QueryPool::run`] (the client
//! disconnected) raises the job's [`Cancel`] flag; the engines check it where they check
//! their deadline (the tenant's query timeout) and the export writer between lines.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pitot_core::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

pub mod demotion;

pub use demotion::Demotion;
use demotion::DemotionWatch;

/// A job handed to a pool thread, with the tenant it runs for.
struct Job {
    tenant: Option<TenantId>,
    run: Box<dyn FnOnce() + Send>,
}

/// The server's query slots and the threads queries run on.
#[derive(Debug)]
pub struct QueryPool {
    slots: Arc<Semaphore>,
    size: usize,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Held here as well as by the threads, so jobs waiting in the channel outlive a
    /// slot's change of thread.
    shared: Arc<Shared>,
}

/// What every pool thread shares: where jobs come from, the helper cap, the watch.
#[derive(Debug)]
struct Shared {
    jobs: Mutex<std::sync::mpsc::Receiver<Job>>,
    tenant_share: usize,
    watch: Arc<DemotionWatch>,
}

/// The default [`QueryPool::tenant_share`]: half the cores (at least one), so one
/// tenant's queries, helpers included, leave the other half of the machine to everyone
/// else.
pub fn default_tenant_share() -> usize {
    (pitot_core::available_cores() / 2).max(1)
}

/// Raised when the request that started a job is gone; long jobs stop early.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Whether the requester is gone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for the engines' own cancellation checks.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// Raises the flag when the awaiting request is dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        (self.0).0.store(true, Ordering::Relaxed);
    }
}

impl QueryPool {
    /// A pool of `size` threads (at least one), each running one query at a time, of
    /// which one tenant may use `tenant_share` at once (clamped to `1..=size`); a query
    /// spreads over at most `tenant_share` cores (itself and its helper threads).
    pub fn new(size: usize, tenant_share: usize) -> Self {
        Self::with_demotion(size, tenant_share, Demotion::default())
    }

    /// As [`QueryPool::new`], with long jobs demoted as `demotion` says.
    pub fn with_demotion(size: usize, tenant_share: usize, demotion: Demotion) -> Self {
        let size = size.max(1);
        let tenant_share = tenant_share.clamp(1, size);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let watch = DemotionWatch::start(size, demotion);
        let shared = Arc::new(Shared {
            jobs: Mutex::new(rx),
            tenant_share,
            watch: Arc::clone(&watch),
        });
        for slot in 0..size {
            spawn_worker(Arc::clone(&shared), slot);
        }
        let weak = Arc::downgrade(&shared);
        watch.set_start_thread(Box::new(move |slot| {
            if let Some(shared) = weak.upgrade() {
                spawn_worker(shared, slot);
            }
        }));
        QueryPool {
            slots: Arc::new(Semaphore::new(size)),
            size,
            jobs: tx,
            shared,
        }
    }

    /// How many long jobs were demoted since the start.
    pub fn demotions(&self) -> u64 {
        self.shared.watch.demotions()
    }

    /// The pool's series for `/metrics`: its size, the slots in use, demotions.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let busy = self.size - self.slots.available_permits();
        let _ = write!(
            out,
            "# HELP pitot_query_pool_threads Query threads (query.max_concurrent).\n# TYPE pitot_query_pool_threads gauge\npitot_query_pool_threads {}\n\
             # HELP pitot_query_pool_busy Query threads running a job now.\n# TYPE pitot_query_pool_busy gauge\npitot_query_pool_busy {busy}\n\
             # HELP pitot_query_jobs_demoted_total Jobs (queries, large pushes) that ran longer than query.demote_after and dropped to the lowest priority.\n# TYPE pitot_query_jobs_demoted_total counter\npitot_query_jobs_demoted_total {}\n",
            self.size,
            self.demotions(),
        );
    }

    /// How many queries may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many queries one tenant may run at once (its `max_concurrent_queries` may be
    /// lower): a tenant never holds more of the machine than this, whatever its limits.
    pub fn tenant_share(&self) -> usize {
        self.shared.tenant_share
    }

    /// Waits for a slot, then runs `job` of `tenant` on a pool thread that holds the
    /// slot (and `tenant_permit`, the tenant's own slot) until the job ends. The job
    /// gets a [`Cancel`] raised if this future is dropped.
    pub async fn run<T, F, Fut>(
        &self,
        tenant: Option<&TenantId>,
        tenant_permit: Option<OwnedSemaphorePermit>,
        job: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(Cancel) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let cancel = Cancel::default();
        let guard = CancelOnDrop(cancel.clone());
        let handle = tokio::runtime::Handle::current();
        let (done, result) = tokio::sync::oneshot::channel();
        let boxed = Job {
            tenant: tenant.cloned(),
            run: Box::new(move || {
                let _slots = (permit, tenant_permit);
                let out = handle.block_on(job(cancel));
                let _ = done.send(out);
            }),
        };
        if self.jobs.send(boxed).is_err() {
            return Err(ApiError::unavailable("the server is shutting down"));
        }
        let result = result.await;
        drop(guard);
        result.map_err(|_| {
            ApiError::internal(
                "the query failed unexpectedly (its thread panicked); the server carries on",
            )
        })
    }
}

impl Drop for QueryPool {
    fn drop(&mut self) {
        self.shared.watch.close();
    }
}

/// Starts the thread of pool slot `slot`.
fn spawn_worker(shared: Arc<Shared>, slot: usize) {
    std::thread::Builder::new()
        .name(format!("pitot-query-{slot}"))
        .spawn(move || worker(shared, slot))
        .expect("start a query thread");
}

/// A pool thread: caps the helper threads its queries may start, then runs jobs until
/// the pool is gone. A job that panics is caught (its caller gets a 500) and the thread
/// carries on. A thread demoted during a job ends after it, and the watchdog starts a
/// fresh thread of normal priority in its slot.
fn worker(shared: Arc<Shared>, slot: usize) {
    pitot_core::limit_helpers_here(shared.tenant_share - 1);
    shared.watch.thread_started(slot);
    loop {
        let job = match shared.jobs.lock().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        shared.watch.job_started(slot, job.tenant.as_ref());
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.run)).is_err() {
            tracing::error!("a query panicked; its request got a 500 and the server carries on");
        }
        if shared.watch.job_ended(slot) {
            shared.watch.vacate(slot);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn jobs_leave_the_runtime_free_and_respect_the_bound() {
        let pool = Arc::new(QueryPool::new(1, 1));
        let busy = Duration::from_millis(300);
        let first = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.run(None, None, move |_| async move {
                    // CPU-bound work, as an engine's evaluation is.
                    let until = Instant::now() + busy;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    Instant::now()
                })
                .await
            }
        });
        // The only runtime worker still answers while the job spins.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let probe = Instant::now();
        tokio::task::yield_now().await;
        assert!(probe.elapsed() < Duration::from_millis(100));
        // A second job waits for the one slot.
        let second_started = pool
            .run(None, None, |_| async { Instant::now() })
            .await
            .unwrap();
        let first_ended = first.await.unwrap().unwrap();
        assert!(second_started >= first_ended);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_panicking_query_is_a_500_and_the_pool_carries_on() {
        let pool = QueryPool::new(2, 1);
        let failed = pool
            .run(None, None, |_| async {
                panic!("boom");
            })
            .await;
        assert!(failed.is_err());
        for _ in 0..4 {
            assert_eq!(pool.run(None, None, |_| async { 7 }).await.unwrap(), 7);
        }
        // Query threads never start helpers beyond the tenant share (one core here).
        let helpers = pool
            .run(None, None, |_| async {
                pitot_core::HelperThreads::take(8).count()
            })
            .await
            .unwrap();
        assert_eq!(helpers, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_request_cancels_the_job() {
        let pool = Arc::new(QueryPool::new(1, 1));
        let (tx, rx) = std::sync::mpsc::channel();
        let request = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.run(None, None, move |cancel| async move {
                    let until = Instant::now() + Duration::from_secs(10);
                    while !cancel.is_cancelled() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    tx.send(cancel.is_cancelled()).unwrap();
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        request.abort();
        let cancelled =
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
                .await
                .unwrap();
        assert_eq!(cancelled, Ok(true));
        // The slot is free again once the job has stopped.
        let ran = tokio::time::timeout(
            Duration::from_secs(5),
            pool.run(None, None, |_| async { 1 }),
        )
        .await
        .expect("slot released")
        .unwrap();
        assert_eq!(ran, 1);
    }

    fn policy_here() -> thread_priority::unix::ThreadSchedulePolicy {
        thread_priority::unix::thread_schedule_policy().expect("read the thread's policy")
    }

    /// The cores the calling thread may run on.
    fn cores_here() -> Vec<usize> {
        let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .expect("read the thread's cores");
        (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn long_jobs_are_demoted_and_their_thread_replaced() {
        use thread_priority::unix::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let pool = QueryPool::with_demotion(
            1,
            1,
            Demotion {
                after: Duration::from_millis(20),
                reserved_cores: 1,
            },
        );
        let all_cores = cores_here();
        // A short job keeps its priority and every core.
        assert_eq!(
            pool.run(None, None, |_| async { (policy_here(), cores_here()) })
                .await
                .unwrap(),
            (normal, all_cores.clone())
        );
        assert_eq!(pool.demotions(), 0);
        // A long one is demoted while it runs.
        let cores = all_cores.len();
        let (before, after, cores_after) = pool
            .run(None, None, move |_| async move {
                let before = policy_here();
                let until = Instant::now() + Duration::from_secs(5);
                // The policy is set before the cores: wait for both.
                while (policy_here() != idle || (cores > 1 && cores_here().len() == cores))
                    && Instant::now() < until
                {
                    std::hint::spin_loop();
                }
                (before, policy_here(), cores_here())
            })
            .await
            .unwrap();
        assert_eq!((before, after), (normal, idle));
        // It leaves the first core to short work, where there is more than one.
        if all_cores.len() > 1 {
            assert_eq!(cores_after, all_cores[1..].to_vec());
        } else {
            assert_eq!(cores_after, all_cores);
        }
        assert_eq!(pool.demotions(), 1);
        // The next job runs on a fresh thread of normal priority on every core, in the
        // same slot.
        assert_eq!(
            pool.run(None, None, |_| async { (policy_here(), cores_here()) })
                .await
                .unwrap(),
            (normal, all_cores)
        );
        let mut metrics = String::new();
        pool.render_metrics(&mut metrics);
        assert!(
            metrics.contains("pitot_query_jobs_demoted_total 1\n"),
            "{metrics}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_tenant_whose_job_ran_long_starts_its_next_jobs_demoted() {
        use thread_priority::unix::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let pool = QueryPool::with_demotion(
            2,
            1,
            Demotion {
                after: Duration::from_millis(20),
                reserved_cores: 0,
            },
        );
        let heavy = TenantId::new("heavy").unwrap();
        let light = TenantId::new("light").unwrap();
        // Before anything ran long, both start at normal priority.
        for tenant in [&heavy, &light] {
            let policy = pool.run(Some(tenant), None, |_| async { policy_here() });
            assert_eq!(policy.await.unwrap(), normal);
        }
        // A long job of `heavy` is demoted while it runs.
        let policy = pool.run(Some(&heavy), None, move |_| async move {
            let until = Instant::now() + Duration::from_secs(5);
            while policy_here() != idle && Instant::now() < until {
                std::hint::spin_loop();
            }
            policy_here()
        });
        assert_eq!(policy.await.unwrap(), idle);
        assert_eq!(pool.demotions(), 1);
        // From then on its jobs start demoted, short ones too, and their yield points
        // yield; `light`'s do not.
        let policy = pool.run(Some(&heavy), None, |_| async {
            (policy_here(), pitot_core::demoted_here())
        });
        assert_eq!(policy.await.unwrap(), (idle, true));
        assert_eq!(pool.demotions(), 2);
        let policy = pool.run(Some(&light), None, |_| async {
            (policy_here(), pitot_core::demoted_here())
        });
        assert_eq!(policy.await.unwrap(), (normal, false));
        // A job without a tenant is timed as before.
        let policy = pool.run(None, None, |_| async { policy_here() });
        assert_eq!(policy.await.unwrap(), normal);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn demotion_can_be_turned_off() {
        use thread_priority::unix::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let pool = QueryPool::with_demotion(1, 1, Demotion::OFF);
        let policy = pool
            .run(None, None, |_| async {
                std::thread::sleep(Duration::from_millis(50));
                policy_here()
            })
            .await
            .unwrap();
        assert_eq!(
            policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
        assert_eq!(pool.demotions(), 0);
    }
}
