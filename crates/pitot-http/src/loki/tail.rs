//! `GET /loki/api/v1/tail`: a WebSocket that first sends the matching entries since
//! `start` (best effort, up to `limit`), then every matching entry as it is stored.
//!
//! Live entries come from the logs distributor's broadcast of stored pushes, filtered
//! by tenant first, then by the selector and the query's pipeline, so a tail never
//! sees another tenant's lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use pitot_core::{Labels, TenantId};
use pitot_logql::{CompiledLogQuery, Direction, QueryData, QueryParams};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::datasource::Selection;
use crate::tenant_query::{LengthRule, ReadGate};
use crate::{ApiError, AppStateRef};
use parking_lot::Mutex;

use super::params::{duration_param, limit_param, time_param, NS};
use super::query::{logql_error, now_ns, read_request, run_engine, stream_json};
use super::LokiError;

/// Longest a tail stays open, as Loki's `tail_max_duration`.
const MAX_TAIL: Duration = Duration::from_secs(3600);

/// Upgrades to a WebSocket after checking credentials, scope and the query.
pub async fn tail(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let req = read_request(
        &state,
        &Method::GET,
        &headers,
        query,
        axum::body::Body::empty(),
    )
    .await?;
    let query = match req.params.get("query") {
        Some(q) if !q.trim().is_empty() => q.to_string(),
        _ => {
            return Err(LokiError::bad_request(
                "missing parameter \"query\": give a LogQL log query",
            ))
        }
    };
    let compiled = pitot_logql::compile_log_query(&query).map_err(logql_error)?;
    let limit = limit_param(
        &req.params,
        crate::tenant_query::log_limits(&state, &req.tenant).max_entries,
    )?;
    let now = now_ns();
    let start = time_param(&req.params, "start", now - 3600 * NS)?;
    if let Some(d) = duration_param(&req.params, "delay_for")? {
        if d > 5 * NS {
            return Err(LokiError::bad_request(
                "delay_for can't be greater than 5 seconds",
            ));
        }
    }
    // The backfill is a query from `start` to now: held to the same range and lookback
    // limits as any query (`None`: nothing may be backfilled), and run through the
    // same gate (a slot, the query pool) by `run_engine`.
    let tl = crate::tenant_query::log_limits(&state, &req.tenant);
    let backfill_from = if start > now {
        None
    } else {
        ReadGate::logs(&tl)
            .bound(start, now, now, LengthRule::Refuse)?
            .map(|(from, _)| from)
    };
    let max_tails = state
        .tenant_limits
        .as_ref()
        .map_or(0, |l| l.get(&req.tenant).max_concurrent_tail_requests);
    let open = state.tail_connections.open(&req.tenant, max_tails)?;
    let tenant = req.tenant;
    let selection = req.selection;
    Ok(ws.on_upgrade(move |socket| async move {
        // Counted until the socket closes.
        let _open = open;
        run(
            state,
            tenant,
            selection,
            query,
            compiled,
            backfill_from,
            limit,
            socket,
        )
        .await;
    }))
}

/// Live-tail connections open per tenant, held to `max_concurrent_tail_requests`:
/// each holds a task and a broadcast receiver for up to an hour.
#[derive(Debug, Default)]
pub struct TailConnections {
    open: Arc<Mutex<HashMap<TenantId, u64>>>,
}

/// One counted tail connection; dropping it (the socket closed) frees its place.
#[derive(Debug)]
pub struct OpenTail {
    open: Arc<Mutex<HashMap<TenantId, u64>>>,
    tenant: TenantId,
}

impl TailConnections {
    /// Counts a new connection of `tenant`, or refuses it with 429 when `limit` (0: no
    /// limit) are open already.
    pub fn open(&self, tenant: &TenantId, limit: u64) -> Result<OpenTail, ApiError> {
        let mut open = self.open.lock();
        let count = open.entry(tenant.clone()).or_insert(0);
        if limit > 0 && *count >= limit {
            return Err(ApiError::rate_limited(
                format!(
                    "max concurrent tail requests limit exceeded, count > limit ({} > {limit}) (err-pitot-max-concurrent-tail-requests); close a live tail first, or raise the tenant's max_concurrent_tail_requests",
                    *count + 1
                ),
                Duration::from_secs(5),
            ));
        }
        *count += 1;
        Ok(OpenTail {
            open: Arc::clone(&self.open),
            tenant: tenant.clone(),
        })
    }

    /// The tenant's open tail connections.
    pub fn count(&self, tenant: &TenantId) -> u64 {
        self.open.lock().get(tenant).copied().unwrap_or(0)
    }
}

impl Drop for OpenTail {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        if let Some(count) = open.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: AppStateRef,
    tenant: TenantId,
    selection: Selection,
    query: String,
    compiled: CompiledLogQuery,
    backfill_from: Option<i64>,
    limit: usize,
    mut socket: WebSocket,
) {
    // Subscribe before the backfill so nothing stored in between is missed.
    let mut live = state.logs.distributor.subscribe_tail();
    let keys = selection.keys();
    let backfilled = match backfill_from {
        Some(start) => backfill(&state, &tenant, &selection, &query, start, limit).await,
        None => None,
    };
    if let Some(frame) = backfilled {
        if socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    let deadline = tokio::time::sleep(MAX_TAIL);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            batch = live.recv() => {
                let frame = match batch {
                    Ok(batch) if batch.tenant == tenant && keys.contains(&batch.storage) => match filter(&compiled, &batch.streams) {
                        Some(frame) => frame,
                        None => continue,
                    },
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => json!({
                        "streams": [],
                        "dropped_entries": [],
                        "dropped_pushes": n,
                    }),
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// The entries since `start`, oldest first, as one frame; `None` when there are none
/// or the query fails (the live part still runs).
async fn backfill(
    state: &AppStateRef,
    tenant: &TenantId,
    selection: &Selection,
    query: &str,
    start: i64,
    limit: usize,
) -> Option<Value> {
    let params = QueryParams {
        query: query.to_string(),
        start,
        end: now_ns(),
        step: NS,
        interval: None,
        limit,
        direction: Direction::Forward,
        instant: false,
    };
    let (out, _) = run_engine(state, tenant, selection, params).await.ok()?;
    let QueryData::Streams(streams) = out.data else {
        return None;
    };
    if streams.is_empty() {
        return None;
    }
    Some(json!({
        "streams": streams.into_iter().map(|s| json!({
            "stream": stream_json(&s.labels),
            "values": s.entries.into_iter().map(|e| json!([e.ts.to_string(), e.line])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    }))
}

/// The matching entries of a stored push, grouped by their final labels.
fn filter(
    compiled: &CompiledLogQuery,
    streams: &[pitot_storage_api::LogStreamBatch],
) -> Option<Value> {
    let mut out: BTreeMap<Labels, Vec<Value>> = BTreeMap::new();
    for stream in streams {
        if !compiled
            .matchers()
            .iter()
            .all(|m| m.matches(stream.labels.get(&m.name).unwrap_or("")))
        {
            continue;
        }
        for entry in &stream.entries {
            if let Some((labels, line)) = compiled.process(&stream.labels, entry) {
                out.entry(labels)
                    .or_default()
                    .push(json!([entry.ts.to_string(), line]));
            }
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(json!({
        "streams": out.into_iter().map(|(labels, values)| json!({
            "stream": stream_json(&labels),
            "values": values,
        })).collect::<Vec<_>>()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_tenant_and_freed_on_drop() {
        let tails = TailConnections::default();
        let (a, b) = (TenantId::new("a").unwrap(), TenantId::new("b").unwrap());
        let first = tails.open(&a, 2).unwrap();
        let _second = tails.open(&a, 2).unwrap();
        let refused = tails.open(&a, 2).unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert!(
            refused
                .message
                .contains("err-pitot-max-concurrent-tail-requests"),
            "{}",
            refused.message
        );
        // Another tenant has its own count; 0 means no limit.
        let _other = tails.open(&b, 2).unwrap();
        let unlimited: Vec<_> = (0..5).map(|_| tails.open(&b, 0).unwrap()).collect();
        assert_eq!(tails.count(&b), 6);
        drop(unlimited);
        drop(first);
        assert_eq!(tails.count(&a), 1);
        assert!(tails.open(&a, 2).is_ok());
    }
}
