//! Remote write 2.0 (`Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request`)
//! on the same paths as 1.0: the symbols table resolved, each series' metadata kept as
//! 1.0 metadata, float samples stored through the same view, limits and metering as
//! 1.0. Native histograms and exemplars are not stored yet: they are named in a 400
//! (the float samples are stored) and counted as discarded.
//!
//! Every answer after negotiation carries the specification's
//! `X-Prometheus-Remote-Write-Samples-Written`, `-Histograms-Written` and
//! `-Exemplars-Written` headers with what was stored, so a sender knows exactly what a
//! partial write kept.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pitot_core::Target;
use pitot_proto::remote_write_view::WriteRequestView;
use pitot_proto::{decode_snappy, remote_write_v2, snappy_declared_len, BodyError};

use crate::remote_write::{
    charge_more, charge_push, decode_off_runtime_if_large, push_answer, push_error, read_body,
    refuse_unsupported,
};
use crate::{ApiError, AppStateRef};

/// Bytes charged per nested message of a decoded 2.0 request (a series' vectors and
/// option, a sample, a symbol's string header, with allocation overhead).
const PER_MESSAGE: usize = 128;

/// Stores a 2.0 request of `target`; the answer carries the `...-Written` headers.
pub(crate) async fn push(state: AppStateRef, target: Target, body: Body) -> Response {
    let mut samples_written = 0;
    let mut exemplars_written = 0;
    let result = store(
        &state,
        &target,
        body,
        &mut samples_written,
        &mut exemplars_written,
    )
    .await;
    let mut response = match result {
        Ok(status) => status.into_response(),
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        "X-Prometheus-Remote-Write-Samples-Written",
        HeaderValue::from(samples_written),
    );
    headers.insert(
        "X-Prometheus-Remote-Write-Histograms-Written",
        HeaderValue::from(0),
    );
    headers.insert(
        "X-Prometheus-Remote-Write-Exemplars-Written",
        HeaderValue::from(exemplars_written),
    );
    response
}

async fn store(
    state: &AppStateRef,
    target: &Target,
    body: Body,
    samples_written: &mut usize,
    exemplars_written: &mut u64,
) -> Result<StatusCode, ApiError> {
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let bad = |e: BodyError| match e {
        BodyError::TooLarge { .. } => {
            ApiError::too_large(format!("{e} (server.max_decompressed_bytes)"))
        }
        other => ApiError::bad_data(format!("cannot decode remote-write 2.0 request: {other}")),
    };
    let max = state.limits.max_decompressed_bytes;
    let declared = snappy_declared_len(&body, max).map_err(bad)?;
    let mut guard = charge_push(state, &target.tenant, body.len() + declared).await?;
    let raw = decode_off_runtime_if_large(state, &target.tenant, declared, move || {
        decode_snappy(&body, max)
    })
    .await?
    .map_err(bad)?;
    let decoded = pitot_proto::nested_messages(&raw)
        .unwrap_or(0)
        .saturating_mul(PER_MESSAGE)
        .saturating_add(raw.len().saturating_mul(3));
    let distributor = Arc::clone(&state.distributor);
    charge_more(&mut guard, decoded, &distributor.discarded, 0).await?;
    let converted = decode_off_runtime_if_large(state, &target.tenant, declared, move || {
        let request = remote_write_v2::decode(&raw).map_err(|e| e.to_string())?;
        let converted = remote_write_v2::to_v1(request)?;
        let encoded = pitot_proto::remote_write::encode_series_exact(&converted.request);
        Ok::<_, String>((converted, encoded))
    })
    .await?
    .map_err(|e| ApiError::bad_data(format!("cannot decode remote-write 2.0 request: {e}")))?;
    let (converted, encoded) = converted;
    let mut view = WriteRequestView::decode(&encoded)
        .map_err(|e| ApiError::internal(format!("converted 2.0 series: {e}")))?;
    view.metadata = converted.request.metadata;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let outcome = distributor
        .push(target, &view, now_ms)
        .await
        .map_err(push_error)?;
    *samples_written = outcome.accepted;
    let items: Vec<_> = converted
        .request
        .timeseries
        .iter()
        .filter(|ts| !ts.exemplars.is_empty())
        .flat_map(|ts| {
            let series = crate::exemplars::labels_of(
                ts.labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            );
            ts.exemplars
                .iter()
                .map(move |e| crate::exemplars::from_remote_write(series.clone(), e))
        })
        .collect();
    let (written, exemplar_problems) = crate::exemplars::store(state, target, items).await?;
    *exemplars_written = written;
    drop(guard);
    let unsupported = refuse_unsupported(&distributor, target, converted.histograms as u64);
    let problems: Vec<String> = exemplar_problems.into_iter().chain(unsupported).collect();
    push_answer(outcome, (!problems.is_empty()).then(|| problems.join("; ")))
}
