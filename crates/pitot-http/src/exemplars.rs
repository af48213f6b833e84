//! Exemplars in and out: storing what a push carried (remote write 1.0 and 2.0, OTLP)
//! in the tenant's exemplar buffer, and `/api/v1/query_exemplars` as the Prometheus
//! API documents it.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pitot_core::{Labels, Target};
use pitot_exemplars::{Exemplar, NewExemplar};
use serde_json::{json, Map, Value};

use crate::params::Params;
use crate::prom_read::labels_json;
use crate::{ApiError, AppState, AppStateRef};

/// The exemplar labels and series labels of a push, as label pairs (empty values are
/// dropped, as for series).
pub(crate) fn labels_of<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Labels {
    Labels::from_unsorted(
        pairs
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| pitot_core::Label::new(n, v))
            .collect(),
    )
}

/// Builds one exemplar to store.
pub(crate) fn new_exemplar(
    series: Labels,
    labels: Labels,
    value: f64,
    timestamp: i64,
) -> NewExemplar {
    NewExemplar {
        series,
        exemplar: Exemplar {
            labels,
            value,
            timestamp,
        },
    }
}

/// One remote-write exemplar (1.0, or 2.0 with its symbols resolved) of `series`.
pub(crate) fn from_remote_write(
    series: Labels,
    e: &pitot_proto::remote_write::Exemplar,
) -> NewExemplar {
    new_exemplar(
        series,
        labels_of(e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
        e.value,
        e.timestamp,
    )
}

/// Stores a push's exemplars under the tenant's `max_global_exemplars_per_user` (per data
/// source: each has its own buffer); what
/// is refused is counted as discarded under its reason and described in the returned
/// text, for the push's answer. Exemplars of a series whose metric name is invalid are
/// refused with the series.
pub(crate) async fn store(
    state: &AppState,
    target: &Target,
    items: Vec<NewExemplar>,
) -> Result<(u64, Option<String>), ApiError> {
    let Some(store) = &state.exemplars else {
        return Ok((0, None));
    };
    if items.is_empty() {
        return Ok((0, None));
    }
    let limit = match &state.tenant_limits {
        Some(all) => all.get(&target.tenant).max_global_exemplars_per_user,
        None => pitot_limits::TenantLimits::default().max_global_exemplars_per_user,
    };
    let (valid, invalid): (Vec<_>, Vec<_>) = items.into_iter().partition(|item| {
        item.series
            .metric_name()
            .is_some_and(pitot_core::is_valid_metric_name)
    });
    let outcome = store
        // Under the data source's storage key, so a read sees the exemplars of the data
        // sources it may read, as for samples.
        .append(
            &target.storage,
            valid,
            usize::try_from(limit).unwrap_or(usize::MAX),
        )
        .await
        .map_err(|e| {
            ApiError::unavailable(format!("exemplars were not stored, retry later: {e}"))
        })?;
    let mut problems = Vec::new();
    for (&reason, &n) in &outcome.refused {
        state.distributor.count_unsupported(target, reason, n);
    }
    if let Some(first) = &outcome.first_refusal {
        problems.push(format!(
            "{} exemplars were refused, the first: {first}",
            outcome.refused_total()
        ));
    }
    if !invalid.is_empty() {
        state.distributor.count_unsupported(
            target,
            "exemplar_series_invalid",
            invalid.len() as u64,
        );
        problems.push(format!(
            "{} exemplars belong to series without a valid metric name and were refused with them (err-pitot-exemplar_series_invalid)",
            invalid.len()
        ));
    }
    Ok((
        outcome.stored + outcome.duplicates,
        (!problems.is_empty()).then(|| problems.join("; ")),
    ))
}

/// `/api/v1/query_exemplars?query=<selector expression>&start=&end=`: the exemplars of
/// the series the query's selectors select, in the range.
pub(crate) async fn query_exemplars(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let (_, selection) =
        crate::datasource::authorized_read(&state, &headers, pitot_core::DataKind::Metrics).await?;
    let body = crate::remote_write::read_body(body, state.limits.max_request_body_bytes).await?;
    let params = Params::collect(&method, &headers, query.as_deref(), &body)?;
    let expr = params
        .get("query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": the query is empty"))?;
    let start = params.time_ms("start", i64::MIN / 2)?;
    let end = params.time_ms("end", i64::MAX / 2)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let selectors = crate::selector::parse_query_selectors(expr)?;
    let Some(store) = &state.exemplars else {
        return Ok(Json(json!({"status": "success", "data": []})).into_response());
    };
    let mut found: Vec<_> = selection
        .keys()
        .iter()
        .flat_map(|key| store.query(key, start, end, &selectors))
        .collect();
    found.sort_by(|a, b| a.series.cmp(&b.series));
    let data: Vec<Value> = found
        .iter()
        .map(|s| {
            let exemplars: Vec<Value> = s
                .exemplars
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    o.insert("labels".into(), labels_json(&e.labels));
                    o.insert(
                        "value".into(),
                        Value::String(crate::prom_json::format_value(e.value)),
                    );
                    o.insert("timestamp".into(), timestamp_seconds(e.timestamp));
                    Value::Object(o)
                })
                .collect();
            json!({"seriesLabels": labels_json(&s.series), "exemplars": exemplars})
        })
        .collect();
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}

/// A millisecond timestamp as the API writes it: seconds, with the milliseconds as a
/// fraction.
fn timestamp_seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        serde_json::Number::from_f64(ms as f64 / 1000.0).map_or(Value::Null, Value::Number)
    }
}
