//! Reading stored series back: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` (Prometheus JSON), and `/api/v1/export` (one JSON
//! object per series and line, as VictoriaMetrics exports).

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{Labels, Matcher, Scope, TenantId};
use pitot_storage_api::{Querier, SelectHints, Series};
use serde_json::{json, Map, Value};

use crate::auth::authenticate;
use crate::params::Params;
use crate::remote_write::read_body;
use crate::selector::parse_selector;
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

/// Parameters common to the read endpoints, authenticated and parsed.
struct ReadRequest {
    tenant: TenantId,
    /// The selected data sources.
    queryable: pitot_storage_api::QueryableRef,
    params: Params,
    start: i64,
    end: i64,
    selectors: Vec<Vec<Matcher>>,
}

impl ReadRequest {
    /// The matcher sets to union; one empty set (every series) without `match[]`.
    fn matcher_sets(&self) -> Vec<&[Matcher]> {
        if self.selectors.is_empty() {
            return vec![&[]];
        }
        self.selectors.iter().map(Vec::as_slice).collect()
    }
}

async fn read_request(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<ReadRequest, ApiError> {
    let principal = authenticate(state, headers).await?;
    let tenant = principal.require(Scope::MetricsRead)?;
    let selection = crate::datasource::for_read(
        state,
        &principal,
        &tenant,
        headers,
        pitot_core::DataKind::Metrics,
    )
    .await?;
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
    Ok(ReadRequest {
        tenant,
        queryable: selection.queryable(&state.queryable),
        params,
        start,
        end,
        selectors,
    })
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
        let result = querier.select(hints, set).await?;
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
    let querier = req.queryable.querier(&req.tenant, req.start, req.end)?;
    let hints = SelectHints {
        start: req.start,
        end: req.end,
        labels_only: true,
    };
    let (series, _) = select_union(&*querier, &hints, &req.selectors).await?;
    let limit = limit_param(&req.params)?;
    let data: Vec<Value> = series
        .iter()
        .take(limit)
        .map(|s| labels_json(&s.labels))
        .collect();
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
    let querier = req.queryable.querier(&req.tenant, req.start, req.end)?;
    let mut names = BTreeSet::new();
    for set in req.matcher_sets() {
        names.extend(querier.label_names(set).await?);
    }
    let limit = limit_param(&req.params)?;
    Ok(success(json!(names
        .into_iter()
        .take(limit)
        .collect::<Vec<_>>())))
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
    let querier = req.queryable.querier(&req.tenant, req.start, req.end)?;
    let mut values = BTreeSet::new();
    for set in req.matcher_sets() {
        values.extend(querier.label_values(&name, set).await?);
    }
    let limit = limit_param(&req.params)?;
    Ok(success(json!(values
        .into_iter()
        .take(limit)
        .collect::<Vec<_>>())))
}

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
    let querier = req.queryable.querier(&req.tenant, req.start, req.end)?;
    let hints = SelectHints {
        start: req.start,
        end: req.end,
        labels_only: false,
    };
    let (series, _) = select_union(&*querier, &hints, &req.selectors).await?;
    let (start, end) = (req.start, req.end);
    // Lines are produced as the client reads them, so a large export does not sit in
    // memory as one JSON document.
    let lines =
        futures::stream::iter(series.into_iter().filter_map(move |s| {
            export_line(&s, start, end).map(Ok::<_, std::convert::Infallible>)
        }));
    Ok((
        [(header::CONTENT_TYPE, "application/stream+json")],
        Body::from_stream(lines),
    )
        .into_response())
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
