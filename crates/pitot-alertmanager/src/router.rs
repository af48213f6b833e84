//! An axum router for API v2, generic over how the tenant is obtained: the server crate passes
//! its authenticated-tenant extractor `T` (anything that converts into a [`TenantId`]) and a
//! state from which an `Arc<Alertmanager>` can be taken, and nests the router where it wants
//! (Mimir serves it under `/alertmanager`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::api::{self, AlertFilter};
use crate::engine::Alertmanager;
use crate::error::AmError;
use pitot_core::TenantId;

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(Value::String(self.to_string()))).into_response()
    }
}

type AmResult = Result<Response, AmError>;

fn ok(v: Value) -> AmResult {
    Ok(Json(v).into_response())
}

/// `GET/POST /api/v2/alerts`, `GET /api/v2/alerts/groups`, `GET/POST /api/v2/silences`,
/// `GET/DELETE /api/v2/silence/{id}`, `GET /api/v2/status`, `GET /api/v2/receivers`.
pub fn api_v2_router<S, T>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Alertmanager>: FromRef<S>,
    T: FromRequestParts<S> + Into<TenantId> + Send + 'static,
{
    Router::new()
        .route(
            "/api/v2/alerts",
            get(get_alerts::<T>).post(post_alerts::<T>),
        )
        .route("/api/v2/alerts/groups", get(get_groups::<T>))
        .route(
            "/api/v2/silences",
            get(get_silences::<T>).post(post_silence::<T>),
        )
        .route(
            "/api/v2/silence/{id}",
            get(get_silence::<T>).delete(delete_silence::<T>),
        )
        .route("/api/v2/status", get(get_status::<T>))
        .route("/api/v2/receivers", get(get_receivers::<T>))
}

async fn get_alerts<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    RawQuery(q): RawQuery,
) -> AmResult {
    let f = AlertFilter::from_query(q.as_deref().unwrap_or(""))?;
    ok(api::get_alerts(&am, &t.into(), &f)?)
}

async fn post_alerts<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    body: Bytes,
) -> AmResult {
    api::post_alerts(&am, &t.into(), &body)?;
    Ok(StatusCode::OK.into_response())
}

async fn get_groups<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    RawQuery(q): RawQuery,
) -> AmResult {
    let f = AlertFilter::from_query(q.as_deref().unwrap_or(""))?;
    ok(api::get_alert_groups(&am, &t.into(), &f)?)
}

async fn get_silences<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    RawQuery(q): RawQuery,
) -> AmResult {
    let filter = api::parse_filter_query(q.as_deref().unwrap_or(""))?;
    ok(api::get_silences(&am, &t.into(), &filter)?)
}

async fn post_silence<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    body: Bytes,
) -> AmResult {
    ok(api::post_silence(&am, &t.into(), &body)?)
}

async fn get_silence<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    Path(id): Path<String>,
) -> AmResult {
    ok(api::get_silence(&am, &t.into(), &id)?)
}

async fn delete_silence<T: Into<TenantId>>(
    State(am): State<Arc<Alertmanager>>,
    t: T,
    Path(id): Path<String>,
) -> AmResult {
    api::delete_silence(&am, &t.into(), &id)?;
    Ok(StatusCode::OK.into_response())
}

async fn get_status<T: Into<TenantId>>(State(am): State<Arc<Alertmanager>>, t: T) -> AmResult {
    ok(api::get_status(&am, &t.into())?)
}

async fn get_receivers<T: Into<TenantId>>(State(am): State<Arc<Alertmanager>>, t: T) -> AmResult {
    ok(api::get_receivers(&am, &t.into())?)
}
