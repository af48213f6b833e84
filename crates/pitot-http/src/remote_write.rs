//! Prometheus remote write 1.0 receiver.
//!
//! A push is bounded at every step before it allocates: the compressed body by
//! `server.max_request_body_bytes`, the declared decompressed size by
//! `server.max_decompressed_bytes` (read from the snappy header), the bytes in flight
//! by the tenant's and the server's in-flight budgets ([`charge_push`]), and the
//! ingestion rate by the sample count read from the framing before anything is decoded.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pitot_core::TenantId;
use pitot_distributor::{Distributor, InflightError, InflightGuard, PushError};
use pitot_proto::remote_write_view::{count, WriteRequestView};
use pitot_proto::{decode_snappy, snappy_declared_len, BodyError};

use crate::{ApiError, AppState, AppStateRef};

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

/// Charges `bytes` of a push of `tenant` to the in-flight budgets (the tenant's
/// `max_inflight_push_bytes` and `server.max_inflight_push_bytes`); the guard gives
/// them back when the request ends. Shared by the remote-write and Loki handlers.
pub(crate) async fn charge_push(
    state: &AppStateRef,
    tenant: &TenantId,
    bytes: usize,
) -> Result<InflightGuard, ApiError> {
    let tenant_limit = state
        .tenant_limits
        .as_ref()
        .map_or(0, |l| l.get(tenant).max_inflight_push_bytes);
    state
        .push_budget
        .acquire(tenant, tenant_limit, bytes as u64)
        .await
        .map_err(inflight_refusal)
}

/// Charges `bytes` more to a push already holding `guard`; a refusal is counted in
/// `discarded` (by tenant and the budget's reason ID) as `items` samples or entries.
pub(crate) async fn charge_more(
    guard: &mut InflightGuard,
    bytes: usize,
    discarded: &pitot_distributor::DiscardedCounters,
    items: usize,
) -> Result<(), ApiError> {
    guard.grow(bytes as u64).await.map_err(|e| {
        discarded.add(guard.tenant(), e.reason(), items as u64);
        inflight_refusal(e)
    })
}

/// 429 with `Retry-After` for a busy tenant budget, 413 for a request larger than the
/// tenant's whole budget, 503 for a busy server budget; each names its limit.
fn inflight_refusal(e: InflightError) -> ApiError {
    match e {
        InflightError::TenantBusy { .. } => {
            ApiError::rate_limited(e.to_string(), std::time::Duration::from_secs(1))
        }
        InflightError::TenantTooLarge { .. } => ApiError::too_large(e.to_string()),
        InflightError::InstanceBusy { .. } => ApiError::unavailable(e.to_string()),
    }
}

/// The decoded form of a request and the validated batch built from it hold about the
/// same bytes, both alive until storage answers.
const DECODED_COPIES: usize = 2;

async fn push(State(state): State<AppStateRef>, headers: HeaderMap, body: Body) -> Response {
    let target =
        match crate::datasource::authorized_write(&state, &headers, pitot_core::DataKind::Metrics)
            .await
        {
            Ok(target) => target,
            Err(e) => return e.into_response(),
        };
    match check_message_type(&headers) {
        Err(e) => e.into_response(),
        Ok(Version::V1) => push_v1(state, target, body).await.into_response(),
        Ok(Version::V2) => crate::remote_write_v2::push(state, target, body).await,
    }
}

/// Stores a remote write 1.0 request.
async fn push_v1(
    state: AppStateRef,
    target: pitot_core::Target,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let bad = |e: BodyError| match e {
        BodyError::TooLarge { .. } => {
            ApiError::too_large(format!("{e} (server.max_decompressed_bytes)"))
        }
        other => ApiError::bad_data(format!("cannot decode remote-write request: {other}")),
    };
    let max = state.limits.max_decompressed_bytes;
    let declared = snappy_declared_len(&body, max).map_err(bad)?;
    let mut guard = charge_push(&state, &target.tenant, body.len() + declared).await?;
    // Label strings are borrowed from the decompressed body until storage is done.
    let (raw, counts) = decode_off_runtime_if_large(&state, &target.tenant, declared, move || {
        let raw = decode_snappy(&body, max)?;
        pitot_core::yield_point();
        let counts = count(&raw)?;
        pitot_core::yield_point();
        Ok((raw, counts))
    })
    .await?
    .map_err(bad)?;
    charge_more(
        &mut guard,
        DECODED_COPIES * counts.view_bytes(),
        &state.distributor.discarded,
        counts.samples,
    )
    .await?;
    let distributor = Arc::clone(&state.distributor);
    let admitted = distributor
        .admit_samples(&target, counts.samples)
        .map_err(push_error)?;
    let request = WriteRequestView::decode_counted(&raw, counts).map_err(bad)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let outcome = distributor
        .push_admitted(&target, admitted, &request, now_ms)
        .await
        .map_err(push_error)?;
    let exemplars = if request.exemplars > 0 {
        charge_more(
            &mut guard,
            request.exemplars as usize * pitot_proto::remote_write_view::EXEMPLAR_DECODED_BYTES,
            &state.distributor.discarded,
            0,
        )
        .await?;
        let decoded = pitot_proto::remote_write_view::decode_exemplars(&raw).map_err(bad)?;
        let series: Vec<_> = request.series().collect();
        let items = decoded
            .into_iter()
            .filter_map(|(i, e)| {
                let s = series.get(i)?;
                Some(crate::exemplars::from_remote_write(
                    crate::exemplars::labels_of(s.labels.iter().copied()),
                    &e,
                ))
            })
            .collect();
        crate::exemplars::store(&state, &target, items).await?.1
    } else {
        None
    };
    drop(guard);
    let unsupported = refuse_unsupported(&distributor, &target, request.histograms);
    let problems: Vec<String> = exemplars.into_iter().chain(unsupported).collect();
    push_answer(outcome, (!problems.is_empty()).then(|| problems.join("; ")))
}

/// The answer to a push of samples: 204 when everything was stored, else a 400 naming
/// each problem (the outcome's first error, then `more`) and how many samples were stored and discarded (the valid ones are
/// stored, so clients must not retry). Remote write and import answer with it.
pub(crate) fn push_answer(
    outcome: pitot_distributor::PushOutcome,
    more: Option<String>,
) -> Result<StatusCode, ApiError> {
    let problems: Vec<String> = outcome.first_error.into_iter().chain(more).collect();
    if problems.is_empty() {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(ApiError::bad_data(format!(
        "{} ({} samples stored, {} discarded)",
        problems.join("; "),
        outcome.accepted,
        outcome.discarded
    )))
}

/// The remote write message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The remote write 1.0 message, as the 2.0 specification names it in `Content-Type`.
const PROTO_V1: &str = "prometheus.WriteRequest";
/// The remote write 2.0 message.
const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Content negotiation of the remote write 2.0 specification: a request names its
/// message in `Content-Type` (`application/x-protobuf;proto=...`, none meaning 1.0) and
/// its compression in `Content-Encoding`; a receiver answers 415 to what it cannot
/// decode instead of reading it as something else. Pitot decodes 1.0 and 2.0 with
/// snappy.
fn check_message_type(headers: &HeaderMap) -> Result<Version, ApiError> {
    let header = |name: axum::http::HeaderName| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
    };
    let mut version = Version::V1;
    if let Some(content_type) = header(axum::http::header::CONTENT_TYPE) {
        let proto = content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim() == "proto").then(|| v.trim().trim_matches('"').to_string())
        });
        version = match proto.as_deref() {
            None => Version::V1,
            Some(p) if p == PROTO_V1.to_ascii_lowercase() => Version::V1,
            Some(p) if p == PROTO_V2.to_ascii_lowercase() => Version::V2,
            Some(other) => {
                return Err(ApiError::unsupported_media_type(format!(
                    "unknown remote write message proto={other}; this endpoint takes {PROTO_V1} and {PROTO_V2}"
                )))
            }
        };
    }
    match header(axum::http::header::CONTENT_ENCODING).as_deref() {
        None | Some("") | Some("snappy") => Ok(version),
        Some(other) => Err(ApiError::unsupported_media_type(format!(
            "remote write bodies must be snappy-compressed (Content-Encoding: snappy), not {other}"
        ))),
    }
}

/// Reason ID of the part of a remote-write request Pitot does not store yet.
pub const NATIVE_HISTOGRAMS_UNSUPPORTED: &str = "native_histograms_unsupported";

/// Native histograms are not stored yet: rather than acknowledging them and dropping
/// them, they are counted as discarded and named in the answer (the request's float
/// samples are stored all the same), so the client logs why and the operator sees them
/// in `pitot_discarded_samples_total`.
pub(crate) fn refuse_unsupported(
    distributor: &Distributor,
    target: &pitot_core::Target,
    histograms: u64,
) -> Option<String> {
    if histograms == 0 {
        return None;
    }
    distributor.count_unsupported(target, NATIVE_HISTOGRAMS_UNSUPPORTED, histograms);
    Some(format!(
        "{histograms} native histogram samples were not stored: Pitot does not store native histograms yet (err-pitot-{NATIVE_HISTOGRAMS_UNSUPPORTED}); turn off send_native_histograms in the client's remote_write, or scrape classic histograms"
    ))
}

/// Decompressed bodies above this many bytes are decoded as heavy work: a few
/// megabytes take milliseconds of CPU, which on a runtime worker would delay every other
/// tenant's requests. Prometheus' default batches (2,000 samples) are far below it.
const HEAVY_DECOMPRESSED_BYTES: usize = 1 << 20;

/// Runs `work` (decompressing and counting a push of `declared` decompressed bytes)
/// inline when the body is small; when it is large, as heavy work: on the query pool's
/// threads, holding one of the tenant's query slots, so one tenant's large pushes and
/// queries together never occupy more than its share of the cores.
pub(crate) async fn decode_off_runtime_if_large<T: Send + 'static>(
    state: &AppState,
    tenant: &TenantId,
    declared: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if declared <= HEAVY_DECOMPRESSED_BYTES {
        return Ok(work());
    }
    let permit = state.tenant_slots.acquire(state, tenant).await?;
    state
        .query_pool
        .run(Some(tenant), permit, move |_| async move { work() })
        .await
}

pub(crate) fn push_error(e: PushError) -> ApiError {
    match e {
        PushError::Storage(e) => {
            ApiError::unavailable(format!("samples were not stored, retry later: {e}"))
        }
        PushError::RateLimited {
            retry_after,
            message,
        } => ApiError::rate_limited(message, retry_after),
        PushError::TooLarge { message } => ApiError::too_large(message),
    }
}
