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
//! Cancellation: dropping the future returned by [`QueryPool::run`] (the client
//! disconnected) raises the job's [`Cancel`] flag; the engines check it where they check
//! their deadline (the tenant's query timeout) and the export writer between lines.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// A job handed to a pool thread.
type Job = Box<dyn FnOnce() + Send>;

/// The server's query slots and the threads queries run on.
#[derive(Debug)]
pub struct QueryPool {
    slots: Arc<Semaphore>,
    size: usize,
    tenant_share: usize,
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
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
        let size = size.max(1);
        let tenant_share = tenant_share.clamp(1, size);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..size {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("pitot-query-{i}"))
                .spawn(move || worker(&rx, tenant_share))
                .expect("start a query thread");
        }
        QueryPool {
            slots: Arc::new(Semaphore::new(size)),
            size,
            tenant_share,
            jobs: Mutex::new(Some(tx)),
        }
    }

    /// How many queries may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many queries one tenant may run at once (its `max_concurrent_queries` may be
    /// lower): a tenant never holds more of the machine than this, whatever its limits.
    pub fn tenant_share(&self) -> usize {
        self.tenant_share
    }

    /// Waits for a slot, then runs `job` on a pool thread that holds the slot (and
    /// `tenant_permit`, the tenant's own slot) until the job ends. The job gets a
    /// [`Cancel`] raised if this future is dropped.
    pub async fn run<T, F, Fut>(
        &self,
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
        let boxed: Job = Box::new(move || {
            let _slots = (permit, tenant_permit);
            let out = handle.block_on(job(cancel));
            let _ = done.send(out);
        });
        let sent = match self.jobs.lock().as_ref() {
            Some(jobs) => jobs.send(boxed).is_ok(),
            None => false,
        };
        if !sent {
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

/// A pool thread: caps the helper threads its queries may start, then runs jobs until
/// the pool is gone. A job that panics is caught (its caller
/// gets a 500) and the thread carries on.
fn worker(jobs: &Mutex<std::sync::mpsc::Receiver<Job>>, tenant_share: usize) {
    pitot_core::limit_helpers_here(tenant_share - 1);
    loop {
        let job = match jobs.lock().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a query panicked; its request got a 500 and the server carries on");
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
                pool.run(None, move |_| async move {
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
        let second_started = pool.run(None, |_| async { Instant::now() }).await.unwrap();
        let first_ended = first.await.unwrap().unwrap();
        assert!(second_started >= first_ended);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_panicking_query_is_a_500_and_the_pool_carries_on() {
        let pool = QueryPool::new(2, 1);
        let failed = pool
            .run(None, |_| async {
                panic!("boom");
            })
            .await;
        assert!(failed.is_err());
        for _ in 0..4 {
            assert_eq!(pool.run(None, |_| async { 7 }).await.unwrap(), 7);
        }
        // Query threads never start helpers beyond the tenant share (one core here).
        let helpers = pool
            .run(None, |_| async {
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
                pool.run(None, move |cancel| async move {
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
        let ran = tokio::time::timeout(Duration::from_secs(5), pool.run(None, |_| async { 1 }))
            .await
            .expect("slot released")
            .unwrap();
        assert_eq!(ran, 1);
    }
}
