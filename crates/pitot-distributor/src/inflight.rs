//! The in-flight push budget: how many bytes of push requests are being decoded and
//! written at once, per tenant and for the whole server.
//!
//! A push costs memory from the moment its body is read until storage answers: the
//! compressed body, the decompressed message and the structures decoded from it. Rate
//! limits are checked only once a request is decoded, so without a budget any number
//! of concurrent pushes could each hold their full size (issue 16, finding 6). Each
//! request is charged its compressed and declared decompressed size *before* it is
//! decompressed, and a [`InflightGuard`] gives the bytes back when the request ends,
//! whatever way it ends (the guard's `Drop`).
//!
//! The per-tenant budget is the tenant's `max_inflight_push_bytes` limit (Mimir has no
//! per-tenant equivalent; Loki and Mimir bound a tenant by rate only); the server-wide
//! one is `server.max_inflight_push_bytes`, Mimir's
//! `-distributor.instance-limits.max-inflight-push-requests-bytes`. A request that does
//! not fit waits briefly for others to finish (a client's shards often arrive
//! together), then is refused: 429 for the tenant's budget, so the client retries
//! later, 503 for the server's, as Mimir answers its instance limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_core::TenantId;

use crate::DiscardedCounters;

/// Reason ID of a refusal by the tenant's budget.
pub const TENANT_INFLIGHT_REASON: &str = "per-tenant-inflight-bytes-limit";
/// Reason ID of a refusal by the server's budget.
pub const INSTANCE_INFLIGHT_REASON: &str = "instance-inflight-bytes-limit";

/// Why a push could not be charged to the budget.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InflightError {
    /// The tenant's pushes in flight already hold its budget; retry shortly (429).
    #[error("the tenant's pushes being processed hold {in_flight} of its {limit} bytes in flight and this request needs {requested} more (err-pitot-{TENANT_INFLIGHT_REASON}); retry later, send fewer requests at once, or raise the tenant limit max_inflight_push_bytes")]
    TenantBusy {
        /// The tenant's limit.
        limit: u64,
        /// Bytes of the tenant in flight when the request gave up.
        in_flight: u64,
        /// What the request needs.
        requested: u64,
    },
    /// The request alone needs more than the tenant's whole budget, so no retry can
    /// succeed (413).
    #[error("this request needs {requested} bytes in flight, more than the tenant's whole budget of {limit} bytes (err-pitot-{TENANT_INFLIGHT_REASON}); send smaller batches or raise the tenant limit max_inflight_push_bytes")]
    TenantTooLarge {
        /// The tenant's limit.
        limit: u64,
        /// What the request needs.
        requested: u64,
    },
    /// The server's pushes in flight already hold its budget; retry shortly (503).
    #[error("the server's pushes being processed hold {in_flight} of its {limit} bytes in flight and this request needs {requested} more (err-pitot-{INSTANCE_INFLIGHT_REASON}); retry later, or raise server.max_inflight_push_bytes")]
    InstanceBusy {
        /// The server's limit.
        limit: u64,
        /// Bytes in flight when the request gave up.
        in_flight: u64,
        /// What the request needs.
        requested: u64,
    },
}

impl InflightError {
    /// The stable reason ID, also the `reason` label of the refusal counter.
    pub fn reason(&self) -> &'static str {
        match self {
            InflightError::TenantBusy { .. } | InflightError::TenantTooLarge { .. } => {
                TENANT_INFLIGHT_REASON
            }
            InflightError::InstanceBusy { .. } => INSTANCE_INFLIGHT_REASON,
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    total: u64,
    by_tenant: HashMap<TenantId, u64>,
}

/// Bytes of push requests in flight, per tenant and in all; shared by every push
/// handler (remote write and Loki) so that one budget covers both.
#[derive(Debug)]
pub struct InflightBudget {
    instance_limit: u64,
    wait: Duration,
    held: Mutex<Held>,
    released: tokio::sync::Notify,
    /// Decompressed bytes of refused requests, by tenant and reason ID.
    pub refused_bytes: DiscardedCounters,
}

/// How long a request that does not fit waits for others to finish by default.
pub const DEFAULT_INFLIGHT_WAIT: Duration = Duration::from_millis(250);

impl InflightBudget {
    /// A budget of `instance_limit` bytes for the whole server (0 for none); requests
    /// that do not fit wait up to `wait` for bytes to be released.
    pub fn new(instance_limit: u64, wait: Duration) -> Self {
        InflightBudget {
            instance_limit,
            wait,
            held: Mutex::new(Held::default()),
            released: tokio::sync::Notify::new(),
            refused_bytes: DiscardedCounters::default(),
        }
    }

    /// Bytes in flight for the whole server.
    pub fn in_flight(&self) -> u64 {
        self.held.lock().total
    }

    /// Bytes in flight for `tenant`.
    pub fn tenant_in_flight(&self, tenant: &TenantId) -> u64 {
        self.held.lock().by_tenant.get(tenant).copied().unwrap_or(0)
    }

    /// Writes the bytes in flight and the refused bytes by tenant and reason in the
    /// Prometheus text format, for `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str("# HELP pitot_inflight_push_bytes Bytes of push requests being processed.\n");
        out.push_str("# TYPE pitot_inflight_push_bytes gauge\n");
        let _ = writeln!(out, "pitot_inflight_push_bytes {}", self.in_flight());
        out.push_str("# HELP pitot_refused_push_bytes_total Bytes of push requests refused by an in-flight budget, by tenant and reason.\n");
        out.push_str("# TYPE pitot_refused_push_bytes_total counter\n");
        for (tenant, reason, n) in self.refused_bytes.snapshot() {
            let _ = writeln!(
                out,
                "pitot_refused_push_bytes_total{{tenant=\"{tenant}\",reason=\"{reason}\"}} {n}"
            );
        }
    }

    /// Charges `bytes` to `tenant` (whose budget is `tenant_limit`, 0 for none) and to
    /// the server, waiting briefly when they do not fit. The guard gives them back.
    pub async fn acquire(
        self: &Arc<Self>,
        tenant: &TenantId,
        tenant_limit: u64,
        bytes: u64,
    ) -> Result<InflightGuard, InflightError> {
        let mut guard = InflightGuard {
            budget: Arc::clone(self),
            tenant: tenant.clone(),
            bytes: 0,
            tenant_limit,
        };
        guard.grow(bytes).await?;
        Ok(guard)
    }

    /// Takes `more` bytes for a request of `tenant` that already holds `held_by_request`,
    /// if they fit now; otherwise says which budget is full.
    fn try_take(
        &self,
        tenant: &TenantId,
        tenant_limit: u64,
        held_by_request: u64,
        more: u64,
    ) -> Result<(), InflightError> {
        let requested = held_by_request.saturating_add(more);
        if tenant_limit > 0 && requested > tenant_limit {
            return Err(InflightError::TenantTooLarge {
                limit: tenant_limit,
                requested,
            });
        }
        let mut held = self.held.lock();
        let tenant_held = held.by_tenant.get(tenant).copied().unwrap_or(0);
        if tenant_limit > 0 && tenant_held.saturating_add(more) > tenant_limit {
            return Err(InflightError::TenantBusy {
                limit: tenant_limit,
                in_flight: tenant_held - held_by_request.min(tenant_held),
                requested,
            });
        }
        // A request is always let in when nothing else is in flight, so a server
        // budget smaller than one request slows pushes down instead of refusing all.
        let others = held.total.saturating_sub(held_by_request);
        if self.instance_limit > 0
            && others > 0
            && held.total.saturating_add(more) > self.instance_limit
        {
            return Err(InflightError::InstanceBusy {
                limit: self.instance_limit,
                in_flight: others,
                requested,
            });
        }
        held.total += more;
        *held.by_tenant.entry(tenant.clone()).or_default() += more;
        Ok(())
    }

    fn give_back(&self, tenant: &TenantId, bytes: u64) {
        if bytes == 0 {
            return;
        }
        {
            let mut held = self.held.lock();
            held.total = held.total.saturating_sub(bytes);
            if let Some(n) = held.by_tenant.get_mut(tenant) {
                *n = n.saturating_sub(bytes);
                if *n == 0 {
                    held.by_tenant.remove(tenant);
                }
            }
        }
        self.released.notify_waiters();
    }
}

/// Bytes charged to the budget for one request; dropping it gives them back.
#[derive(Debug)]
pub struct InflightGuard {
    budget: Arc<InflightBudget>,
    tenant: TenantId,
    bytes: u64,
    tenant_limit: u64,
}

impl InflightGuard {
    /// The tenant charged.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Bytes this request holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Charges `more` bytes to the same request (a gzip body found to hold snappy),
    /// waiting briefly as [`InflightBudget::acquire`] does; refusals are counted.
    pub async fn grow(&mut self, more: u64) -> Result<(), InflightError> {
        let budget = Arc::clone(&self.budget);
        let deadline = tokio::time::Instant::now() + budget.wait;
        loop {
            // Registered before trying, so a release between the try and the wait
            // is not missed.
            let released = budget.released.notified();
            match budget.try_take(&self.tenant, self.tenant_limit, self.bytes, more) {
                Ok(()) => {
                    self.bytes += more;
                    return Ok(());
                }
                Err(e) => {
                    let waited_out = tokio::time::Instant::now() >= deadline;
                    if waited_out || matches!(e, InflightError::TenantTooLarge { .. }) {
                        let requested = self.bytes.saturating_add(more);
                        budget
                            .refused_bytes
                            .add(&self.tenant, e.reason(), requested);
                        return Err(e);
                    }
                    let _ = tokio::time::timeout_at(deadline, released).await;
                }
            }
        }
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.budget.give_back(&self.tenant, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::new(name).unwrap()
    }

    #[tokio::test]
    async fn tenant_budget_refuses_then_admits_after_release() {
        let budget = Arc::new(InflightBudget::new(0, Duration::from_millis(10)));
        let a = tenant("a");
        let first = budget.acquire(&a, 100, 60).await.unwrap();
        let err = budget.acquire(&a, 100, 60).await.unwrap_err();
        assert_eq!(
            err,
            InflightError::TenantBusy {
                limit: 100,
                in_flight: 60,
                requested: 60
            }
        );
        assert!(err.to_string().contains("per-tenant-inflight-bytes-limit"));
        // Another tenant is not held to a's budget.
        let b = budget.acquire(&tenant("b"), 100, 60).await.unwrap();
        assert_eq!(budget.in_flight(), 120);
        drop(first);
        assert_eq!(budget.tenant_in_flight(&a), 0);
        let again = budget.acquire(&a, 100, 60).await.unwrap();
        assert_eq!(again.bytes(), 60);
        drop((b, again));
        assert_eq!(budget.in_flight(), 0);
        assert_eq!(
            budget.refused_bytes.snapshot(),
            vec![(a, TENANT_INFLIGHT_REASON, 60)]
        );
    }

    #[tokio::test]
    async fn a_request_larger_than_the_tenant_budget_is_refused_at_once() {
        let budget = Arc::new(InflightBudget::new(0, Duration::from_secs(60)));
        let started = std::time::Instant::now();
        let err = budget.acquire(&tenant("a"), 100, 101).await.unwrap_err();
        assert!(matches!(err, InflightError::TenantTooLarge { .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn instance_budget_is_shared_and_a_waiter_gets_released_bytes() {
        let budget = Arc::new(InflightBudget::new(100, Duration::from_secs(5)));
        let first = budget.acquire(&tenant("a"), 0, 80).await.unwrap();
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(
                async move { budget.acquire(&tenant("b"), 0, 50).await.map(|g| g.bytes()) },
            )
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            budget.in_flight(),
            80,
            "the waiter must not get in while a holds 80"
        );
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(50));
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test]
    async fn instance_budget_refuses_with_503_reason_after_waiting() {
        let budget = Arc::new(InflightBudget::new(100, Duration::from_millis(10)));
        let _held = budget.acquire(&tenant("a"), 0, 80).await.unwrap();
        let err = budget.acquire(&tenant("b"), 0, 50).await.unwrap_err();
        assert_eq!(err.reason(), INSTANCE_INFLIGHT_REASON);
        // Alone, a request larger than the server budget still gets in.
        let budget = Arc::new(InflightBudget::new(10, Duration::ZERO));
        assert!(budget.acquire(&tenant("a"), 0, 50).await.is_ok());
    }

    #[tokio::test]
    async fn growing_counts_the_held_bytes_against_the_limit() {
        let budget = Arc::new(InflightBudget::new(0, Duration::ZERO));
        let a = tenant("a");
        let mut guard = budget.acquire(&a, 100, 60).await.unwrap();
        guard.grow(30).await.unwrap();
        assert_eq!(budget.tenant_in_flight(&a), 90);
        assert!(guard.grow(30).await.is_err());
        assert_eq!(
            budget.tenant_in_flight(&a),
            90,
            "a refused growth keeps what was held"
        );
        drop(guard);
        assert_eq!(budget.in_flight(), 0);
    }
}
