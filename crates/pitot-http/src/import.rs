//! `POST /api/v1/import`: the mirror of `/api/v1/export`, in the same JSON-lines format
//! (VictoriaMetrics' `{"metric":{...},"values":[...],"timestamps":[...]}` per line), so
//! an export imported into another tenant or server is a round trip, bit for bit; and
//! `POST /api/v1/import/prometheus`, the text exposition format with optional
//! timestamps ([`pitot_proto::exposition`]).
//!
//! An import is a push: the same token scope (`metrics:write`), data-source header,
//! validation, ingestion rate, series limits, in-flight budgets and usage metering as
//! remote write. A malformed line refuses the whole request with a 400 naming the line,
//! before anything is stored.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pitot_proto::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use pitot_proto::remote_write_view::WriteRequestView;
use serde::Deserialize;

use crate::remote_write::{charge_more, charge_push, push_answer, push_error, read_body};
use crate::{ApiError, AppStateRef};

/// The import route, also under `/prometheus`.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/v1/import", post(import))
        .route("/prometheus/api/v1/import", post(import))
        .route("/api/v1/import/prometheus", post(import_prometheus))
        .route(
            "/prometheus/api/v1/import/prometheus",
            post(import_prometheus),
        )
}

/// One line of the format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<Value>,
    timestamps: Vec<i64>,
}

/// A sample value: a number, or `"NaN"`, `"+Inf"`, `"-Inf"` as export writes them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Value {
    Number(f64),
    Text(String),
}

impl Value {
    fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(*v),
            Value::Text(t) => match t.as_str() {
                "NaN" => Some(f64::NAN),
                "+Inf" | "Inf" => Some(f64::INFINITY),
                "-Inf" => Some(f64::NEG_INFINITY),
                other => other.parse().ok(),
            },
        }
    }
}

/// Parses the body into a remote-write request, or says which line is wrong and why.
fn parse(body: &[u8]) -> Result<WriteRequest, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    let mut request = WriteRequest::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            format!("line {n}: {e}; expected {{\"metric\":{{...}},\"values\":[...],\"timestamps\":[...]}}")
        })?;
        if line.values.len() != line.timestamps.len() {
            return Err(format!(
                "line {n}: {} values but {} timestamps",
                line.values.len(),
                line.timestamps.len()
            ));
        }
        let mut samples = Vec::with_capacity(line.values.len());
        for (k, (value, &timestamp)) in line.values.iter().zip(&line.timestamps).enumerate() {
            let value = value
                .to_f64()
                .ok_or_else(|| format!("line {n}: value {} is not a number", k + 1))?;
            samples.push(Sample { value, timestamp });
        }
        request.timeseries.push(TimeSeries {
            labels: line
                .metric
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
            samples,
            exemplars: Vec::new(),
        });
    }
    Ok(request)
}

async fn import(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    store(
        &state,
        &headers,
        body,
        |body| 2 * pitot_proto::loki_push::json_decoded_bytes_bound(body),
        |body, _| parse(body),
    )
    .await
}

async fn import_prometheus(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    store(
        &state,
        &headers,
        body,
        pitot_proto::exposition::exposition_decoded_bytes_bound,
        |body, now_ms| {
            let text =
                std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
            pitot_proto::exposition::parse_exposition(text, now_ms)
        },
    )
    .await
}

/// Stores an import: authorizes, charges the body and `bound(body)` (what parsing
/// allocates) to the in-flight budgets, parses with `parse(body, now_ms)`, and pushes
/// the result through remote write's view.
async fn store(
    state: &AppStateRef,
    headers: &HeaderMap,
    body: Body,
    bound: impl FnOnce(&[u8]) -> usize,
    parse: impl FnOnce(&[u8], i64) -> Result<WriteRequest, String>,
) -> Result<StatusCode, ApiError> {
    let target =
        crate::datasource::authorized_write(state, headers, pitot_core::DataKind::Metrics).await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let mut guard = charge_push(state, &target.tenant, body.len()).await?;
    let distributor = Arc::clone(&state.distributor);
    charge_more(&mut guard, bound(&body), &distributor.discarded, 0).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let request =
        parse(&body, now_ms).map_err(|e| ApiError::bad_data(format!("cannot import: {e}")))?;
    // Encoded exactly (every bit of every value) and read back as the view remote write
    // stores from, so both paths share validation, limits and metering.
    let encoded = pitot_proto::remote_write::encode_series_exact(&request);
    drop(request);
    let view = WriteRequestView::decode(&encoded)
        .map_err(|e| ApiError::bad_data(format!("cannot import: {e}")))?;
    let outcome = distributor
        .push(&target, &view, now_ms)
        .await
        .map_err(push_error)?;
    drop(guard);
    push_answer(outcome, None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_parse_with_their_special_values_and_errors_name_the_line() {
        let body = br#"{"metric":{"__name__":"a","job":"x"},"values":[1.5,"NaN","+Inf","-Inf",-0.0],"timestamps":[1,2,3,4,5]}

{"metric":{"__name__":"b"},"values":[],"timestamps":[]}"#;
        let request = super::parse(body).expect("parses");
        assert_eq!(request.timeseries.len(), 2);
        let values: Vec<f64> = request.timeseries[0]
            .samples
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(values[0], 1.5);
        assert!(values[1].is_nan());
        assert_eq!(values[2], f64::INFINITY);
        assert_eq!(values[3], f64::NEG_INFINITY);
        assert!(values[4] == 0.0 && values[4].is_sign_negative());

        let e = super::parse(b"{\"metric\":{},\"values\":[1],\"timestamps\":[]}").unwrap_err();
        assert!(e.starts_with("line 1: 1 values but 0 timestamps"), "{e}");
        let e =
            super::parse(b"\n{\"metric\":{},\"values\":[\"x\"],\"timestamps\":[1]}").unwrap_err();
        assert!(e.starts_with("line 2: value 1 is not a number"), "{e}");
        let e = super::parse(b"not json").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
    }
}
