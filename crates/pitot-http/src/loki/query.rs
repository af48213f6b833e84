//! `/loki/api/v1/query` and `/loki/api/v1/query_range`, answering in Loki's JSON
//! (`streams`, `vector`, `matrix`, `scalar`, with a `stats` object).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pitot_core::{DataKind, Labels, TenantId};
use pitot_logql::{QueryData, QueryOutput, QueryParams};
use serde_json::{json, Map, Value};

use crate::datasource::Selection;
use crate::params::Params;
use crate::prom_read::labels_json;
use crate::remote_write::read_body;
use crate::tenant_query::{run_read, LengthRule, ReadGate, TimeUnit};
use crate::{ApiError, AppState, AppStateRef};

use super::params::{direction_param, duration_param, limit_param, range_params, time_param, NS};
use super::LokiError;

/// An authenticated read request with its parameters.
pub(super) struct LokiRead {
    pub tenant: TenantId,
    pub selection: Selection,
    pub params: Params,
}

/// Authenticates a logs read and collects query-string and form parameters.
pub(super) async fn read_request(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<LokiRead, LokiError> {
    let (tenant, selection) =
        crate::datasource::authorized_read(state, headers, DataKind::Logs).await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let params = Params::collect(method, headers, query.as_deref(), &body)?;
    Ok(LokiRead {
        tenant,
        selection,
        params,
    })
}

pub(super) fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn query_text(params: &Params) -> Result<String, LokiError> {
    match params.get("query") {
        Some(q) if !q.trim().is_empty() => Ok(q.to_string()),
        _ => Err(LokiError::bad_request(
            "missing parameter \"query\": give a LogQL query",
        )),
    }
}

/// Instant query: metric queries only, as in Loki.
pub async fn instant(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let query = query_text(&req.params)?;
    let expr = pitot_logql::parse(&query).map_err(|e| LokiError::bad_request(e.to_string()))?;
    if matches!(expr, pitot_logql::ast::Expr::Log(_)) {
        return Err(LokiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ));
    }
    let time = time_param(&req.params, "time", now_ns())?;
    let tl = crate::tenant_query::log_limits(&state, &req.tenant);
    if ReadGate::logs(&tl)
        .bound(time, time, now_ns(), LengthRule::Refuse)?
        .is_none()
    {
        return Err(LokiError::bad_request(format!(
            "the query time is older than the tenant's lookback limit of {} (max_query_lookback)",
            human(tl.max_lookback_ns)
        )));
    }
    let limit = limit_param(&req.params, tl.max_entries)?;
    let direction = direction_param(&req.params)?;
    let params = QueryParams {
        query,
        start: time,
        end: time,
        step: 0,
        interval: None,
        limit,
        direction,
        instant: true,
    };
    run(&state, &req.tenant, &req.selection, params).await
}

/// Range query: log queries (streams) and metric queries (matrix).
pub async fn range(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let query = query_text(&req.params)?;
    let (start, end) = range_params(&req.params, now_ns(), 3600 * NS)?;
    let tl = crate::tenant_query::log_limits(&state, &req.tenant);
    let limit = limit_param(&req.params, tl.max_entries)?;
    let direction = direction_param(&req.params)?;
    // The length is checked with checked arithmetic (i64 extremes are too long, not
    // wrapped), and the start moves up to the lookback limit.
    let Some((start, end)) = ReadGate::logs(&tl).bound(start, end, now_ns(), LengthRule::Refuse)?
    else {
        return Ok(Json(render(empty_output(&query), 0.0)).into_response());
    };
    let length = end.saturating_sub(start);
    let step = match duration_param(&req.params, "step")? {
        Some(0) => {
            return Err(LokiError::bad_request(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ))
        }
        Some(s) => s,
        // Loki's default: about 250 points, at least one second.
        None => ((length as f64 / NS as f64 / 250.0).ceil() as i64).max(1) * NS,
    };
    if length / step > 11_000 {
        return Err(LokiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let interval = duration_param(&req.params, "interval")?;
    let params = QueryParams {
        query,
        start,
        end,
        step,
        interval,
        limit,
        direction,
        instant: false,
    };
    run(&state, &req.tenant, &req.selection, params).await
}

/// Formats nanoseconds as a Go-like duration for messages.
fn human(ns: i64) -> String {
    TimeUnit::Nanos.format(ns)
}

/// The answer of a query that may read nothing (its range is older than the
/// tenant's lookback limit): empty, of the type the query would answer.
fn empty_output(query: &str) -> QueryOutput {
    let data = match pitot_logql::parse(query) {
        Ok(pitot_logql::ast::Expr::Log(_)) => QueryData::Streams(Vec::new()),
        _ => QueryData::Matrix(Vec::new()),
    };
    QueryOutput {
        data,
        stats: Default::default(),
        warnings: Vec::new(),
    }
}

async fn run(
    state: &AppStateRef,
    tenant: &TenantId,
    selection: &Selection,
    params: QueryParams,
) -> Result<Response, LokiError> {
    let (output, queue_time) = run_engine(state, tenant, selection, params).await?;
    if let Some(usage) = &state.usage {
        // The engine reports bytes for the whole query: they are metered on the first
        // data source named; each data source read counts the query.
        let scanned = output.stats.total_bytes_processed;
        for (i, t) in selection.targets.iter().enumerate() {
            usage.record(
                tenant,
                &t.datasource,
                "logs",
                t.origin.as_str(),
                now_ns() / 1_000_000,
                |r| {
                    r.queries += 1;
                    if i == 0 {
                        r.bytes_scanned += scanned;
                    }
                },
            );
        }
    }
    Ok(Json(render(output, queue_time.as_secs_f64())).into_response())
}

/// Runs a LogQL query through the read gate: one of the tenant's query slots, then a
/// thread of the query pool (evaluation is CPU-bound and synchronous once streams are
/// selected, and must not stall the runtime's workers). Returns the output and the
/// time the query waited for its slots.
pub(super) async fn run_engine(
    state: &AppStateRef,
    tenant: &TenantId,
    selection: &Selection,
    params: QueryParams,
) -> Result<(QueryOutput, std::time::Duration), LokiError> {
    let tl = crate::tenant_query::log_limits(state, tenant);
    let engine = pitot_logql::LogqlEngine::new(pitot_logql::LogqlOptions {
        max_series: tl.max_series,
        max_entries: tl.max_entries,
        timeout: tl.timeout,
        ..state.logs.engine.options().clone()
    });
    let queryable = selection.log_queryable(&state.logs.queryable);
    let owner = tenant.clone();
    let queued = Instant::now();
    let (output, queue_time) = run_read(state, tenant, move |cancel| async move {
        let queue_time = queued.elapsed();
        let engine = engine.with_cancel(cancel.flag());
        (engine.query(&*queryable, &owner, &params).await, queue_time)
    })
    .await?;
    Ok((output.map_err(logql_error)?, queue_time))
}

/// Maps an engine error to its HTTP status with the engine's message.
pub(super) fn logql_error(e: pitot_logql::LogqlError) -> LokiError {
    let status = e.http_status();
    let message = e.to_string();
    LokiError(match status {
        400 => ApiError::bad_data(message),
        503 | 504 => ApiError {
            status: axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE),
            error_type: "timeout",
            message,
        },
        _ => ApiError::internal(message),
    })
}

fn seconds(ms: i64) -> Value {
    let v = ms as f64 / 1000.0;
    json!(v)
}

fn value_string(v: f64) -> Value {
    Value::String(if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    })
}

fn render(output: QueryOutput, queue_time: f64) -> Value {
    let (kind, result) = match output.data {
        QueryData::Streams(streams) => (
            "streams",
            Value::Array(
                streams
                    .into_iter()
                    .map(|s| {
                        json!({
                            "stream": labels_json(&s.labels),
                            "values": s.entries.into_iter().map(|e| json!([e.ts.to_string(), e.line])).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
        QueryData::Vector(v) => (
            "vector",
            Value::Array(
                v.into_iter()
                    .map(|(l, t, x)| json!({"metric": labels_json(&l), "value": [seconds(t), value_string(x)]}))
                    .collect(),
            ),
        ),
        QueryData::Matrix(m) => (
            "matrix",
            Value::Array(
                m.into_iter()
                    .map(|(l, points)| {
                        json!({
                            "metric": labels_json(&l),
                            "values": points.into_iter().map(|(t, x)| json!([seconds(t), value_string(x)])).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
        QueryData::Scalar(t, x) => ("scalar", json!([seconds(t), value_string(x)])),
    };
    let st = &output.stats;
    let exec = st.exec_time.as_secs_f64();
    let per_sec = |n: u64| {
        if exec > 0.0 {
            (n as f64 / exec) as u64
        } else {
            0
        }
    };
    let stats = json!({
        "summary": {
            "bytesProcessedPerSecond": per_sec(st.total_bytes_processed),
            "linesProcessedPerSecond": per_sec(st.total_lines_processed),
            "totalBytesProcessed": st.total_bytes_processed,
            "totalLinesProcessed": st.total_lines_processed,
            "totalPostFilterLines": st.post_filter_lines,
            "execTime": exec,
            "queueTime": queue_time,
            "totalEntriesReturned": st.total_entries_returned,
        },
        "querier": {"store": {
            "totalStreams": st.streams,
            "chunk": {
                "decompressedBytes": st.total_bytes_processed,
                "decompressedLines": st.total_lines_processed,
            }
        }},
    });
    let mut data = Map::new();
    data.insert("resultType".into(), kind.into());
    data.insert("result".into(), result);
    data.insert("stats".into(), stats);
    let mut body = Map::new();
    body.insert("status".into(), "success".into());
    body.insert("data".into(), Value::Object(data));
    if !output.warnings.is_empty() {
        body.insert("warnings".into(), json!(output.warnings));
    }
    Value::Object(body)
}

/// `format_query`: the query as Loki would print it.
pub async fn format(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, LokiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let query = query_text(&req.params)?;
    let expr = pitot_logql::parse(&query).map_err(|e| LokiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"status": "success", "data": expr.to_string()})).into_response())
}

/// Labels as a JSON object, for sibling modules.
pub(super) fn stream_json(labels: &Labels) -> Value {
    labels_json(labels)
}
