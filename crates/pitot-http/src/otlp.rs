//! OTLP/HTTP ingest: metrics at `/otlp/v1/metrics` (Mimir's path), `/v1/metrics` and
//! `/api/v1/otlp/v1/metrics` (Prometheus 3's), logs at `/otlp/v1/logs` (Loki 3's) and
//! `/v1/logs`.
//!
//! The transport is the OTLP specification's: binary protobuf or JSON (as
//! `Content-Type` says, 415 otherwise), optionally gzip; 200 with the export response,
//! whose `partial_success` counts and names what was not stored; 4xx/5xx with a
//! `google.rpc.Status` body in the request's encoding, `Retry-After` on 429 and 503.
//!
//! A push is held to the same token scope, data-source header, in-flight budgets,
//! validation, limits and metering as remote write and Loki push: OTLP metrics are
//! translated to series ([`pitot_otlp::translate_metrics`]) and stored through the view
//! remote write stores from; logs become the streams a Loki push decodes to.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pitot_core::{DataKind, Target};
use pitot_distributor::InflightGuard;
use pitot_otlp::Encoding;
use pitot_proto::loki_push::{decode_gzip, gzip_declared_len};
use pitot_proto::remote_write_view::WriteRequestView;
use pitot_proto::BodyError;

use crate::remote_write::{
    charge_more, charge_push, decode_off_runtime_if_large, push_error, read_body,
};
use crate::{ApiError, AppStateRef};

/// The OTLP routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/otlp/v1/metrics", post(metrics))
        .route("/v1/metrics", post(metrics))
        .route("/api/v1/otlp/v1/metrics", post(metrics))
        .route("/otlp/v1/logs", post(logs))
        .route("/v1/logs", post(logs))
}

/// An OTLP error answer: the status of the [`ApiError`] with a `google.rpc.Status`
/// body in the request's encoding (JSON when the request's was not understood).
struct OtlpFailure(ApiError, Encoding);

impl IntoResponse for OtlpFailure {
    fn into_response(self) -> Response {
        let OtlpFailure(error, encoding) = self;
        let status = error.status;
        let body = pitot_otlp::status_body(status.as_u16(), error.message.clone(), encoding);
        let retry_after = crate::error::retry_after_secs(&error.message).max(1);
        // ApiError's answer (logging, `Retry-After` on 429, `WWW-Authenticate` on 401)
        // with the Status body OTLP asks for; OTLP also gives 503 a `Retry-After`.
        let mut response = error.into_response();
        *response.body_mut() = axum::body::Body::from(body);
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// A 200 answer carrying an export response.
fn success(body: Vec<u8>, encoding: Encoding) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// A request read and charged: who it is for, its encoding, the (inflated) message and
/// the in-flight charge held until storage answers.
struct Received {
    target: Target,
    encoding: Encoding,
    message: bytes::Bytes,
    guard: InflightGuard,
}

/// Translated series may take at most this many times the bytes of the message (at
/// least [`MIN_OUTPUT_BYTES`]): a histogram point becomes a series per bucket, each
/// with every label of the point. The bound and its encoded copy are charged up front.
const OUTPUT_FACTOR: usize = 12;
/// See [`OUTPUT_FACTOR`].
const MIN_OUTPUT_BYTES: usize = 256 * 1024;

/// Authenticates, negotiates the encoding, reads, inflates and charges a request.
async fn receive(
    state: &AppStateRef,
    headers: &HeaderMap,
    body: Body,
    kind: DataKind,
) -> Result<Received, OtlpFailure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let encoding = Encoding::from_content_type(content_type).map_err(|e| {
        OtlpFailure(
            ApiError::unsupported_media_type(format!("{e} (err-pitot-{})", e.reason())),
            Encoding::Json,
        )
    })?;
    let fail = |e: ApiError| OtlpFailure(e, encoding);
    let target = crate::datasource::authorized_write(state, headers, kind)
        .await
        .map_err(fail)?;
    let body = read_body(body, state.limits.max_request_body_bytes)
        .await
        .map_err(fail)?;
    let max = state.limits.max_decompressed_bytes;
    let too_large = |size: usize| {
        fail(ApiError::too_large(format!(
            "{} (server.max_decompressed_bytes)",
            BodyError::TooLarge { size, limit: max }
        )))
    };
    let encoding_header = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (message, mut guard) = match encoding_header.as_str() {
        "" | "identity" => {
            let guard = charge_push(state, &target.tenant, body.len())
                .await
                .map_err(fail)?;
            (body, guard)
        }
        "gzip" => {
            let declared = gzip_declared_len(&body).ok_or_else(|| {
                fail(ApiError::bad_data(
                    "the body is not valid gzip: too short (Content-Encoding: gzip)",
                ))
            })?;
            if declared > max {
                return Err(too_large(declared));
            }
            let guard = charge_push(state, &target.tenant, body.len() + declared)
                .await
                .map_err(fail)?;
            // Inflation stops at the size the trailer declared and was charged for.
            let inflated = decode_gzip(&body, declared).map_err(|e| match e {
                BodyError::TooLarge { .. } => fail(ApiError::bad_data(format!(
                    "the gzip body inflates to more than the {declared} bytes its trailer declares"
                ))),
                other => fail(ApiError::bad_data(other.to_string())),
            })?;
            (bytes::Bytes::from(inflated), guard)
        }
        other => {
            return Err(fail(ApiError::unsupported_media_type(format!(
                "unsupported Content-Encoding {other:?}: OTLP/HTTP bodies are sent as they are or gzip-compressed"
            ))))
        }
    };
    if message.len() > max {
        return Err(too_large(message.len()));
    }
    let discarded = match kind {
        DataKind::Logs => &state.logs.distributor.discarded_entries,
        _ => &state.distributor.discarded,
    };
    let mut charge = pitot_otlp::decoded_bytes_bound(&message, encoding);
    if kind == DataKind::Metrics {
        charge = charge.saturating_add(2 * output_bound(message.len()));
    }
    charge_more(&mut guard, charge, discarded, 0)
        .await
        .map_err(fail)?;
    Ok(Received {
        target,
        encoding,
        message,
        guard,
    })
}

/// The most bytes the translated series of a `message_len`-byte metrics message may take.
fn output_bound(message_len: usize) -> usize {
    message_len
        .saturating_mul(OUTPUT_FACTOR)
        .max(MIN_OUTPUT_BYTES)
}

/// Why a metrics message was not stored: a body that cannot be read (400) or one that
/// translates to more series than it was charged for (413).
enum MetricsFailure {
    Decode(pitot_otlp::OtlpError),
    TooLarge(pitot_otlp::OutputTooLarge),
}

/// The tenant's limits (the defaults when limits are not configured).
fn tenant_limits(state: &AppStateRef, target: &Target) -> Arc<pitot_limits::TenantLimits> {
    state
        .tenant_limits
        .as_ref()
        .map_or_else(Default::default, |l| l.get(&target.tenant))
}

async fn metrics(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OtlpFailure> {
    let state = &state;
    let Received {
        target,
        encoding,
        message,
        guard,
    } = receive(state, &headers, body, DataKind::Metrics).await?;
    let fail = |e: ApiError| OtlpFailure(e, encoding);
    let limits = tenant_limits(state, &target);
    let promote = limits.promote_otel_resource_attributes.clone();
    let max_output_bytes = output_bound(message.len());
    let mut translation =
        decode_off_runtime_if_large(state, &target.tenant, message.len(), move || {
            let request =
                pitot_otlp::decode_metrics(&message, encoding).map_err(MetricsFailure::Decode)?;
            pitot_core::yield_point();
            let translation = pitot_otlp::translate_metrics(
                &request,
                pitot_otlp::MetricsOptions {
                    promote_resource_attributes: &promote,
                    max_output_bytes,
                },
            )
            .map_err(MetricsFailure::TooLarge)?;
            drop(request);
            Ok(translation)
        })
        .await
        .map_err(fail)?
        .map_err(|e| match e {
            MetricsFailure::Decode(e) => fail(ApiError::bad_data(format!(
                "{e} (err-pitot-{})",
                e.reason()
            ))),
            MetricsFailure::TooLarge(e) => fail(ApiError::too_large(e.to_string())),
        })?;
    // The series were encoded exactly and are read back as the view remote write
    // stores from, so both share validation, limits and metering.
    let series = std::mem::take(&mut translation.series);
    let mut view = WriteRequestView::decode(&series)
        .map_err(|e| fail(ApiError::internal(format!("translated OTLP series: {e}"))))?;
    view.metadata = std::mem::take(&mut translation.metadata);
    let distributor = Arc::clone(&state.distributor);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let outcome = distributor
        .push(&target, &view, now_ms)
        .await
        .map_err(|e| fail(push_error(e)))?;
    let exemplars = std::mem::take(&mut translation.exemplar_list)
        .into_iter()
        .map(|e| {
            crate::exemplars::new_exemplar(
                crate::exemplars::labels_of(e.series.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                crate::exemplars::labels_of(e.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                e.value,
                e.timestamp_ms,
            )
        })
        .collect();
    let (_, exemplar_problems) = crate::exemplars::store(state, &target, exemplars)
        .await
        .map_err(fail)?;
    drop(guard);
    for (reason, points) in &translation.rejected_by_reason {
        distributor.count_unsupported(&target, reason, *points);
    }
    let mut problems = translation.errors;
    if let Some(first) = outcome.first_error {
        problems.push(format!(
            "{first} ({} samples stored, {} discarded)",
            outcome.accepted, outcome.discarded
        ));
    }
    problems.extend(exemplar_problems);
    let rejected = translation.rejected_points + outcome.discarded as u64;
    Ok(success(
        pitot_otlp::metrics_response(rejected, problems.join("; "), encoding),
        encoding,
    ))
}

async fn logs(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OtlpFailure> {
    let state = &state;
    let Received {
        target,
        encoding,
        message,
        guard,
    } = receive(state, &headers, body, DataKind::Logs).await?;
    let fail = |e: ApiError| OtlpFailure(e, encoding);
    let limits = tenant_limits(state, &target);
    let labels = limits.otlp_log_stream_label_attributes.clone();
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let translation =
        decode_off_runtime_if_large(state, &target.tenant, message.len(), move || {
            let request = pitot_otlp::decode_logs(&message, encoding)?;
            pitot_core::yield_point();
            Ok::<_, pitot_otlp::OtlpError>(pitot_otlp::translate_logs(
                &request,
                pitot_otlp::LogsOptions {
                    stream_label_attributes: &labels,
                },
                now_ns,
            ))
        })
        .await
        .map_err(fail)?
        .map_err(|e| {
            fail(ApiError::bad_data(format!(
                "{e} (err-pitot-{})",
                e.reason()
            )))
        })?;
    let distributor = Arc::clone(&state.logs.distributor);
    let outcome = distributor
        .push(&target, translation.streams, now_ns)
        .await
        .map_err(|e| fail(push_error(e)))?;
    drop(guard);
    let message = if outcome.errors.is_empty() {
        String::new()
    } else {
        format!(
            "{} ({} log records stored, {} discarded)",
            outcome.errors.join("; "),
            outcome.accepted,
            outcome.discarded
        )
    };
    Ok(success(
        pitot_otlp::logs_response(outcome.discarded as u64, message, encoding),
        encoding,
    ))
}
