//! Label names, label values, series and index statistics of log streams.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pitot_core::{Labels, Matcher};
use pitot_storage_api::{LogIndexStats, LogQuerier, LogQueryableRef, LogSelectHints};
use serde_json::{json, Value};

use crate::tenant_query::{self, LengthRule, ReadGate};
use crate::{ApiError, AppStateRef};

use super::params::{range_params, NS};
use super::query::{now_ns, read_request, stream_json};
use super::LokiError;

/// Label and series reads default to the last six hours, as in Loki.
const DEFAULT_SINCE: i64 = 6 * 3600 * NS;

fn selector(raw: Option<&str>) -> Result<Vec<Matcher>, LokiError> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(q) => {
            pitot_logql::parse_stream_selector(q).map_err(|e| LokiError::bad_request(e.to_string()))
        }
    }
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// A stream read admitted by the tenant's read gate: its range checked and moved to
/// the lookback limit (`None`: nothing may be read), its storage held to the stream
/// limit.
struct GatedRead {
    tenant: pitot_core::TenantId,
    queryable: LogQueryableRef,
    range: Option<(i64, i64)>,
    timeout: std::time::Duration,
}

async fn gated(
    state: &AppStateRef,
    req: &super::query::LokiRead,
    default_since: i64,
) -> Result<GatedRead, LokiError> {
    let (start, end) = range_params(&req.params, now_ns(), default_since)?;
    let tl = tenant_query::log_limits(state, &req.tenant);
    let gate = ReadGate::logs(&tl);
    Ok(GatedRead {
        tenant: req.tenant.clone(),
        queryable: gate.logs_queryable(req.selection.log_queryable(&state.logs.queryable)),
        range: gate.bound(start, end, now_ns(), LengthRule::Clamp)?,
        timeout: tl.timeout,
    })
}

impl GatedRead {
    /// Runs `read` over a querier of the range on the query pool, within the tenant's
    /// slot and timeout; `empty` when the range may not be read.
    async fn run<T, F, Fut>(self, state: &AppStateRef, empty: T, read: F) -> Result<T, LokiError>
    where
        T: Send + 'static,
        F: FnOnce(Box<dyn LogQuerier>, i64, i64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, LokiError>>,
    {
        let Some((start, end)) = self.range else {
            return Ok(empty);
        };
        let (queryable, tenant, timeout) = (self.queryable, self.tenant, self.timeout);
        let owner = tenant.clone();
        tenant_query::run_read(state, &owner, move |_| async move {
            let querier = queryable.log_querier(&tenant, start, end)?;
            match tokio::time::timeout(timeout, read(querier, start, end)).await {
                Ok(result) => result,
                Err(_) => Err(LokiError(ApiError {
                    status: axum::http::StatusCode::GATEWAY_TIMEOUT,
                    error_type: "timeout",
                    message: format!(
                        "the read timed out (limit timeout={}ms); narrow the selector or the time range",
                        timeout.as_millis()
                    ),
                })),
            }
        })
        .await?
    }
}

/// `GET /loki/api/v1/labels`.
pub async fn labels(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let matchers = selector(req.params.get("query"))?;
    let read = gated(&state, &req, DEFAULT_SINCE).await?;
    let names = read
        .run(&state, Vec::new(), move |querier, _, _| async move {
            Ok(querier.label_names(&matchers).await?)
        })
        .await?;
    Ok(success(json!(names)))
}

/// `GET /loki/api/v1/label/<name>/values`.
pub async fn label_values(
    State(state): State<AppStateRef>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let matchers = selector(req.params.get("query"))?;
    let read = gated(&state, &req, DEFAULT_SINCE).await?;
    let values = read
        .run(&state, Vec::new(), move |querier, _, _| async move {
            Ok(querier.label_values(&name, &matchers).await?)
        })
        .await?;
    Ok(success(json!(values)))
}

/// `GET|POST /loki/api/v1/series`: the union of the streams of each `match[]`.
pub async fn series(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let raw = req.params.all("match[]");
    let raw = if raw.is_empty() {
        req.params.all("match")
    } else {
        raw
    };
    if raw.is_empty() {
        return Err(LokiError::bad_request(
            "missing parameter \"match[]\": give at least one stream selector",
        ));
    }
    let selectors = raw
        .into_iter()
        .map(|m| selector(Some(m)))
        .collect::<Result<Vec<_>, _>>()?;
    let read = gated(&state, &req, DEFAULT_SINCE).await?;
    let seen = read
        .run(
            &state,
            BTreeSet::new(),
            move |querier, start, end| async move {
                let hints = LogSelectHints {
                    start,
                    end,
                    required_literals: Vec::new(),
                    labels_only: true,
                };
                let mut seen: BTreeSet<Labels> = BTreeSet::new();
                for matchers in &selectors {
                    for s in querier.select(&hints, matchers).await?.streams {
                        seen.insert(s.labels);
                    }
                }
                Ok(seen)
            },
        )
        .await?;
    Ok(success(Value::Array(
        seen.iter().map(stream_json).collect(),
    )))
}

/// `GET|POST /loki/api/v1/index/stats`: streams, chunks, entries and bytes a selector
/// resolves to.
pub async fn index_stats(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let matchers = selector(req.params.get("query"))?;
    if matchers.is_empty() {
        return Err(LokiError::bad_request(
            "missing parameter \"query\": give a stream selector such as {app=\"api\"}",
        ));
    }
    let read = gated(&state, &req, 3600 * NS).await?;
    let s = read
        .run(
            &state,
            LogIndexStats::default(),
            move |querier, _, _| async move { Ok(querier.index_stats(&matchers).await?) },
        )
        .await?;
    Ok(Json(json!({
        "streams": s.streams,
        "chunks": s.chunks,
        "entries": s.entries,
        "bytes": s.bytes,
    }))
    .into_response())
}
