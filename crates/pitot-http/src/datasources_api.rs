//! `/api/pitot/v1/datasources`: a tenant's data sources: list, create, change
//! retention, delete (which removes the data, once confirmed).
//!
//! Tenant admins manage their tenant's custom data sources; managed ones are created,
//! changed and deleted by the platform only. Any token of a tenant may list the data
//! sources it is allowed to use.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{DataKind, Origin, TenantId};
use pitot_meta::{DataSource, NewDataSource};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{authenticate, Principal};
use crate::management::{admin, parse_json, target_tenant};
use crate::{ApiError, AppState, AppStateRef};

/// Data source routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/pitot/v1/datasources", get(list).post(create))
        .route(
            "/api/pitot/v1/datasources/{name}",
            get(show).put(update).delete(remove),
        )
}

#[derive(Deserialize, Default)]
struct TenantParam {
    tenant: Option<String>,
    confirm: Option<String>,
}

fn render(ds: &DataSource) -> Value {
    json!({
        "tenant": ds.tenant.as_str(),
        "name": ds.name,
        "type": ds.kind.as_str(),
        "origin": ds.origin.as_str(),
        "retention": if ds.retention_ms == 0 { Value::Null } else { json!(format_retention(ds.retention_ms)) },
        "retention_seconds": ds.retention_ms / 1000,
        "default": ds.is_default,
        "created_at": pitot_core::format_rfc3339_ms(ds.created_at),
    })
}

/// `30d`, `12h`, `90m` or seconds: the largest whole unit.
fn format_retention(ms: i64) -> String {
    let s = ms / 1000;
    for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s % secs == 0 {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

fn parse_retention(raw: &str) -> Result<i64, ApiError> {
    if raw == "0" || raw.is_empty() {
        return Ok(0);
    }
    let ns = crate::loki::params::parse_duration_ns(raw).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid field \"retention\": {raw:?} is not a duration (use 30d, 720h, ... or 0 for the server's default)"
        ))
    })?;
    if ns > 0 && ns < 3_600_000_000_000 {
        return Err(ApiError::bad_data(
            "invalid field \"retention\": the shortest retention is 1h",
        ));
    }
    Ok(ns / 1_000_000)
}

/// The tenant whose data sources are managed, and the caller (an admin of it or the
/// platform).
async fn managing(
    state: &AppState,
    headers: &HeaderMap,
    requested: Option<&str>,
) -> Result<(Principal, TenantId), ApiError> {
    let principal = admin(state, headers).await?;
    let tenant = target_tenant(&principal, requested)?;
    Ok((principal, tenant))
}

fn platform_only(principal: &Principal, ds_origin: Origin, what: &str) -> Result<(), ApiError> {
    if ds_origin == Origin::Managed && !principal.is_platform() {
        return Err(ApiError::forbidden(format!(
            "{what} a managed data source needs the platform token"
        )));
    }
    Ok(())
}

async fn list(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Query(q): Query<TenantParam>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let list = match (&principal, q.tenant.as_deref()) {
        (Principal::Platform { tenant: None }, None) => state.meta.list_datasources(None).await?,
        (Principal::Token(info), requested) => {
            let tenant = target_tenant(&principal, requested)?;
            state
                .datasources
                .of_fresh(&tenant)
                .await?
                .into_iter()
                .filter(|d| info.allows_datasource(&d.name))
                .collect()
        }
        (p, requested) => {
            let tenant = target_tenant(p, requested)?;
            state.datasources.of_fresh(&tenant).await?
        }
    };
    Ok(Json(list.iter().map(render).collect::<Vec<_>>()).into_response())
}

async fn find(state: &AppState, tenant: &TenantId, name: &str) -> Result<DataSource, ApiError> {
    state
        .datasources
        .of_fresh(tenant)
        .await?
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "data source {name:?} not found for tenant {:?}",
                tenant.as_str()
            ))
        })
}

async fn show(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<TenantParam>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let tenant = target_tenant(&principal, q.tenant.as_deref())?;
    if let Principal::Token(info) = &principal {
        if !info.allows_datasource(&name) {
            return Err(ApiError::not_found(format!(
                "data source {name:?} not found for this token"
            )));
        }
    }
    Ok(Json(render(&find(&state, &tenant, &name).await?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    tenant: Option<String>,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    origin: Option<String>,
    retention: Option<String>,
}

async fn create(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let req: CreateRequest = parse_json(&body)?;
    let (principal, tenant) = managing(&state, &headers, req.tenant.as_deref()).await?;
    let kind = DataKind::parse(&req.kind).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid field \"type\": {:?} is not a data source type (metrics, logs)",
            req.kind
        ))
    })?;
    let origin = match req.origin.as_deref() {
        None => Origin::Custom,
        Some(raw) => Origin::parse(raw).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid field \"origin\": {raw:?} is not an origin (custom, managed)"
            ))
        })?,
    };
    platform_only(&principal, origin, "creating")?;
    let retention_ms = parse_retention(req.retention.as_deref().unwrap_or("0"))?;
    // A tenant is held to its limit; the operator may go past it deliberately.
    let max_datasources = match (&principal, &state.tenant_limits) {
        (Principal::Token(_), Some(limits)) => Some(limits.get(&tenant).max_data_sources),
        _ => None,
    };
    let created = state
        .datasources
        .create(NewDataSource {
            tenant,
            name: req.name,
            kind,
            origin,
            retention_ms,
            max_datasources,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(render(&created))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    retention: String,
}

async fn update(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<TenantParam>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateRequest = parse_json(&body)?;
    let (principal, tenant) = managing(&state, &headers, q.tenant.as_deref()).await?;
    let ds = find(&state, &tenant, &name).await?;
    platform_only(&principal, ds.origin, "changing")?;
    let retention_ms = parse_retention(&req.retention)?;
    state
        .datasources
        .set_retention(&tenant, &name, retention_ms)
        .await?;
    Ok(Json(render(&find(&state, &tenant, &name).await?)).into_response())
}

async fn remove(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<TenantParam>,
) -> Result<Response, ApiError> {
    let (principal, tenant) = managing(&state, &headers, q.tenant.as_deref()).await?;
    let ds = find(&state, &tenant, &name).await?;
    platform_only(&principal, ds.origin, "deleting")?;
    if ds.is_default {
        return Err(ApiError::conflict(format!(
            "data source {name:?} is one of the tenant's default data sources and cannot be deleted"
        )));
    }
    if q.confirm.as_deref() != Some(name.as_str()) {
        return Err(ApiError::bad_data(format!(
            "deleting data source {name:?} removes all of its data for good: repeat the request with ?confirm={name}"
        )));
    }
    let Some(admin) = &state.admin else {
        return Err(ApiError::not_found("this process runs no storage"));
    };
    // Forget it first, so no push or query resolves to it while its data goes.
    state.datasources.delete(&tenant, &name).await?;
    admin
        .delete_data(&ds.storage, ds.kind)
        .await
        .map_err(ApiError::internal)?;
    if let (DataKind::Metrics, Some(exemplars)) = (ds.kind, &state.exemplars) {
        let (exemplars, key) = (std::sync::Arc::clone(exemplars), ds.storage.clone());
        tokio::task::spawn_blocking(move || exemplars.forget(&key))
            .await
            .map_err(|e| ApiError::internal(format!("forgetting exemplars: {e}")))?
            .map_err(|e| ApiError::internal(format!("forgetting exemplars: {e}")))?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
