//! Rules: the Mimir/Cortex configuration API (`/prometheus/config/v1/rules...`, YAML in
//! and out) and Prometheus' read API (`/api/v1/rules`, `/prometheus/api/v1/alerts`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{Scope, TenantId};
use pitot_rules::{ExprLanguage, RuleGroup, ValidationOptions};
use serde::Deserialize;
use serde_json::json;

use crate::auth::authenticate;
use crate::{ApiError, AppState, AppStateRef};

/// Rule routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/prometheus/config/v1/rules", get(list_all))
        .route(
            "/prometheus/config/v1/rules/{namespace}",
            get(list_namespace).post(set_group).delete(delete_namespace),
        )
        .route(
            "/prometheus/config/v1/rules/{namespace}/{group}",
            get(get_group).delete(delete_group),
        )
        .route("/api/v1/rules", get(rules_api))
        .route("/prometheus/api/v1/rules", get(rules_api))
        .route("/prometheus/api/v1/alerts", get(alerts_api))
}

async fn tenant(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<TenantId, ApiError> {
    authenticate(state, headers).await?.require(scope)
}

fn yaml(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/yaml")], text).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "data": null, "errorType": "", "error": ""})),
    )
        .into_response()
}

fn check_name(what: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 256 || value.contains('/') {
        return Err(ApiError::bad_data(format!(
            "invalid {what} {value:?}: 1 to 256 characters, no '/'"
        )));
    }
    Ok(())
}

/// Groups of a tenant as `namespace -> [group YAML values]`, optionally one namespace.
async fn grouped(
    state: &AppState,
    tenant: &TenantId,
    namespace: Option<&str>,
) -> Result<BTreeMap<String, Vec<serde_yaml::Value>>, ApiError> {
    let mut out: BTreeMap<String, Vec<serde_yaml::Value>> = BTreeMap::new();
    for g in state.meta.list_rule_groups(Some(tenant)).await? {
        if namespace.is_some_and(|ns| ns != g.namespace) {
            continue;
        }
        let value: serde_yaml::Value = serde_yaml::from_str(&g.yaml)
            .map_err(|e| ApiError::internal(format!("stored rule group does not parse: {e}")))?;
        out.entry(g.namespace).or_default().push(value);
    }
    Ok(out)
}

fn to_yaml<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_yaml::to_string(v).map_err(|e| ApiError::internal(e.to_string()))
}

async fn list_all(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesRead).await?;
    let groups = grouped(&state, &tenant, None).await?;
    if groups.is_empty() {
        return Err(ApiError::not_found("no rule groups found"));
    }
    Ok(yaml(StatusCode::OK, to_yaml(&groups)?))
}

async fn list_namespace(
    State(state): State<AppStateRef>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesRead).await?;
    let groups = grouped(&state, &tenant, Some(&namespace)).await?;
    if groups.is_empty() {
        return Err(ApiError::not_found(format!(
            "no rule groups found in namespace {namespace:?}"
        )));
    }
    Ok(yaml(StatusCode::OK, to_yaml(&groups)?))
}

async fn get_group(
    State(state): State<AppStateRef>,
    Path((namespace, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesRead).await?;
    let found = state
        .meta
        .list_rule_groups(Some(&tenant))
        .await?
        .into_iter()
        .find(|g| g.namespace == namespace && g.name == group)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "group {group:?} not found in namespace {namespace:?}"
            ))
        })?;
    Ok(yaml(StatusCode::OK, found.yaml))
}

/// Creates or replaces a group (the YAML of one group, as `mimirtool` and Grafana send).
async fn set_group(
    State(state): State<AppStateRef>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesWrite).await?;
    check_name("namespace", &namespace)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_data("rule group body is not UTF-8 YAML"))?;
    let limits = state.tenant_limits.as_ref().map(|l| l.get(&tenant));
    let opts = ValidationOptions {
        language: ExprLanguage::PromQL,
        max_groups: 0,
        max_rules_per_group: limits
            .as_ref()
            .map_or(0, |l| l.ruler_max_rules_per_rule_group as usize),
    };
    let group = RuleGroup::parse(text, &opts).map_err(|e| ApiError::bad_data(e.to_string()))?;
    check_name("group name", &group.name)?;
    if let Some(l) = &limits {
        let max = l.ruler_max_rule_groups_per_tenant as usize;
        let existing = state.meta.list_rule_groups(Some(&tenant)).await?;
        let others = existing
            .iter()
            .filter(|g| !(g.namespace == namespace && g.name == group.name))
            .count();
        if max > 0 && others + 1 > max {
            return Err(ApiError::bad_data(format!(
                "per-tenant rule groups limit (limit: {max}) exceeded (ruler_max_rule_groups_per_tenant)"
            )));
        }
    }
    let stored = group.to_yaml();
    state
        .meta
        .put_rule_group(&tenant, &namespace, &group.name, &stored)
        .await?;
    resync(&state).await;
    Ok(accepted())
}

async fn delete_group(
    State(state): State<AppStateRef>,
    Path((namespace, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(&tenant, &namespace, Some(&group))
        .await?
        == 0
    {
        return Err(ApiError::not_found(format!(
            "group {group:?} not found in namespace {namespace:?}"
        )));
    }
    resync(&state).await;
    Ok(accepted())
}

async fn delete_namespace(
    State(state): State<AppStateRef>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(&tenant, &namespace, None)
        .await?
        == 0
    {
        return Err(ApiError::not_found(format!(
            "namespace {namespace:?} not found"
        )));
    }
    resync(&state).await;
    Ok(accepted())
}

/// Makes a change take effect now rather than at the ruler's next periodic sync.
async fn resync(state: &AppState) {
    if let Some(ruler) = &state.ruler {
        if let Err(error) = ruler.sync(chrono::Utc::now().timestamp_millis()).await {
            tracing::error!(%error, "ruler sync after a rules change failed");
        }
    }
}

#[derive(Deserialize)]
struct RulesQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn rules_api(
    State(state): State<AppStateRef>,
    Query(q): Query<RulesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesRead).await?;
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k @ ("alert" | "record")) => Some(k),
        Some(other) => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"type\": {other:?}, use alert or record"
            )))
        }
    };
    let data = match &state.ruler {
        Some(r) => r.rules_json(&tenant, kind),
        None => json!({"groups": []}),
    };
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}

async fn alerts_api(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers, Scope::RulesRead).await?;
    let data = match &state.ruler {
        Some(r) => r.alerts_json(&tenant),
        None => json!({"alerts": []}),
    };
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}
