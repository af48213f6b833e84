//! Prometheus remote write 1.0 receiver.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pitot_core::Scope;
use pitot_distributor::PushError;
use pitot_proto::remote_write_view::WriteRequestView;
use pitot_proto::{decode_snappy, BodyError};

use crate::auth::authenticate;
use crate::{ApiError, AppStateRef};

/// Remote write on Pitot's path, Prometheus' receiver path, and Mimir's prefixed path.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/v1/push", post(push))
        .route("/api/v1/write", post(push))
        .route("/prometheus/api/v1/push", post(push))
}

/// Reads a whole body, refusing more than `limit` bytes with a 413 that names the limit.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::too_large(format!(
            "request body is larger than the limit of {limit} bytes (server.max_request_body_bytes); send smaller batches"
        ))
    })
}

async fn push(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let tenant = principal.require(Scope::MetricsWrite)?;
    let target = crate::datasource::for_write(
        &state,
        &principal,
        &tenant,
        &headers,
        pitot_core::DataKind::Metrics,
    )
    .await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let bad = |e: BodyError| match e {
        BodyError::TooLarge { .. } => {
            ApiError::too_large(format!("{e} (server.max_decompressed_bytes)"))
        }
        other => ApiError::bad_data(format!("cannot decode remote-write request: {other}")),
    };
    // Label strings are borrowed from the decompressed body until storage is done.
    let raw = decode_snappy(&body, state.limits.max_decompressed_bytes).map_err(bad)?;
    let request = WriteRequestView::decode(&raw).map_err(bad)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let distributor = Arc::clone(&state.distributor);
    let outcome = distributor
        .push(&target, &request, now_ms)
        .await
        .map_err(|e| match e {
            PushError::Storage(e) => {
                ApiError::unavailable(format!("samples were not stored, retry later: {e}"))
            }
            PushError::RateLimited {
                retry_after,
                message,
            } => ApiError::rate_limited(message, retry_after),
        })?;
    match outcome.first_error {
        None => Ok(StatusCode::NO_CONTENT),
        Some(message) => Err(ApiError::bad_data(format!(
            "{message} ({} samples stored, {} discarded)",
            outcome.accepted, outcome.discarded
        ))),
    }
}
