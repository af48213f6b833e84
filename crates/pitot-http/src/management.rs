//! Pitot's management API (`/api/pitot/v1/...`): tenants and tokens.
//!
//! Tenant admins (`admin` scope) manage their own tenant's tokens; creating tenants and
//! managing other tenants' tokens needs the platform token, so no tenant can ever mint
//! a credential for another.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use pitot_core::{Scope, TenantId};
use pitot_meta::NewToken;
use serde::Deserialize;

use crate::auth::{authenticate, Principal};
use crate::{ApiError, AppState, AppStateRef};

/// Management routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route(
            "/api/pitot/v1/tenants",
            get(list_tenants).post(create_tenant),
        )
        .route("/api/pitot/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/pitot/v1/tokens/{id}", delete(revoke_token))
        .route("/api/pitot/v1/admin/flush", axum::routing::post(flush))
}

/// A JSON body that failed to parse answers 400 with serde's message (which names the field).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))
}

pub(crate) async fn admin(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let principal = authenticate(state, headers).await?;
    if let Principal::Token(info) = &principal {
        if !info.allows(Scope::Admin) {
            return Err(ApiError::forbidden(format!(
                "token {} lacks the scope admin needed here",
                info.id
            )));
        }
    }
    Ok(principal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

async fn create_tenant(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let principal = admin(&state, &headers).await?;
    if !principal.is_platform() {
        return Err(ApiError::forbidden(
            "creating tenants needs the platform token",
        ));
    }
    let req: CreateTenant = parse_json(&body)?;
    let id = TenantId::new(req.name)
        .map_err(|e| ApiError::bad_data(format!("invalid field \"name\": {e}")))?;
    let tenant = state.meta.create_tenant(&id).await?;
    state.datasources.reload(&id).await?;
    Ok((StatusCode::CREATED, Json(tenant)).into_response())
}

async fn list_tenants(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = admin(&state, &headers).await?;
    let tenants = match &principal {
        Principal::Platform { .. } => state.meta.list_tenants().await?,
        Principal::Token(info) => state
            .meta
            .get_tenant(&info.tenant)
            .await?
            .into_iter()
            .collect(),
    };
    Ok(Json(tenants).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    tenant: Option<String>,
    scopes: Vec<String>,
    name: Option<String>,
    datasources: Option<Vec<String>>,
}

/// The tenant a management call may act on: any for the platform, its own for an admin.
pub(crate) fn target_tenant(
    principal: &Principal,
    requested: Option<&str>,
) -> Result<TenantId, ApiError> {
    let requested = requested
        .map(|t| {
            TenantId::new(t)
                .map_err(|e| ApiError::bad_data(format!("invalid field \"tenant\": {e}")))
        })
        .transpose()?;
    match principal {
        Principal::Platform { tenant } => requested.or_else(|| tenant.clone()).ok_or_else(|| {
            ApiError::bad_data("field \"tenant\" is required with the platform token")
        }),
        Principal::Token(info) => match requested {
            Some(t) if t != info.tenant => Err(ApiError::forbidden(format!(
                "a token of tenant {:?} cannot manage tenant {t:?}; use the platform token",
                info.tenant.as_str()
            ))),
            _ => Ok(info.tenant.clone()),
        },
    }
}

/// Refuses a token wider than `creator`: a tenant admin restricted to some data
/// sources may only mint tokens restricted to a subset of them, and no token may get a
/// scope its creator lacks. Otherwise a restricted admin could mint itself the
/// unrestricted access it was denied.
fn within(
    creator: &pitot_meta::TokenInfo,
    scopes: &[Scope],
    datasources: Option<&[String]>,
) -> Result<(), ApiError> {
    if let Some(scope) = scopes.iter().find(|s| !creator.allows(**s)) {
        return Err(ApiError::forbidden(format!(
            "token {} lacks the scope {scope} and cannot grant it (err-pitot-token-wider-than-creator); ask for a token with the scope, or use the platform token",
            creator.id
        )));
    }
    let Some(own) = &creator.datasources else {
        return Ok(());
    };
    match datasources {
        None => Err(ApiError::forbidden(format!(
            "token {} may only use the data sources {} and cannot mint a token for all of them (err-pitot-token-wider-than-creator); set \"datasources\" to a subset of its own",
            creator.id,
            own.join(",")
        ))),
        Some(asked) => match asked.iter().find(|n| !creator.allows_datasource(n)) {
            Some(name) => Err(ApiError::forbidden(format!(
                "token {} may only use the data sources {} and cannot grant {name:?} (err-pitot-token-wider-than-creator); set \"datasources\" to a subset of its own",
                creator.id,
                own.join(",")
            ))),
            None => Ok(()),
        },
    }
}

async fn create_token(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let principal = admin(&state, &headers).await?;
    let req: CreateToken = parse_json(&body)?;
    let tenant = target_tenant(&principal, req.tenant.as_deref())?;
    let mut scopes = Vec::new();
    for raw in &req.scopes {
        scopes.push(
            raw.parse::<Scope>()
                .map_err(|e| ApiError::bad_data(format!("invalid field \"scopes\": {e}")))?,
        );
    }
    if let Principal::Token(creator) = &principal {
        within(creator, &scopes, req.datasources.as_deref())?;
    }
    if let Some(names) = &req.datasources {
        let known = state.datasources.of_fresh(&tenant).await?;
        for name in names {
            if !known.iter().any(|d| &d.name == name) {
                return Err(ApiError::bad_data(format!(
                    "invalid field \"datasources\": tenant {:?} has no data source {name:?}",
                    tenant.as_str()
                )));
            }
        }
    }
    // A tenant is held to its limit; the operator may go past it deliberately.
    let max_tokens = match (&principal, &state.tenant_limits) {
        (Principal::Token(_), Some(limits)) => Some(limits.get(&tenant).max_tokens),
        _ => None,
    };
    let created = state
        .meta
        .create_token(NewToken {
            tenant,
            scopes,
            name: req.name,
            datasources: req.datasources,
            max_tokens,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize)]
struct TokenFilter {
    tenant: Option<String>,
}

async fn list_tokens(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Query(filter): Query<TokenFilter>,
) -> Result<Response, ApiError> {
    let principal = admin(&state, &headers).await?;
    let tokens = match (&principal, filter.tenant.as_deref()) {
        (Principal::Platform { tenant: None }, None) => state.meta.list_tokens(None).await?,
        (p, requested) => {
            let tenant = target_tenant(p, requested)?;
            state.meta.list_tokens(Some(&tenant)).await?
        }
    };
    Ok(Json(tokens).into_response())
}

async fn revoke_token(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let principal = admin(&state, &headers).await?;
    if let Principal::Token(info) = &principal {
        let own = state.meta.list_tokens(Some(&info.tenant)).await?;
        let Some(target) = own.iter().find(|t| t.id == id) else {
            return Err(ApiError::not_found(format!(
                "token {id:?} not found in tenant {:?}",
                info.tenant.as_str()
            )));
        };
        // A restricted admin manages only tokens no wider than itself.
        within(info, &target.scopes, target.datasources.as_deref())?;
    }
    if state.meta.revoke_token(&id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("token {id:?} not found")))
    }
}

async fn flush(State(state): State<AppStateRef>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    if !principal.is_platform() {
        return Err(ApiError::forbidden(
            "flushing storage needs the platform token",
        ));
    }
    let Some(admin) = &state.admin else {
        return Err(ApiError::not_found("this process runs no storage"));
    };
    let blocks = admin.flush().await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({"blocks_written": blocks})).into_response())
}
