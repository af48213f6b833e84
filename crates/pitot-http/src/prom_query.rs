//! The Prometheus query API: `/api/v1/query`, `/api/v1/query_range`, and the small
//! endpoints Grafana and promtool call around them (`metadata`,
//! `query_exemplars`, `format_query`, `parse_query`).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{Scope, TenantId};
use pitot_promql::{ErrorKind, PromqlError, QueryResult, MAX_POINTS_PER_SERIES};
use serde_json::{json, Map, Value};

use crate::auth::authenticate;
use crate::params::{parse_time_ms, Params};
use crate::query_pool::Cancel;
use crate::remote_write::read_body;
use crate::tenant_query::{LengthRule, ReadGate, TimeUnit};
use crate::{ApiError, AppStateRef};

/// Query routes, also under `/prometheus`.
pub fn router() -> Router<AppStateRef> {
    let mut router = Router::new();
    for prefix in ["", "/prometheus"] {
        router = router
            .route(
                &format!("{prefix}/api/v1/query"),
                get(instant).post(instant),
            )
            .route(
                &format!("{prefix}/api/v1/query_range"),
                get(range).post(range),
            )
            .route(
                &format!("{prefix}/api/v1/query_exemplars"),
                get(crate::exemplars::query_exemplars).post(crate::exemplars::query_exemplars),
            )
            .route(
                &format!("{prefix}/api/v1/format_query"),
                get(format_query).post(format_query),
            )
            .route(
                &format!("{prefix}/api/v1/parse_query"),
                get(parse_query).post(parse_query),
            )
            .route(&format!("{prefix}/api/v1/metadata"), get(metadata));
    }
    router
}

/// Parses a duration parameter: float seconds or a Prometheus duration (`1m30s`).
fn duration_param(name: &str, raw: &str) -> Result<Duration, ApiError> {
    if let Ok(secs) = raw.parse::<f64>() {
        if secs.is_finite() && (0.0..1e12).contains(&secs) {
            return Ok(Duration::from_secs_f64(secs));
        }
    } else if let Ok(d) = pitot_core::parse_duration(raw) {
        return Ok(d);
    }
    Err(ApiError::bad_data(format!(
        "invalid parameter {name:?}: cannot parse {raw:?} to a valid duration"
    )))
}

fn query_error(e: PromqlError) -> ApiError {
    let (status, error_type) = match e.kind() {
        ErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
        ErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
        ErrorKind::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        ErrorKind::Canceled => (
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "canceled",
        ),
    };
    let message = match e.kind() {
        ErrorKind::BadData => format!("invalid parameter \"query\": {e}"),
        _ => e.to_string(),
    };
    ApiError {
        status,
        error_type,
        message,
    }
}

fn result_json(result: QueryResult) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::prom_json::query_result(&result),
    )
        .into_response()
}

async fn params(
    state: &AppStateRef,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<Params, ApiError> {
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    Params::collect(method, headers, query.as_deref(), &body)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The query's own timeout, never above the engine's.
fn timeout(state: &AppStateRef, params: &Params) -> Result<Duration, ApiError> {
    let engine = state.engine.options().timeout;
    match params.get("timeout") {
        None | Some("") => Ok(engine),
        Some(raw) => Ok(duration_param("timeout", raw)?.min(engine)),
    }
}

/// An engine whose own deadline and sample limit are this request's: evaluation is
/// synchronous once data is fetched, so the engine must check them itself.
fn engine_with_limits(
    state: &AppStateRef,
    limits: &crate::tenant_query::TenantQueryLimits,
) -> pitot_promql::Engine {
    let mut options = state.engine.options().clone();
    options.timeout = limits.timeout;
    options.max_samples = limits.max_samples;
    pitot_promql::Engine::new(options)
}

/// Runs one PromQL query through the read gate (the tenant's slot, then the query
/// pool), under `limit`, and meters it.
async fn run<F, Fut>(
    state: &AppStateRef,
    tenant: &TenantId,
    metered: &Metered,
    limit: Duration,
    query: F,
) -> Result<QueryResult, ApiError>
where
    F: FnOnce(Cancel) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<QueryResult, PromqlError>>,
{
    let result = crate::tenant_query::run_read(state, tenant, move |cancel| async move {
        match tokio::time::timeout(limit, query(cancel)).await {
            Ok(result) => result.map_err(query_error),
            Err(_) => Err(query_error(PromqlError::Timeout {
                timeout_ms: limit.as_millis(),
            })),
        }
    })
    .await?;
    if let Some(usage) = &state.usage {
        let now = now_ms();
        for (t, scanned) in metered.0.targets.iter().zip(&metered.1) {
            let scanned = scanned.load(std::sync::atomic::Ordering::Relaxed);
            usage.record(
                tenant,
                &t.datasource,
                "metrics",
                t.origin.as_str(),
                now,
                |r| {
                    r.queries += 1;
                    r.samples_scanned += scanned;
                },
            );
        }
    }
    result
}

/// The data sources a query reads and the samples it read from each.
type Metered = (
    crate::datasource::Selection,
    Vec<std::sync::Arc<std::sync::atomic::AtomicU64>>,
);

/// What both query endpoints start with: the caller's tenant (`metrics:read`), the
/// data sources read, the parameters, and the non-empty `query`.
async fn query_request(
    state: &AppStateRef,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<(TenantId, crate::datasource::Selection, Params, String), ApiError> {
    let (tenant, selection) =
        crate::datasource::authorized_read(state, headers, pitot_core::DataKind::Metrics).await?;
    let params = params(state, method, headers, query, body).await?;
    let expr = params
        .get("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query is missing"))?
        .to_string();
    Ok((tenant, selection, params, expr))
}

async fn instant(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, selection, params, expr) =
        query_request(&state, &method, &headers, query, body).await?;
    let t = params.time_ms("time", now_ms())?;
    let tl = crate::tenant_query::limits(&state, &tenant, timeout(&state, &params)?);
    if tl.max_lookback_ms > 0 && t < now_ms() - tl.max_lookback_ms {
        return Err(ApiError::bad_data(format!(
            "the query time is older than the tenant's lookback limit of {} (max_query_lookback)",
            format_duration(tl.max_lookback_ms)
        )));
    }
    let (selected, scanned) = selection.metered_queryable(&state.queryable);
    let queryable = ReadGate::metrics(&tl).metrics_queryable(selected);
    let engine = engine_with_limits(&state, &tl);
    let metered = (selection, scanned);
    let owner = tenant.clone();
    let result = run(
        &state,
        &tenant,
        &metered,
        tl.timeout,
        move |cancel| async move {
            engine
                .with_cancel(cancel.flag())
                .instant(&*queryable, &owner, &expr, t)
                .await
        },
    )
    .await?;
    Ok(result_json(result))
}

async fn range(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, selection, params, expr) =
        query_request(&state, &method, &headers, query, body).await?;
    let start = required_time(&params, "start")?;
    let end = required_time(&params, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = match params.get("step") {
        None | Some("") => {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": step is missing",
            ))
        }
        Some(raw) => duration_param("step", raw)?,
    };
    let step_ms = step.as_millis() as i64;
    if step_ms <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let tl = crate::tenant_query::limits(&state, &tenant, timeout(&state, &params)?);
    let gate = ReadGate::metrics(&tl);
    let Some((oldest, _)) = gate.bound(start, end, now_ms(), LengthRule::Refuse)? else {
        return Ok(empty_matrix());
    };
    let points = end.checked_sub(start).map(|length| length / step_ms);
    if points.is_none_or(|n| n > MAX_POINTS_PER_SERIES) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    // Read nothing older than the lookback limit: start at the first step after it.
    let mut start = start;
    if oldest > start {
        let (gap, step) = (i128::from(oldest) - i128::from(start), i128::from(step_ms));
        let skipped = (gap + step - 1) / step * step;
        match i64::try_from(i128::from(start) + skipped) {
            Ok(aligned) if aligned <= end => start = aligned,
            _ => return Ok(empty_matrix()),
        }
    }
    let (selected, scanned) = selection.metered_queryable(&state.queryable);
    let queryable = gate.metrics_queryable(selected);
    let engine = engine_with_limits(&state, &tl);
    let metered = (selection, scanned);
    let owner = tenant.clone();
    let result = run(
        &state,
        &tenant,
        &metered,
        tl.timeout,
        move |cancel| async move {
            engine
                .with_cancel(cancel.flag())
                .range(&*queryable, &owner, &expr, start, end, step_ms)
                .await
        },
    )
    .await?;
    Ok(result_json(result))
}

/// Renders milliseconds as a compact duration (`721h0m0s`), as Go does.
fn format_duration(ms: i64) -> String {
    TimeUnit::Millis.format(ms)
}

/// A range query's answer when nothing may be read.
fn empty_matrix() -> Response {
    result_json(QueryResult {
        value: pitot_promql::Value::Matrix(Vec::new()),
        warnings: Vec::new(),
        infos: Vec::new(),
    })
}

fn required_time(params: &Params, name: &str) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Err(ApiError::bad_data(format!(
            "invalid parameter {name:?}: {name} is missing"
        ))),
        Some(raw) => parse_time_ms(raw).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter {name:?}: cannot parse {raw:?} to a valid timestamp"
            ))
        }),
    }
}

async fn metadata(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    // Only the data sources this request may read (the token's restriction applies).
    let (_, selection) =
        crate::datasource::authorized_read(&state, &headers, pitot_core::DataKind::Metrics).await?;
    let params = Params::collect(&Method::GET, &headers, query.as_deref(), &[])?;
    let limit = match params.get("limit") {
        None | Some("") => usize::MAX,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => usize::MAX,
            Err(_) => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"limit\": {raw:?} is not an integer"
                )))
            }
        },
    };
    let mut data = Map::new();
    for key in selection.keys() {
        for (name, m) in state.distributor.metadata.get(
            &key,
            params.get("metric").filter(|m| !m.is_empty()),
            limit,
        ) {
            if data.len() >= limit && !data.contains_key(&name) {
                break;
            }
            let entry = json!({"type": m.kind, "help": m.help, "unit": m.unit});
            match data.get_mut(&name).and_then(Value::as_array_mut) {
                Some(list) if !list.contains(&entry) => list.push(entry),
                Some(_) => {}
                None => {
                    data.insert(name, json!([entry]));
                }
            }
        }
    }
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}

async fn format_query(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers)
        .await?
        .require(Scope::MetricsRead)?;
    let params = params(&state, &method, &headers, query, body).await?;
    let expr = pitot_promql::parse(params.get("query").unwrap_or("")).map_err(query_error)?;
    Ok(Json(json!({"status": "success", "data": expr.prettify()})).into_response())
}

async fn parse_query(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers)
        .await?
        .require(Scope::MetricsRead)?;
    let params = params(&state, &method, &headers, query, body).await?;
    let expr = pitot_promql::parse(params.get("query").unwrap_or("")).map_err(query_error)?;
    Ok(Json(json!({"status": "success", "data": {"type": expr.value_type().to_string(), "expr": expr.to_string()}})).into_response())
}
