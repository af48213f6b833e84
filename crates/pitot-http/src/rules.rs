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
        .route("/loki/api/v1/rules", get(loki_list_all))
        .route(
            "/loki/api/v1/rules/{namespace}",
            get(loki_list_namespace)
                .post(loki_set_group)
                .delete(loki_delete_namespace),
        )
        .route(
            "/loki/api/v1/rules/{namespace}/{group}",
            get(loki_get_group).delete(loki_delete_group),
        )
        .route("/api/v1/rules", get(rules_api))
        .route("/prometheus/api/v1/rules", get(rules_api))
        .route("/prometheus/api/v1/alerts", get(alerts_api))
}

/// Which ruler API: Prometheus rules (PromQL over metrics) or Loki rules (LogQL over
/// logs). LogQL groups are stored under the namespace `loki/<namespace>`, which no
/// Prometheus namespace can be named (no `/` allowed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Prom,
    Loki,
}

/// The stored-namespace prefix of LogQL rule groups.
pub const LOKI_NAMESPACE_PREFIX: &str = "loki/";

impl Lang {
    fn stored(self, ns: &str) -> String {
        match self {
            Lang::Prom => ns.to_string(),
            Lang::Loki => format!("{LOKI_NAMESPACE_PREFIX}{ns}"),
        }
    }

    /// The namespace as this API shows it, if a stored namespace belongs to it.
    fn visible(self, stored: &str) -> Option<&str> {
        match (self, stored.strip_prefix(LOKI_NAMESPACE_PREFIX)) {
            (Lang::Prom, None) => Some(stored),
            (Lang::Loki, Some(ns)) => Some(ns),
            _ => None,
        }
    }

    fn language(self) -> ExprLanguage {
        match self {
            Lang::Prom => ExprLanguage::PromQL,
            Lang::Loki => ExprLanguage::LogQL,
        }
    }
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
    lang: Lang,
    tenant: &TenantId,
    namespace: Option<&str>,
) -> Result<BTreeMap<String, Vec<serde_yaml::Value>>, ApiError> {
    let mut out: BTreeMap<String, Vec<serde_yaml::Value>> = BTreeMap::new();
    for g in state.meta.list_rule_groups(Some(tenant)).await? {
        let Some(visible) = lang.visible(&g.namespace) else {
            continue;
        };
        if namespace.is_some_and(|ns| ns != visible) {
            continue;
        }
        let value: serde_yaml::Value = serde_yaml::from_str(&g.yaml)
            .map_err(|e| ApiError::internal(format!("stored rule group does not parse: {e}")))?;
        out.entry(visible.to_string()).or_default().push(value);
    }
    Ok(out)
}

fn to_yaml<T: serde::Serialize>(v: &T) -> Result<String, ApiError> {
    serde_yaml::to_string(v).map_err(|e| ApiError::internal(e.to_string()))
}

/// Declares the axum handlers of both APIs over one implementation each.
macro_rules! both_apis {
    ($prom:ident, $loki:ident, $imp:ident, ($($arg:ident : $ty:ty),*)) => {
        async fn $prom(State(state): State<AppStateRef>, $($arg: $ty,)* headers: HeaderMap) -> Result<Response, ApiError> {
            $imp(&state, Lang::Prom, $($arg,)* &headers).await
        }
        async fn $loki(State(state): State<AppStateRef>, $($arg: $ty,)* headers: HeaderMap) -> Result<Response, ApiError> {
            $imp(&state, Lang::Loki, $($arg,)* &headers).await
        }
    };
}

both_apis!(list_all, loki_list_all, do_list_all, ());
both_apis!(list_namespace, loki_list_namespace, do_list_namespace, (ns: Path<String>));
both_apis!(get_group, loki_get_group, do_get_group, (path: Path<(String, String)>));
both_apis!(delete_group, loki_delete_group, do_delete_group, (path: Path<(String, String)>));
both_apis!(delete_namespace, loki_delete_namespace, do_delete_namespace, (ns: Path<String>));

async fn set_group(
    State(state): State<AppStateRef>,
    ns: Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    do_set_group(&state, Lang::Prom, ns, &headers, body).await
}

async fn loki_set_group(
    State(state): State<AppStateRef>,
    ns: Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    do_set_group(&state, Lang::Loki, ns, &headers, body).await
}

async fn do_list_all(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesRead).await?;
    let groups = grouped(state, lang, &tenant, None).await?;
    if groups.is_empty() {
        return Err(ApiError::not_found("no rule groups found"));
    }
    Ok(yaml(StatusCode::OK, to_yaml(&groups)?))
}

async fn do_list_namespace(
    state: &AppState,
    lang: Lang,
    Path(namespace): Path<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesRead).await?;
    let groups = grouped(state, lang, &tenant, Some(&namespace)).await?;
    if groups.is_empty() {
        return Err(ApiError::not_found(format!(
            "no rule groups found in namespace {namespace:?}"
        )));
    }
    Ok(yaml(StatusCode::OK, to_yaml(&groups)?))
}

async fn do_get_group(
    state: &AppState,
    lang: Lang,
    Path((namespace, group)): Path<(String, String)>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesRead).await?;
    let stored_ns = lang.stored(&namespace);
    let found = state
        .meta
        .list_rule_groups(Some(&tenant))
        .await?
        .into_iter()
        .find(|g| g.namespace == stored_ns && g.name == group)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "group {group:?} not found in namespace {namespace:?}"
            ))
        })?;
    Ok(yaml(StatusCode::OK, found.yaml))
}

/// Creates or replaces a group (the YAML of one group, as `mimirtool`, `lokitool` and
/// Grafana send).
async fn do_set_group(
    state: &AppState,
    lang: Lang,
    Path(namespace): Path<String>,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesWrite).await?;
    check_name("namespace", &namespace)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_data("rule group body is not UTF-8 YAML"))?;
    let limits = state.tenant_limits.as_ref().map(|l| l.get(&tenant));
    let opts = ValidationOptions {
        language: lang.language(),
        max_groups: 0,
        max_rules_per_group: limits
            .as_ref()
            .map_or(0, |l| l.ruler_max_rules_per_rule_group as usize),
    };
    let group = RuleGroup::parse(text, &opts).map_err(|e| ApiError::bad_data(e.to_string()))?;
    check_name("group name", &group.name)?;
    let stored_ns = lang.stored(&namespace);
    if let Some(l) = &limits {
        let max = l.ruler_max_rule_groups_per_tenant as usize;
        let existing = state.meta.list_rule_groups(Some(&tenant)).await?;
        let others = existing
            .iter()
            .filter(|g| !(g.namespace == stored_ns && g.name == group.name))
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
        .put_rule_group(&tenant, &stored_ns, &group.name, &stored)
        .await?;
    resync(state).await;
    Ok(accepted())
}

async fn do_delete_group(
    state: &AppState,
    lang: Lang,
    Path((namespace, group)): Path<(String, String)>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(&tenant, &lang.stored(&namespace), Some(&group))
        .await?
        == 0
    {
        return Err(ApiError::not_found(format!(
            "group {group:?} not found in namespace {namespace:?}"
        )));
    }
    resync(state).await;
    Ok(accepted())
}

async fn do_delete_namespace(
    state: &AppState,
    lang: Lang,
    Path(namespace): Path<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant(state, headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(&tenant, &lang.stored(&namespace), None)
        .await?
        == 0
    {
        return Err(ApiError::not_found(format!(
            "namespace {namespace:?} not found"
        )));
    }
    resync(state).await;
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
