//! The query limits of one tenant: the server's `query.*` settings are ceilings, the
//! tenant's own limits (defaults, runtime file, API) apply below them; and per-tenant
//! query slots, so one tenant's queries cannot take every slot of the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_core::TenantId;
use pitot_storage_api::{
    LogQueryableRef, QueryableRef, SeriesLimited, StorageError, StreamsLimited,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::query_pool::Cancel;
use crate::{ApiError, AppState};

/// The effective query limits of a tenant.
#[derive(Debug, Clone, Copy)]
pub struct TenantQueryLimits {
    /// Longest range of one query (ms); 0 for none.
    pub max_length_ms: i64,
    /// How far back from now a query may read (ms); 0 for no limit.
    pub max_lookback_ms: i64,
    /// Series one query may read; 0 for none.
    pub max_series: usize,
    /// Samples one PromQL query may hold.
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

/// A duration in milliseconds, saturating (a limit too large for `i64` is no limit in
/// practice, never a negative one).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration in nanoseconds, saturating.
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The smaller of two limits where 0 means "no limit".
fn min_limit(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// Resolves `tenant`'s query limits.
pub fn limits(state: &AppState, tenant: &TenantId, server_timeout: Duration) -> TenantQueryLimits {
    let server = TenantQueryLimits {
        max_length_ms: millis(state.query_limits.max_length),
        max_lookback_ms: 0,
        max_series: state.query_limits.max_series,
        max_samples: state.engine.options().max_samples,
        timeout: server_timeout,
    };
    let Some(all) = &state.tenant_limits else {
        return server;
    };
    let l = all.get(tenant);
    TenantQueryLimits {
        max_length_ms: min_limit(
            server.max_length_ms as u64,
            millis(l.max_query_length.0) as u64,
        ) as i64,
        max_lookback_ms: millis(l.max_query_lookback.0),
        max_series: min_limit(server.max_series as u64, l.max_fetched_series_per_query) as usize,
        max_samples: min_limit(server.max_samples as u64, l.max_samples_per_query) as usize,
        timeout: if l.query_timeout.0.is_zero() {
            server.timeout
        } else {
            server.timeout.min(l.query_timeout.0)
        },
    }
}

/// The effective limits of a tenant's LogQL queries.
#[derive(Debug, Clone, Copy)]
pub struct TenantLogLimits {
    /// Most entries one query may ask for.
    pub max_entries: usize,
    /// Longest range (ns); 0 for none.
    pub max_length_ns: i64,
    /// How far back from now a query may read (ns); 0 for no limit.
    pub max_lookback_ns: i64,
    /// Most series a metric query may produce.
    pub max_series: usize,
    /// Longest a query may run.
    pub timeout: Duration,
}

/// Resolves `tenant`'s LogQL limits (the server's `logs.*` settings are ceilings).
pub fn log_limits(state: &AppState, tenant: &TenantId) -> TenantLogLimits {
    let engine = state.logs.engine.options();
    let server = TenantLogLimits {
        max_entries: state.logs.limits.max_entries,
        max_length_ns: nanos(state.logs.limits.max_query_length),
        max_lookback_ns: 0,
        max_series: engine.max_series,
        timeout: engine.timeout,
    };
    let Some(all) = &state.tenant_limits else {
        return server;
    };
    let l = all.get(tenant);
    TenantLogLimits {
        max_entries: min_limit(server.max_entries as u64, l.max_entries_limit_per_query) as usize,
        max_length_ns: min_limit(
            server.max_length_ns as u64,
            nanos(l.max_query_length.0) as u64,
        ) as i64,
        max_lookback_ns: nanos(l.max_query_lookback.0),
        max_series: min_limit(server.max_series as u64, l.max_query_series) as usize,
        timeout: if l.query_timeout.0.is_zero() {
            server.timeout
        } else {
            server.timeout.min(l.query_timeout.0)
        },
    }
}

/// One semaphore per tenant, sized by its `max_concurrent_queries`.
#[derive(Debug, Default)]
pub struct TenantSlots {
    slots: Mutex<HashMap<TenantId, (u64, Arc<Semaphore>)>>,
}

impl TenantSlots {
    /// Waits for one of `tenant`'s query slots (queries beyond its limit queue, as
    /// Prometheus' do, without holding any other tenant's slot). A tenant holds at most
    /// the pool's tenant share (`query.max_concurrent_per_tenant`, by default half the
    /// cores), whatever its `max_concurrent_queries`, so one tenant's queries always
    /// leave room, and cores, for others.
    pub async fn acquire(
        &self,
        state: &AppState,
        tenant: &TenantId,
    ) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let Some(all) = &state.tenant_limits else {
            return Ok(None);
        };
        let share = state.query_pool.tenant_share() as u64;
        let n = match all.get(tenant).max_concurrent_queries {
            0 => share,
            n => n.min(share),
        };
        let semaphore = {
            let mut slots = self.slots.lock();
            let entry = slots
                .entry(tenant.clone())
                .or_insert_with(|| (n, Arc::new(Semaphore::new(n as usize))));
            if entry.0 != n {
                *entry = (n, Arc::new(Semaphore::new(n as usize)));
            }
            Arc::clone(&entry.1)
        };
        semaphore
            .acquire_owned()
            .await
            .map(Some)
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }
}

/// The time unit of a range: the Prometheus API reads milliseconds, Loki's nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (Prometheus API).
    Millis,
    /// Nanoseconds (Loki API).
    Nanos,
}

impl TimeUnit {
    fn per_second(self) -> i64 {
        match self {
            TimeUnit::Millis => 1_000,
            TimeUnit::Nanos => 1_000_000_000,
        }
    }

    /// Renders a length in this unit as a Go duration (`721h0m0s`).
    pub fn format(self, length: i64) -> String {
        let secs = length / self.per_second();
        format!("{}h{}m{}s", secs / 3600, secs % 3600 / 60, secs % 60)
    }
}

/// The one limit check every read goes through (PromQL, series, labels, label values,
/// export, the Loki query, series, label and index-stats reads, the tail backfill): the
/// tenant's range bounds, its series bound (applied by wrapping the querier), and its
/// query slot, with the work run on the query pool.
#[derive(Debug, Clone, Copy)]
pub struct ReadGate {
    /// Longest `end - start`, in `unit`; 0 for none.
    pub max_length: i64,
    /// How far back from now a read may go, in `unit`; 0 for no limit.
    pub max_lookback: i64,
    /// Series (streams, for logs) one read may select; 0 for none.
    pub max_series: usize,
    /// The unit of the two durations and of the ranges checked.
    pub unit: TimeUnit,
}

/// What the length limit does to a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthRule {
    /// A query (PromQL, LogQL, the tail backfill): a longer range is refused, naming
    /// the limit, as Prometheus-compatible and Loki servers answer.
    Refuse,
    /// A series, label, label-value, export or index-stats read with both ends given:
    /// only the newest `max_length` of the range is read, as Mimir answers label and
    /// series reads (`-store.max-labels-query-length`).
    Clamp,
    /// A metrics series, label or export read without `start`/`end`: the whole
    /// retention, as Prometheus and Mimir answer it; the series limit bounds its cost.
    Open,
}

impl ReadGate {
    /// The gate of a metrics read by `tenant`.
    pub fn metrics(limits: &TenantQueryLimits) -> Self {
        ReadGate {
            max_length: limits.max_length_ms,
            max_lookback: limits.max_lookback_ms,
            max_series: limits.max_series,
            unit: TimeUnit::Millis,
        }
    }

    /// The gate of a logs read by `tenant`.
    pub fn logs(limits: &TenantLogLimits) -> Self {
        ReadGate {
            max_length: limits.max_length_ns,
            max_lookback: limits.max_lookback_ns,
            max_series: limits.max_series,
            unit: TimeUnit::Nanos,
        }
    }

    /// Checks `[start, end]` (`end >= start`, checked by the caller) against the length
    /// limit with checked arithmetic, so that extreme timestamps are too long instead of
    /// wrapping (refused or clamped by `rule`), and moves `start` up to the lookback
    /// limit. `None` when the whole range is older than the lookback limit (nothing may
    /// be read).
    pub fn bound(
        &self,
        start: i64,
        end: i64,
        now: i64,
        rule: LengthRule,
    ) -> Result<Option<(i64, i64)>, ApiError> {
        let mut start = start;
        let too_long = self.max_length > 0
            && end
                .checked_sub(start)
                .is_none_or(|length| length > self.max_length);
        match rule {
            LengthRule::Refuse if too_long => {
                let length = end
                    .checked_sub(start)
                    .map_or_else(|| "beyond i64".to_string(), |l| self.unit.format(l));
                return Err(ApiError::bad_data(format!(
                    "the query time range exceeds the limit (query length: {length}, limit: {}) (err-pitot-max-query-length); shorten the range, or raise the tenant's max_query_length (ceilings: query.max_length, logs.max_query_length)",
                    self.unit.format(self.max_length)
                )));
            }
            LengthRule::Clamp if too_long => start = end.saturating_sub(self.max_length),
            _ => {}
        }
        if self.max_lookback > 0 {
            let oldest = now.saturating_sub(self.max_lookback);
            if end < oldest {
                return Ok(None);
            }
            return Ok(Some((start.max(oldest), end)));
        }
        Ok(Some((start, end)))
    }

    /// `inner` held to the series limit: selects, and label reads with matchers, count
    /// the series they touch.
    pub fn metrics_queryable(&self, inner: QueryableRef) -> QueryableRef {
        Arc::new(SeriesLimited::new(inner, self.max_series))
    }

    /// `inner` held to the stream limit, as [`ReadGate::metrics_queryable`] for logs.
    pub fn logs_queryable(&self, inner: LogQueryableRef) -> LogQueryableRef {
        Arc::new(StreamsLimited::new(inner, self.max_series))
    }
}

/// A storage error of a read as the client sees it: an exceeded limit is the client's
/// to fix (422 `execution`, as PromQL answers it), anything else a server fault.
pub fn read_error(e: StorageError) -> ApiError {
    match e {
        StorageError::LimitExceeded(message) => ApiError {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            error_type: "execution",
            message,
        },
        other => ApiError::from(other),
    }
}

/// Runs one read of `tenant` on the query pool, after taking one of the tenant's query
/// slots: every read (queries and the heavy read APIs) goes through here, so none runs
/// on the async runtime's workers or outside the tenant's and the server's slots.
pub async fn run_read<T, F, Fut>(state: &AppState, tenant: &TenantId, job: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Cancel) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let tenant_permit = state.tenant_slots.acquire(state, tenant).await?;
    state.query_pool.run(Some(tenant), tenant_permit, job).await
}

/// The answer of a read that ran out of time.
pub fn read_timeout(timeout: Duration) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        error_type: "timeout",
        message: format!(
            "the read timed out (limit timeout={}ms); narrow the selectors or the time range",
            timeout.as_millis()
        ),
    }
}

/// Runs `read` of `tenant` as [`run_read`] does, answering [`read_timeout`] when it
/// takes longer than `timeout`.
pub async fn run_read_timed<T, F, Fut>(
    state: &AppState,
    tenant: &TenantId,
    timeout: Duration,
    read: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    run_read(state, tenant, move |_| async move {
        tokio::time::timeout(timeout, read())
            .await
            .unwrap_or_else(|_| Err(read_timeout(timeout)))
    })
    .await?
}

/// A read answered as a stream (an export, a streamed remote read), run as
/// [`run_read`] does: `select` runs within `timeout`, and its error (or the timeout) is
/// the request's answer, since nothing was sent yet; then `emit` sends the answer's
/// pieces, at most `buffered` ahead of the client, and stops when the client leaves
/// (a send fails) or the pool cancels the read.
pub async fn stream_read<T, S, SFut, E, EFut>(
    state: &crate::AppStateRef,
    tenant: TenantId,
    timeout: Duration,
    buffered: usize,
    select: S,
    emit: E,
) -> Result<axum::body::Body, ApiError>
where
    T: Send + 'static,
    S: FnOnce() -> SFut + Send + 'static,
    SFut: std::future::Future<Output = Result<T, ApiError>>,
    E: FnOnce(T, Cancel, tokio::sync::mpsc::Sender<bytes::Bytes>) -> EFut + Send + 'static,
    EFut: std::future::Future<Output = ()>,
{
    let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(buffered);
    let job_state = Arc::clone(state);
    let task = tokio::spawn(async move {
        run_read(&job_state, &tenant, move |cancel| async move {
            // The client may have left while the read waited for its slots.
            if outcome_tx.is_closed() {
                return;
            }
            let selected = match tokio::time::timeout(timeout, select()).await {
                Ok(Ok(selected)) => selected,
                Ok(Err(e)) => {
                    let _ = outcome_tx.send(Err(e));
                    return;
                }
                Err(_) => {
                    let _ = outcome_tx.send(Err(read_timeout(timeout)));
                    return;
                }
            };
            let _ = outcome_tx.send(Ok(()));
            emit(selected, cancel, tx).await;
        })
        .await
    });
    match outcome_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(match task.await {
                Ok(Err(e)) => e,
                _ => ApiError::internal("the read ended before it started"),
            })
        }
    }
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|piece| piece.map(Ok::<_, std::convert::Infallible>))
    });
    Ok(axum::body::Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_length: i64, max_lookback: i64) -> ReadGate {
        ReadGate {
            max_length,
            max_lookback,
            max_series: 0,
            unit: TimeUnit::Nanos,
        }
    }

    #[test]
    fn extreme_ranges_are_too_long_not_wrapped() {
        let g = gate(721 * 3600 * 1_000_000_000, 0);
        let err = g
            .bound(i64::MIN, i64::MAX, 0, LengthRule::Refuse)
            .unwrap_err();
        assert!(
            err.message.contains("err-pitot-max-query-length"),
            "{}",
            err.message
        );
        assert!(g.bound(-1, i64::MAX, 0, LengthRule::Refuse).is_err());
        assert_eq!(
            g.bound(10, 20, 0, LengthRule::Refuse).unwrap(),
            Some((10, 20))
        );
        // Reads keep the newest part of a range that is too long.
        assert_eq!(
            g.bound(i64::MIN, i64::MAX, 0, LengthRule::Clamp).unwrap(),
            Some((i64::MAX - g.max_length, i64::MAX))
        );
        assert_eq!(
            g.bound(10, 20, 0, LengthRule::Clamp).unwrap(),
            Some((10, 20))
        );
        // An open range is not held to the length (the series limit bounds it).
        assert_eq!(
            g.bound(i64::MIN, i64::MAX, 0, LengthRule::Open).unwrap(),
            Some((i64::MIN, i64::MAX))
        );
    }

    #[test]
    fn lookback_moves_the_start_or_empties_the_read() {
        let g = gate(0, 100);
        assert_eq!(
            g.bound(0, 1000, 1000, LengthRule::Refuse).unwrap(),
            Some((900, 1000))
        );
        assert_eq!(g.bound(0, 800, 1000, LengthRule::Refuse).unwrap(), None);
        assert_eq!(
            g.bound(i64::MIN, i64::MAX, i64::MIN + 5, LengthRule::Open)
                .unwrap(),
            Some((i64::MIN, i64::MAX))
        );
    }
}
