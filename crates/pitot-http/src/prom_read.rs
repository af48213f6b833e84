//! Reading stored series back: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` (Prometheus JSON), and `/api/v1/export` (one JSON
//! object per series and line, as VictoriaMetrics exports).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use pitot_core::{Labels, Matcher, TenantId};
use pitot_storage_api::{Querier, SelectHints, Series};
use serde_json::{json, Map, Value};

use crate::params::Params;
use crate::query_pool::Cancel;
use crate::remote_write::read_body;
use crate::selector::parse_selector;
use crate::tenant_query::{self, read_error, LengthRule, ReadGate};
use crate::{ApiError, AppState, AppStateRef};

/// Read routes, also under `/prometheus` for Grafana and Mimir clients.
pub fn router() -> Router<AppStateRef> {
    let mut router = Router::new();
    for prefix in ["", "/prometheus"] {
        router = router
            .route(&format!("{prefix}/api/v1/series"), get(series).post(series))
            .route(&format!("{prefix}/api/v1/labels"), get(labels).post(labels))
            .route(
                &format!("{prefix}/api/v1/label/{{name}}/values"),
                get(label_values),
            )
            .route(&format!("{prefix}/api/v1/export"), get(export).post(export));
    }
    router
}

/// Parameters common to the read endpoints, authenticated, parsed and admitted by the
/// tenant's read gate.
struct ReadRequest {
    tenant: TenantId,
    /// The selected data sources, held to the tenant's series limit.
    queryable: pitot_storage_api::QueryableRef,
    params: Params,
    /// The range to read; `None` when the lookback limit leaves nothing to read.
    range: Option<(i64, i64)>,
    selectors: Vec<Vec<Matcher>>,
    /// The tenant's query timeout.
    timeout: Duration,
}

impl ReadRequest {
    /// The matcher sets to union; one empty set (every series) without `match[]`.
    fn matcher_sets(&self) -> Vec<Vec<Matcher>> {
        if self.selectors.is_empty() {
            return vec![Vec::new()];
        }
        self.selectors.clone()
    }
}

async fn read_request(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<ReadRequest, ApiError> {
    let (tenant, selection) =
        crate::datasource::authorized_read(state, headers, pitot_core::DataKind::Metrics).await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let params = Params::collect(method, headers, query.as_deref(), &body)?;
    let start = params.time_ms("start", i64::MIN / 2)?;
    let end = params.time_ms("end", i64::MAX / 2)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let mut selectors = Vec::new();
    for raw in params.all("match[]") {
        selectors.extend(parse_selector(raw)?);
    }
    let limits = tenant_query::limits(state, &tenant, state.engine.options().timeout);
    let gate = ReadGate::metrics(&limits);
    let given = match (params.get("start"), params.get("end")) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => LengthRule::Clamp,
        _ => LengthRule::Open,
    };
    let now = chrono::Utc::now().timestamp_millis();
    Ok(ReadRequest {
        tenant,
        queryable: gate.metrics_queryable(selection.queryable(&state.queryable)),
        params,
        range: gate.bound(start, end, now, given)?,
        selectors,
        timeout: limits.timeout,
    })
}

/// Runs `read` for `req` on the query pool within the tenant's slot and timeout.
async fn run<T, F, Fut>(state: &AppState, req: &ReadRequest, read: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    tenant_query::run_read_timed(state, &req.tenant, req.timeout, read).await
}

fn success(data: Value) -> Response {
    let mut body = Map::new();
    body.insert("status".into(), Value::String("success".into()));
    body.insert("data".into(), data);
    Json(Value::Object(body)).into_response()
}

/// A label set as the Prometheus API writes it: `{"name": "value", ...}`.
pub(crate) fn labels_json(labels: &Labels) -> Value {
    let mut map = Map::new();
    for l in labels {
        map.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(map)
}

/// Selects the union of several selectors, sorted by labels and unique.
async fn select_union(
    querier: &dyn Querier,
    hints: &SelectHints,
    selectors: &[Vec<Matcher>],
) -> Result<(Vec<Series>, Vec<String>), ApiError> {
    let mut all: Vec<Series> = Vec::new();
    let mut warnings = Vec::new();
    for set in selectors {
        let result = querier.select(hints, set).await.map_err(read_error)?;
        warnings.extend(result.warnings);
        all.extend(result.series);
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.labels == b.labels);
    Ok((all, warnings))
}

async fn series(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    if req.selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(&req.params)?;
    let Some((start, end)) = req.range else {
        return Ok(success(Value::Array(Vec::new())));
    };
    let (queryable, tenant, selectors) = (
        Arc::clone(&req.queryable),
        req.tenant.clone(),
        req.selectors.clone(),
    );
    let data = run(&state, &req, move || async move {
        let querier = queryable.querier(&tenant, start, end).map_err(read_error)?;
        let hints = SelectHints {
            start,
            end,
            labels_only: true,
        };
        let (series, _) = select_union(&*querier, &hints, &selectors).await?;
        Ok(series
            .iter()
            .take(limit)
            .map(|s| labels_json(&s.labels))
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(success(Value::Array(data)))
}

fn limit_param(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") | Some("0") => Ok(usize::MAX),
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": {raw:?} is not a non-negative integer"
            ))
        }),
    }
}

async fn labels(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    let limit = limit_param(&req.params)?;
    label_read(&state, &req, None, limit).await
}

async fn label_values(
    State(state): State<AppStateRef>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let req = read_request(&state, &method, &headers, query, Body::empty()).await?;
    if !pitot_core::is_valid_label_name(&name) && name != "__name__" {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let limit = limit_param(&req.params)?;
    label_read(&state, &req, Some(name), limit).await
}

/// Label names (`name` of `None`) or the values of one label, over the union of the
/// request's selectors.
async fn label_read(
    state: &AppState,
    req: &ReadRequest,
    name: Option<String>,
    limit: usize,
) -> Result<Response, ApiError> {
    let Some((start, end)) = req.range else {
        return Ok(success(json!([])));
    };
    let (queryable, tenant, sets) = (
        Arc::clone(&req.queryable),
        req.tenant.clone(),
        req.matcher_sets(),
    );
    let found = run(state, req, move || async move {
        let querier = queryable.querier(&tenant, start, end).map_err(read_error)?;
        let mut found = BTreeSet::new();
        for set in &sets {
            let part = match &name {
                None => querier.label_names(set).await,
                Some(name) => querier.label_values(name, set).await,
            };
            found.extend(part.map_err(read_error)?);
        }
        Ok(found)
    })
    .await?;
    Ok(success(json!(found
        .into_iter()
        .take(limit)
        .collect::<Vec<_>>())))
}

/// Lines an export may have written ahead of the client.
const EXPORT_BUFFERED_LINES: usize = 64;

async fn export(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let req = read_request(&state, &method, &headers, query, body).await?;
    if req.selectors.is_empty() {
        return Err(ApiError::bad_data(
            "no match[] parameter provided; use match[]={__name__=~\".+\"} to export everything",
        ));
    }
    let Some((start, end)) = req.range else {
        return Ok(export_response(Body::empty()));
    };
    // The export runs on the query pool: it selects (held to the series limit), answers
    // the outcome of the select, then writes lines as the client reads them, so a large
    // export neither sits in memory as one document nor decodes on the runtime.
    let (queryable, tenant, selectors) = (
        Arc::clone(&req.queryable),
        req.tenant.clone(),
        req.selectors.clone(),
    );
    let select = move || async move {
        let hints = SelectHints {
            start,
            end,
            labels_only: false,
        };
        let querier = queryable.querier(&tenant, start, end).map_err(read_error)?;
        select_union(&*querier, &hints, &selectors).await
    };
    let emit = move |(series, _): (Vec<Series>, Vec<String>), cancel: Cancel, lines: Lines| async move {
        for s in &series {
            if cancel.is_cancelled() {
                break;
            }
            if let Some(line) = export_line(s, start, end) {
                if lines.send(Bytes::from(line)).await.is_err() {
                    break;
                }
            }
        }
    };
    let body = tenant_query::stream_read(
        &state,
        req.tenant.clone(),
        req.timeout,
        EXPORT_BUFFERED_LINES,
        select,
        emit,
    )
    .await?;
    Ok(export_response(body))
}

/// Where an export writes its lines.
type Lines = tokio::sync::mpsc::Sender<Bytes>;

fn export_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/stream+json")], body).into_response()
}

/// One export line, or `None` when the series has no samples in range.
fn export_line(series: &Series, start: i64, end: i64) -> Option<String> {
    let mut values = Vec::new();
    let mut timestamps = Vec::new();
    for s in series.samples() {
        if s.t < start || s.t > end {
            continue;
        }
        timestamps.push(Value::from(s.t));
        values.push(match serde_json::Number::from_f64(s.v) {
            Some(n) => Value::Number(n),
            None if s.v.is_nan() => Value::String("NaN".into()),
            None if s.v > 0.0 => Value::String("+Inf".into()),
            None => Value::String("-Inf".into()),
        });
    }
    if timestamps.is_empty() {
        return None;
    }
    let mut object = Map::new();
    object.insert("metric".into(), labels_json(&series.labels));
    object.insert("values".into(), Value::Array(values));
    object.insert("timestamps".into(), Value::Array(timestamps));
    let mut line = serde_json::to_string(&Value::Object(object)).expect("JSON values serialize");
    line.push('\n');
    Some(line)
}
