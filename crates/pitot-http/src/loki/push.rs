//! `POST /loki/api/v1/push`: protobuf (snappy) or JSON, optionally gzip-encoded.
//!
//! As for remote write, every size is known and charged to the in-flight budgets
//! before the memory it stands for is allocated: the gzip trailer's declared size
//! before inflating, the snappy header's before decompressing, and the decoded
//! streams' size (from counts read off the protobuf framing) before decoding.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use pitot_distributor::PushError;
use pitot_proto::loki_push::{
    count_push, decode_gzip, decode_push_json, decode_push_message, gzip_declared_len,
    json_decoded_bytes_bound,
};
use pitot_proto::{decode_snappy, snappy_declared_len, BodyError};

use crate::remote_write::{charge_more, charge_push, read_body};
use crate::{ApiError, AppStateRef};

use super::LokiError;

/// The decoded streams and the validated batch built from them hold about the same
/// bytes, both alive until storage answers.
const DECODED_COPIES: usize = 2;

/// Stores the valid streams of a push; answers 204 when everything was stored, or 400
/// listing what was refused (the rest is stored, so clients must not retry).
pub async fn push(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, LokiError> {
    let target =
        crate::datasource::authorized_write(&state, &headers, pitot_core::DataKind::Logs).await?;
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
    let mut guard;
    let inflated;
    let raw: &[u8] = if gzip {
        let declared = gzip_declared_len(&body)
            .ok_or_else(|| too_large(BodyError::Gzip("body too short".into())))?;
        if declared > max {
            return Err(too_large(BodyError::TooLarge {
                size: declared,
                limit: max,
            }));
        }
        guard = charge_push(&state, &target.tenant, body.len() + declared).await?;
        // Inflation stops at the size the trailer declared and was charged for; a body
        // that inflates to more has a trailer that lies.
        inflated = decode_gzip(&body, declared).map_err(|e| match e {
            BodyError::TooLarge { .. } => LokiError::bad_request(format!(
                "cannot decode push request: the gzip body inflates to more than the {declared} bytes its trailer declares"
            )),
            other => too_large(other),
        })?;
        &inflated
    } else {
        guard = charge_push(&state, &target.tenant, body.len()).await?;
        &body
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let discarded = &state.logs.distributor.discarded_entries;
    let streams = if content_type.starts_with("application/json") {
        if raw.len() > max {
            return Err(too_large(BodyError::TooLarge {
                size: raw.len(),
                limit: max,
            }));
        }
        charge_more(&mut guard, json_decoded_bytes_bound(raw), discarded, 0).await?;
        decode_push_json(raw).map_err(too_large)?
    } else {
        let declared = snappy_declared_len(raw, max).map_err(too_large)?;
        charge_more(&mut guard, declared, discarded, 0).await?;
        let message = decode_snappy(raw, max).map_err(too_large)?;
        let counts = count_push(&message).map_err(too_large)?;
        let decoded = DECODED_COPIES * counts.decoded_bytes(message.len());
        charge_more(&mut guard, decoded, discarded, counts.entries).await?;
        decode_push_message(&message).map_err(too_large)?
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
            PushError::TooLarge { message } => LokiError(ApiError::too_large(message)),
        })?;
    drop(guard);
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
