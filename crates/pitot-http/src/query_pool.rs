//! Where queries run: a bounded set of blocking threads, never the async runtime's
//! workers.
//!
//! PromQL and LogQL evaluation, and the heavy read APIs (series, labels, export, Loki
//! series and index stats, the tail backfill), are CPU-bound once their data is
//! selected. On a runtime worker, two heavy queries on a two-core machine stalled
//! `/health`, ingest and authentication for every tenant. Each query here runs on a
//! blocking thread while it holds one of `query.max_concurrent` slots, so at most that
//! many query threads exist and the runtime's workers stay free. The slot is held by the
//! thread, not by the request: a client that goes away cannot free a slot its query
//! still uses.
//!
//! Cancellation: dropping the future returned by [`QueryPool::run`] (the client
//! disconnected) raises the job's [`Cancel`] flag; the engines check it where they check
//! their deadline (the tenant's query timeout) and the export writer between lines.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// The server's query slots and the threads queries run on.
#[derive(Debug)]
pub struct QueryPool {
    slots: Arc<Semaphore>,
    size: usize,
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
    /// A pool running at most `size` queries at once (at least one).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        QueryPool {
            slots: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// How many queries may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Waits for a slot, then runs `job` on a blocking thread that holds the slot (and
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
        let task = tokio::task::spawn_blocking(move || {
            let _slots = (permit, tenant_permit);
            handle.block_on(job(cancel))
        });
        let result = task.await;
        drop(guard);
        result.map_err(|e| ApiError::internal(format!("the query task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn jobs_leave_the_runtime_free_and_respect_the_bound() {
        let pool = Arc::new(QueryPool::new(1));
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_request_cancels_the_job() {
        let pool = Arc::new(QueryPool::new(1));
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
