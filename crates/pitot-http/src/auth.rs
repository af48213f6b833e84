//! Who is calling: a tenant token (Bearer, `X-Token`, or the basic-auth password) or
//! the platform token, which acts for the tenant named in `X-Scope-OrgID`.

use axum::http::HeaderMap;
use base64::Engine;
use pitot_core::{Scope, TenantId};
use pitot_meta::TokenInfo;
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A tenant's token.
    Token(TokenInfo),
    /// The operator; `tenant` is taken from `X-Scope-OrgID` when present.
    Platform {
        /// The tenant the operator acts for.
        tenant: Option<TenantId>,
    },
}

impl Principal {
    /// The tenant this request acts for, if the caller has `scope` there.
    pub fn require(&self, scope: Scope) -> Result<TenantId, ApiError> {
        match self {
            Principal::Token(info) => {
                if info.allows(scope) {
                    Ok(info.tenant.clone())
                } else {
                    Err(ApiError::forbidden(format!(
                        "token {} lacks the scope {scope} needed here (it has: {})",
                        info.id,
                        info.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
                    )))
                }
            }
            Principal::Platform { tenant: Some(t) } => Ok(t.clone()),
            Principal::Platform { tenant: None } => Err(ApiError::bad_data(
                "the platform token acts for a tenant named in the X-Scope-OrgID header, which is missing",
            )),
        }
    }

    /// Whether this is the platform token.
    pub fn is_platform(&self) -> bool {
        matches!(self, Principal::Platform { .. })
    }
}

/// Extracts the presented secret from the request headers.
pub fn presented_secret(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not valid ASCII"))?;
        let (kind, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if kind.eq_ignore_ascii_case("bearer") {
            return Ok(Some(rest.to_string()));
        }
        if kind.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| {
                    ApiError::unauthorized("Authorization: Basic credentials are not valid base64")
                })?;
            let decoded = String::from_utf8(decoded).map_err(|_| {
                ApiError::unauthorized("Authorization: Basic credentials are not UTF-8")
            })?;
            let (_, password) = decoded.split_once(':').ok_or_else(|| {
                ApiError::unauthorized("Authorization: Basic credentials lack a ':' separator")
            })?;
            return Ok(Some(password.to_string()));
        }
        return Err(ApiError::unauthorized(format!(
            "unsupported Authorization scheme {kind:?}: use Bearer <token> or Basic with the token as password"
        )));
    }
    if let Some(value) = headers.get("x-token") {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("X-Token header is not valid ASCII"))?;
        return Ok(Some(value.trim().to_string()));
    }
    Ok(None)
}

/// Whether `secret` is the platform token, compared in constant time. An empty
/// platform token (never accepted at start, but guarded here too) matches nothing.
pub fn is_platform_secret(state: &AppState, secret: &str) -> bool {
    state
        .platform_token
        .as_ref()
        .filter(|p| !p.is_empty())
        .is_some_and(|p| bool::from(p.as_bytes().ct_eq(secret.as_bytes())))
}

/// Whether the request presents the platform token (for operator-only views such as
/// the per-tenant series of `/metrics`); any other credential, or none, is not.
pub fn presents_platform_token(state: &AppState, headers: &HeaderMap) -> bool {
    matches!(presented_secret(headers), Ok(Some(secret)) if is_platform_secret(state, &secret))
}

/// Authenticates the request.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let secret = match presented_secret(headers)? {
        // An empty credential never authenticates, whatever secrets are configured.
        Some(secret) if !secret.is_empty() => secret,
        _ => {
            return Err(ApiError::unauthorized(
                "no token: send Authorization: Bearer <token>, X-Token: <token>, or basic auth with the token as password",
            ))
        }
    };
    if is_platform_secret(state, &secret) {
        let tenant = match headers.get("x-scope-orgid") {
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| ApiError::bad_data("X-Scope-OrgID is not valid ASCII"))?;
                Some(
                    TenantId::new(v)
                        .map_err(|e| ApiError::bad_data(format!("X-Scope-OrgID: {e}")))?,
                )
            }
            None => None,
        };
        return Ok(Principal::Platform { tenant });
    }
    match state.meta.authenticate(&secret).await? {
        Some(info) => Ok(Principal::Token(info)),
        None => Err(ApiError::unauthorized("invalid or revoked token")),
    }
}
