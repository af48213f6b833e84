//! The per-tenant Alertmanager over HTTP: its configuration as Mimir serves it
//! (`GET|POST|DELETE /api/v1/alerts`, a YAML document with `alertmanager_config` and
//! `template_files`) and Alertmanager's API v2 under `/alertmanager/api/v2/`, so
//! `amtool` and Grafana's Alertmanager data source work against it.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_alertmanager::{api, AlertmanagerConfig, AmError};
use pitot_core::{Scope, TenantId};
use serde_json::Value;

use crate::auth::authenticate;
use crate::{ApiError, AppState, AppStateRef};

/// Alertmanager routes.
pub fn router() -> Router<AppStateRef> {
    let v2 = "/alertmanager/api/v2";
    Router::new()
        .route(
            "/api/v1/alerts",
            get(get_config).post(set_config).delete(delete_config),
        )
        .route(&format!("{v2}/alerts"), get(alerts).post(post_alerts))
        .route(&format!("{v2}/alerts/groups"), get(groups))
        .route(&format!("{v2}/silences"), get(silences).post(post_silence))
        .route(
            &format!("{v2}/silence/{{id}}"),
            get(silence).delete(delete_silence),
        )
        .route(&format!("{v2}/status"), get(status))
        .route(&format!("{v2}/receivers"), get(receivers))
}

fn am(state: &AppState) -> Result<&pitot_alertmanager::Alertmanager, ApiError> {
    state
        .alertmanager
        .as_deref()
        .ok_or_else(|| ApiError::not_found("the alertmanager is not enabled on this server"))
}

/// The caller's tenant for an Alertmanager (or contact point) request: `alerts:read` for
/// GET, `alerts:write` otherwise, and a token without a data-source restriction.
pub(crate) async fn tenant(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<TenantId, ApiError> {
    let scope = if method == Method::GET {
        Scope::AlertsRead
    } else {
        Scope::AlertsWrite
    };
    let principal = authenticate(state, headers).await?;
    let tenant = principal.require(scope)?;
    // The Alertmanager is the tenant's, fed by rules over every data source: a token
    // restricted to some data sources would read (or silence) alerts about the others.
    if let crate::auth::Principal::Token(info) = &principal {
        if let Some(allowed) = &info.datasources {
            return Err(ApiError::forbidden(format!(
                "alertmanager-needs-unrestricted-token: token {} may only use the data sources {}, and the Alertmanager holds the alerts of all of the tenant's data sources; read your data sources' rule alerts at /prometheus/api/v1/alerts, or use a token without a data-source restriction",
                info.id,
                allowed.join(",")
            )));
        }
    }
    Ok(tenant)
}

fn am_error(e: AmError) -> ApiError {
    let status = e.http_status();
    match status {
        400 => ApiError::bad_data(e.to_string()),
        404 => ApiError::not_found(e.to_string()),
        _ => ApiError::internal(e.to_string()),
    }
}

fn answer(result: Result<Value, AmError>) -> Result<Response, ApiError> {
    result.map(|v| Json(v).into_response()).map_err(am_error)
}

async fn get_config(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let stored = state
        .meta
        .alertmanager_configs()
        .await?
        .into_iter()
        .find(|(t, _)| t == &tenant)
        .ok_or_else(|| ApiError::not_found("alertmanager config not found"))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/yaml")],
        stored.1,
    )
        .into_response())
}

/// Validates, stores and applies a configuration document.
async fn set_config(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let am = am(&state)?;
    let limits = am.limits(&tenant);
    // The size limit is checked before the document is parsed, so an oversized upload costs
    // no parsing.
    if pitot_alertmanager::limits::exceeds(body.len() as u64, limits.max_config_size_bytes) {
        return Err(am_error(pitot_alertmanager::limits::refused(
            "alertmanager-max-config-size",
            format!(
                "the configuration is {} bytes (limit: {})",
                body.len(),
                limits.max_config_size_bytes
            ),
            "alertmanager_max_config_size_bytes",
        )));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_data("body is not UTF-8 YAML"))?;
    let config = AlertmanagerConfig::parse_document(text).map_err(am_error)?;
    pitot_alertmanager::limits::check_config(&limits, body.len(), &config).map_err(am_error)?;
    pitot_alertmanager::egress::check_receivers(&am.egress(), &config).map_err(am_error)?;
    let _writing = am.lock_config_writes(&tenant).await;
    state
        .meta
        .set_alertmanager_config(&tenant, Some(text))
        .await?;
    am.set_config(&tenant, config).map_err(am_error)?;
    Ok(StatusCode::CREATED.into_response())
}

async fn delete_config(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let _writing = am(&state)?.lock_config_writes(&tenant).await;
    state.meta.set_alertmanager_config(&tenant, None).await?;
    am(&state)?.delete_config(&tenant).map_err(am_error)?;
    crate::contact_points::apply(&state, &tenant).await?;
    Ok(StatusCode::OK.into_response())
}

async fn alerts(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let filter = api::AlertFilter::from_query(q.as_deref().unwrap_or("")).map_err(am_error)?;
    answer(api::get_alerts(am(&state)?, &tenant, &filter))
}

async fn post_alerts(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::post_alerts(am(&state)?, &tenant, &body))
}

async fn groups(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let filter = api::AlertFilter::from_query(q.as_deref().unwrap_or("")).map_err(am_error)?;
    answer(api::get_alert_groups(am(&state)?, &tenant, &filter))
}

async fn silences(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    let filter = api::parse_filter_query(q.as_deref().unwrap_or("")).map_err(am_error)?;
    answer(api::get_silences(am(&state)?, &tenant, &filter))
}

async fn post_silence(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::post_silence(am(&state)?, &tenant, &body))
}

async fn silence(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::get_silence(am(&state)?, &tenant, &id))
}

async fn delete_silence(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::delete_silence(am(&state)?, &tenant, &id))
}

async fn status(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::get_status(am(&state)?, &tenant))
}

async fn receivers(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, &method).await?;
    answer(api::get_receivers(am(&state)?, &tenant))
}
