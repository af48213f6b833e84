//! `POST /loki/api/v1/push`: protobuf (snappy) or JSON, optionally gzip-encoded.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use pitot_core::Scope;
use pitot_distributor::PushError;
use pitot_proto::loki_push::{decode_gzip, decode_push_json, decode_push_protobuf};
use pitot_proto::BodyError;

use crate::auth::authenticate;
use crate::remote_write::read_body;
use crate::{ApiError, AppStateRef};

use super::LokiError;

/// Stores the valid streams of a push; answers 204 when everything was stored, or 400
/// listing what was refused (the rest is stored, so clients must not retry).
pub async fn push(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, LokiError> {
    let principal = authenticate(&state, &headers).await?;
    let tenant = principal.require(Scope::LogsWrite)?;
    let target = crate::datasource::for_write(
        &state,
        &principal,
        &tenant,
        &headers,
        pitot_core::DataKind::Logs,
    )
    .await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let max = state.limits.max_decompressed_bytes;
    let too_large = |e: BodyError| match e {
        BodyError::TooLarge { .. } => LokiError(ApiError::too_large(format!(
            "{e} (server.max_decompressed_bytes)"
        ))),
        other => LokiError::bad_request(format!("cannot decode push request: {other}")),
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let inflated;
    let raw: &[u8] = if gzip {
        inflated = decode_gzip(&body, max).map_err(too_large)?;
        &inflated
    } else {
        &body
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let streams = if content_type.starts_with("application/json") {
        if raw.len() > max {
            return Err(too_large(BodyError::TooLarge {
                size: raw.len(),
                limit: max,
            }));
        }
        decode_push_json(raw).map_err(too_large)?
    } else {
        decode_push_protobuf(raw, max).map_err(too_large)?
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let distributor = Arc::clone(&state.logs.distributor);
    let outcome = distributor
        .push(&target, streams, now)
        .await
        .map_err(|e| match e {
            PushError::Storage(e) => LokiError(ApiError::unavailable(format!(
                "log entries were not stored, retry later: {e}"
            ))),
            PushError::RateLimited {
                retry_after,
                message,
            } => LokiError(ApiError::rate_limited(message, retry_after)),
        })?;
    if outcome.errors.is_empty() {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(LokiError::bad_request(format!(
        "{}\n({} entries stored, {} discarded)",
        outcome.errors.join("\n"),
        outcome.accepted,
        outcome.discarded
    )))
}
