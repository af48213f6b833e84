//! Label names, label values, series and index statistics of log streams.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pitot_core::{Labels, Matcher};
use pitot_storage_api::LogSelectHints;
use serde_json::{json, Value};

use crate::AppStateRef;

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

/// `GET /loki/api/v1/labels`.
pub async fn labels(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let (start, end) = range_params(&req.params, now_ns(), DEFAULT_SINCE)?;
    let matchers = selector(req.params.get("query"))?;
    let querier = req
        .selection
        .log_queryable(&state.logs.queryable)
        .log_querier(&req.tenant, start, end)?;
    let names = querier.label_names(&matchers).await?;
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
    let (start, end) = range_params(&req.params, now_ns(), DEFAULT_SINCE)?;
    let matchers = selector(req.params.get("query"))?;
    let querier = req
        .selection
        .log_queryable(&state.logs.queryable)
        .log_querier(&req.tenant, start, end)?;
    let values = querier.label_values(&name, &matchers).await?;
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
    let (start, end) = range_params(&req.params, now_ns(), DEFAULT_SINCE)?;
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
    let querier = req
        .selection
        .log_queryable(&state.logs.queryable)
        .log_querier(&req.tenant, start, end)?;
    let hints = LogSelectHints {
        start,
        end,
        required_literals: Vec::new(),
        labels_only: true,
    };
    let mut seen: BTreeSet<Labels> = BTreeSet::new();
    for m in raw {
        let matchers = selector(Some(m))?;
        for s in querier.select(&hints, &matchers).await?.streams {
            seen.insert(s.labels);
        }
    }
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
    let (start, end) = range_params(&req.params, now_ns(), 3600 * NS)?;
    let matchers = selector(req.params.get("query"))?;
    if matchers.is_empty() {
        return Err(LokiError::bad_request(
            "missing parameter \"query\": give a stream selector such as {app=\"api\"}",
        ));
    }
    let querier = req
        .selection
        .log_queryable(&state.logs.queryable)
        .log_querier(&req.tenant, start, end)?;
    let s = querier.index_stats(&matchers).await?;
    Ok(Json(json!({
        "streams": s.streams,
        "chunks": s.chunks,
        "entries": s.entries,
        "bytes": s.bytes,
    }))
    .into_response())
}
