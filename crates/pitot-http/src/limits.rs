//! Per-tenant limits over HTTP: the operator reads and changes them at
//! `/api/pitot/v1/tenants/<name>/limits`; a tenant reads its own, and its current use,
//! at `/api/v1/user_limits` and `/api/v1/user_stats` as Mimir serves them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{Scope, TenantId};
use pitot_limits::{LimitOverrides, Limits};
use serde_json::json;

use crate::auth::{authenticate, Principal};
use crate::{ApiError, AppState, AppStateRef};

/// Limit routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route(
            "/api/pitot/v1/tenants/{name}/limits",
            get(get_limits).put(put_limits).delete(delete_limits),
        )
        .route("/api/v1/user_limits", get(user_limits))
        .route("/prometheus/api/v1/user_limits", get(user_limits))
        .route("/api/v1/user_stats", get(user_stats))
        .route("/prometheus/api/v1/user_stats", get(user_stats))
}

fn limits(state: &AppState) -> Result<&Arc<Limits>, ApiError> {
    state
        .tenant_limits
        .as_ref()
        .ok_or_else(|| ApiError::not_found("per-tenant limits are not enabled on this server"))
}

fn tenant_param(name: &str) -> Result<TenantId, ApiError> {
    TenantId::new(name).map_err(|e| ApiError::bad_data(format!("invalid tenant in path: {e}")))
}

/// The operator, or a token of the tenant itself with a read scope (as for
/// `user_limits`), may read a tenant's limits.
async fn may_read(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantId,
) -> Result<(), ApiError> {
    let principal = authenticate(state, headers).await?;
    match &principal {
        Principal::Platform { .. } => Ok(()),
        Principal::Token(info) if &info.tenant == tenant => reader_tenant(&principal).map(|_| ()),
        Principal::Token(_) => Err(ApiError::not_found(format!("tenant {tenant} not found"))),
    }
}

async fn require_platform(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if authenticate(state, headers).await?.is_platform() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "changing a tenant's limits needs the platform token",
        ))
    }
}

async fn existing(state: &AppState, tenant: &TenantId) -> Result<(), ApiError> {
    match state.meta.get_tenant(tenant).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("tenant {tenant} not found"))),
    }
}

/// A tenant's effective limits, the overrides set through the API (`overrides`) and by
/// the runtime-overrides file (`file_overrides`), and where each limit's value comes
/// from (`sources`: `api`, `runtime_file` or `default`; the API wins over the file).
fn answer(limits: &Limits, tenant: &TenantId) -> Response {
    let api = limits.api_overrides(tenant);
    let file = limits.file_overrides(tenant);
    let effective = serde_json::to_value(&*limits.get(tenant)).unwrap_or_default();
    let set_in = |o: &pitot_limits::LimitOverrides| match serde_json::to_value(o) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (api_keys, file_keys) = (set_in(&api), set_in(&file));
    let sources: serde_json::Map<String, serde_json::Value> = effective
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| {
            let source = if api_keys.contains_key(name) {
                "api"
            } else if file_keys.contains_key(name) {
                "runtime_file"
            } else {
                "default"
            };
            (name.clone(), source.into())
        })
        .collect();
    Json(json!({
        "tenant": tenant,
        "limits": effective,
        "overrides": api,
        "file_overrides": file,
        "sources": sources,
    }))
    .into_response()
}

async fn get_limits(
    State(state): State<AppStateRef>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant_param(&name)?;
    may_read(&state, &headers, &tenant).await?;
    existing(&state, &tenant).await?;
    Ok(answer(limits(&state)?, &tenant))
}

/// Sets the limits the body names (others keep their value); answers the new limits.
async fn put_limits(
    State(state): State<AppStateRef>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant_param(&name)?;
    require_platform(&state, &headers).await?;
    existing(&state, &tenant).await?;
    let change: LimitOverrides = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_data(format!("invalid limits: {e}")))?;
    change.validate().map_err(ApiError::bad_data)?;
    let all = limits(&state)?;
    let mut overrides = all.api_overrides(&tenant);
    overrides.merge(&change);
    let text = serde_json::to_string(&overrides).map_err(|e| ApiError::internal(e.to_string()))?;
    state.meta.set_limit_overrides(&tenant, &text).await?;
    all.set_api_overrides(&tenant, overrides);
    Ok(answer(all, &tenant))
}

/// Removes every API override of the tenant (the defaults and the runtime file apply).
async fn delete_limits(
    State(state): State<AppStateRef>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant_param(&name)?;
    require_platform(&state, &headers).await?;
    existing(&state, &tenant).await?;
    let all = limits(&state)?;
    state.meta.set_limit_overrides(&tenant, "").await?;
    all.set_api_overrides(&tenant, LimitOverrides::default());
    Ok(answer(all, &tenant))
}

/// The caller's tenant: a token's own, or `X-Scope-OrgID` for the platform token. A
/// tenant's limits and current use are read data, so the token needs a read scope
/// (`metrics:read` or `logs:read`, either: Mimir and Loki serve these to readers), not
/// merely to exist: a push-only agent's token cannot read them.
async fn caller_tenant(state: &AppState, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    reader_tenant(&authenticate(state, headers).await?)
}

/// The tenant `principal` reads for, if it holds a read scope there.
fn reader_tenant(principal: &Principal) -> Result<TenantId, ApiError> {
    match principal {
        Principal::Token(info)
            if !info.allows(Scope::MetricsRead) && !info.allows(Scope::LogsRead) =>
        {
            Err(ApiError::forbidden(format!(
                "token {} lacks a read scope (metrics:read or logs:read) needed to read the tenant's limits and usage (it has: {})",
                info.id,
                info.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
            )))
        }
        Principal::Token(info) => Ok(info.tenant.clone()),
        Principal::Platform { .. } => principal.require(Scope::MetricsRead),
    }
}

async fn user_limits(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = caller_tenant(&state, &headers).await?;
    Ok(Json(&*limits(&state)?.get(&tenant)).into_response())
}

/// Mimir's `user_stats`: active series and the ingestion rate (samples/s, averaged
/// over about a minute), plus Pitot's log figures.
async fn user_stats(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = caller_tenant(&state, &headers).await?;
    let usage = match &state.admin {
        Some(admin) => admin.tenant_usage(&tenant),
        None => Default::default(),
    };
    let rate = state.distributor.ingestion_rate(&tenant);
    Ok(Json(json!({
        "numSeries": usage.series,
        "ingestionRate": rate,
        "APIIngestionRate": rate,
        "RuleIngestionRate": 0.0,
        "numStreams": usage.streams,
        "logBytesIngestionRate": state.logs.distributor.ingestion_rate(&tenant),
    }))
    .into_response())
}
