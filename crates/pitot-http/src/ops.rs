//! Operations endpoints: `/metrics`, `/ready`, `/health` (also under Prometheus' names
//! `/-/ready` and `/-/healthy`, which its operators' probes and scripts call).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppStateRef;

/// Operations routes (unauthenticated, as Prometheus and Mimir serve them; `/metrics`
/// shows per-tenant series only to the platform token).
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/-/ready", get(ready))
        .route("/health", get(healthy))
        .route("/-/healthy", get(healthy))
}

/// Whether the process serves requests at all (readiness is [`ready`]).
async fn healthy() -> &'static str {
    "OK\n"
}

/// The answer to a path no route serves: a 404 that names it, in the API's error
/// format, instead of an empty body.
pub(crate) async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    crate::ApiError::not_found(format!(
        "no endpoint serves {method} {}; the README lists the API's paths",
        uri.path()
    ))
    .into_response()
}

async fn ready(State(state): State<AppStateRef>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: storage is recovering\n",
        )
            .into_response()
    }
}

/// `/metrics`: anyone may scrape the server's own health, but series labelled with a
/// tenant (its ID and volumes) are the operator's business: without the platform token
/// they are left out, so no tenant learns which other tenants exist or how big they are.
async fn metrics(State(state): State<AppStateRef>, headers: HeaderMap) -> Response {
    let operator = crate::auth::presents_platform_token(&state, &headers);
    let mut out = String::new();
    crate::process_metrics::render(&state.status, &mut out);
    state.http_metrics.render(&mut out);
    crate::metrics::render_distributor(&state.distributor, &mut out);
    crate::metrics::render_logs_distributor(&state.logs.distributor, &mut out);
    state.query_pool.render_metrics(&mut out);
    crate::metrics::render_parse_cache(&mut out);
    for collector in &state.collectors {
        collector(&mut out);
    }
    if !operator {
        out = crate::metrics::without_tenant_series(&out);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
