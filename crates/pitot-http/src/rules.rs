//! Rules: the Mimir/Cortex configuration API (`/prometheus/config/v1/rules...`, YAML in
//! and out) and Prometheus' read API (`/api/v1/rules`, `/prometheus/api/v1/alerts`).
//!
//! Every group belongs to a data source or to none (see [`RuleGroupScope`]): a group
//! uploaded with `X-Pitot-Datasource` (or under `/ds/<name>/`) is bound to that data
//! source and the ruler evaluates it against that data source alone; a token restricted
//! to data sources must bind its groups to one of them and sees, replaces and deletes
//! only groups bound to them, in the configuration API and in the rules and alerts
//! APIs alike. Unrestricted tokens that name no data source keep the behaviour from
//! before data sources: their groups read every data source of their kind.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{DataKind, Scope, TenantId};
use pitot_meta::{RuleGroupScope, RuleGroupWrite};
use pitot_rules::{ExprLanguage, PromDuration, RuleGroup, ValidationOptions};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{authenticate, Principal};
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

    fn kind(self) -> DataKind {
        match self {
            Lang::Prom => DataKind::Metrics,
            Lang::Loki => DataKind::Logs,
        }
    }
}

/// One authenticated rules request: whose groups, and which of them the caller may
/// touch.
struct Caller {
    principal: Principal,
    tenant: TenantId,
    /// The groups the token may replace: all, or those of its data sources.
    token_scope: RuleGroupScope,
    /// The groups this request reads or deletes: the token's, narrowed to the data
    /// sources the request names.
    view: RuleGroupScope,
}

async fn caller(state: &AppState, headers: &HeaderMap, needed: Scope) -> Result<Caller, ApiError> {
    let principal = authenticate(state, headers).await?;
    let tenant = principal.require(needed)?;
    let token_scope = match &principal {
        Principal::Token(info) => match &info.datasources {
            Some(list) => RuleGroupScope::Datasources(list.clone()),
            None => RuleGroupScope::All,
        },
        Principal::Platform { .. } => RuleGroupScope::All,
    };
    let named = crate::datasource::named(headers)?;
    let view = if named.is_empty() {
        token_scope.clone()
    } else {
        if let Some(denied) = named.iter().find(|n| !token_scope.allows(Some(n))) {
            return Err(ApiError::forbidden(format!(
                "this token may not use the data source {denied:?}; name only data sources the token was created for"
            )));
        }
        RuleGroupScope::Datasources(named)
    };
    Ok(Caller {
        principal,
        tenant,
        token_scope,
        view,
    })
}

/// The data source an uploaded group is bound to: the one the request names (which
/// must exist, hold the right kind and be allowed to the token), the default one of its
/// kind for a restricted token that names none, or none for an unrestricted token
/// that names none (the group then reads every data source of its kind).
async fn binding(
    state: &AppState,
    caller: &Caller,
    lang: Lang,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    let named = headers.contains_key(crate::datasource::HEADER);
    if !named && caller.token_scope == RuleGroupScope::All {
        return Ok(None);
    }
    let target = crate::datasource::for_write(
        state,
        &caller.principal,
        &caller.tenant,
        headers,
        lang.kind(),
    )
    .await?;
    Ok(Some(target.datasource))
}

/// Refuses a group whose `interval` is below the tenant's `ruler_min_evaluation_interval`
/// (the ruler also clamps groups stored before the limit was raised).
fn check_interval(state: &AppState, tenant: &TenantId, group: &RuleGroup) -> Result<(), ApiError> {
    let (Some(limits), Some(interval)) = (&state.tenant_limits, group.interval) else {
        return Ok(());
    };
    let min = limits
        .get(tenant)
        .ruler_min_evaluation_interval
        .0
        .as_millis() as i64;
    if interval.0 < min {
        return Err(ApiError::bad_data(format!(
            "ruler-evaluation-interval-too-short: group {:?} has interval {interval}, below the tenant's minimum of {} (ruler_min_evaluation_interval); set interval to {} or more",
            group.name,
            PromDuration(min),
            PromDuration(min)
        )));
    }
    Ok(())
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

/// Groups the caller may see as `namespace -> [group YAML values]`, optionally one
/// namespace.
async fn grouped(
    state: &AppState,
    lang: Lang,
    caller: &Caller,
    namespace: Option<&str>,
) -> Result<BTreeMap<String, Vec<serde_yaml::Value>>, ApiError> {
    let mut out: BTreeMap<String, Vec<serde_yaml::Value>> = BTreeMap::new();
    for g in state.meta.list_rule_groups(Some(&caller.tenant)).await? {
        let Some(visible) = lang.visible(&g.namespace) else {
            continue;
        };
        if !caller.view.allows(g.datasource.as_deref()) {
            continue;
        }
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

/// The `{namespace}` of a path. Named fields rather than a tuple: under `/ds/<name>/`
/// the request arrives with the prefix's own path parameter too, which a struct
/// ignores.
#[derive(Deserialize)]
struct NamespacePath {
    namespace: String,
}

/// The `{namespace}/{group}` of a path (see [`NamespacePath`]).
#[derive(Deserialize)]
struct GroupPath {
    namespace: String,
    group: String,
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
both_apis!(list_namespace, loki_list_namespace, do_list_namespace, (ns: Path<NamespacePath>));
both_apis!(get_group, loki_get_group, do_get_group, (path: Path<GroupPath>));
both_apis!(delete_group, loki_delete_group, do_delete_group, (path: Path<GroupPath>));
both_apis!(delete_namespace, loki_delete_namespace, do_delete_namespace, (ns: Path<NamespacePath>));

async fn set_group(
    State(state): State<AppStateRef>,
    ns: Path<NamespacePath>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    do_set_group(&state, Lang::Prom, ns, &headers, body).await
}

async fn loki_set_group(
    State(state): State<AppStateRef>,
    ns: Path<NamespacePath>,
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
    let caller = caller(state, headers, Scope::RulesRead).await?;
    let groups = grouped(state, lang, &caller, None).await?;
    if groups.is_empty() {
        return Err(ApiError::not_found("no rule groups found"));
    }
    Ok(yaml(StatusCode::OK, to_yaml(&groups)?))
}

async fn do_list_namespace(
    state: &AppState,
    lang: Lang,
    Path(NamespacePath { namespace }): Path<NamespacePath>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers, Scope::RulesRead).await?;
    let groups = grouped(state, lang, &caller, Some(&namespace)).await?;
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
    Path(GroupPath { namespace, group }): Path<GroupPath>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers, Scope::RulesRead).await?;
    let stored_ns = lang.stored(&namespace);
    let found = state
        .meta
        .list_rule_groups(Some(&caller.tenant))
        .await?
        .into_iter()
        .find(|g| {
            g.namespace == stored_ns
                && g.name == group
                && caller.view.allows(g.datasource.as_deref())
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "group {group:?} not found in namespace {namespace:?}"
            ))
        })?;
    Ok(yaml(StatusCode::OK, found.yaml))
}

/// Creates or replaces a group (the YAML of one group, as `mimirtool`, `lokitool` and
/// Grafana send). The group count limit is checked in the store's write transaction,
/// so concurrent uploads cannot pass it together.
async fn do_set_group(
    state: &AppState,
    lang: Lang,
    Path(NamespacePath { namespace }): Path<NamespacePath>,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers, Scope::RulesWrite).await?;
    let tenant = &caller.tenant;
    check_name("namespace", &namespace)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_data("rule group body is not UTF-8 YAML"))?;
    let limits = state.tenant_limits.as_ref().map(|l| l.get(tenant));
    let opts = ValidationOptions {
        language: lang.language(),
        max_groups: 0,
        max_rules_per_group: limits
            .as_ref()
            .map_or(0, |l| l.ruler_max_rules_per_rule_group as usize),
    };
    let group = RuleGroup::parse(text, &opts).map_err(|e| ApiError::bad_data(e.to_string()))?;
    check_name("group name", &group.name)?;
    check_interval(state, tenant, &group)?;
    let datasource = binding(state, &caller, lang, headers).await?;
    let stored_ns = lang.stored(&namespace);
    let stored = group.to_yaml();
    let write = RuleGroupWrite {
        tenant,
        namespace: &stored_ns,
        name: &group.name,
        yaml: &stored,
        datasource: datasource.as_deref(),
        max_groups: limits
            .as_ref()
            .map_or(0, |l| l.ruler_max_rule_groups_per_tenant),
    };
    state
        .meta
        .put_rule_group(&write, &caller.token_scope)
        .await?;
    resync(state).await;
    Ok(accepted())
}

async fn do_delete_group(
    state: &AppState,
    lang: Lang,
    Path(GroupPath { namespace, group }): Path<GroupPath>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(
            &caller.tenant,
            &lang.stored(&namespace),
            Some(&group),
            &caller.view,
        )
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
    Path(NamespacePath { namespace }): Path<NamespacePath>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers, Scope::RulesWrite).await?;
    if state
        .meta
        .delete_rule_groups(&caller.tenant, &lang.stored(&namespace), None, &caller.view)
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
        if let Err(error) = ruler.sync().await {
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
    let caller = caller(&state, &headers, Scope::RulesRead).await?;
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
        Some(r) => r.rules_json(&caller.tenant, kind, &caller.view),
        None => json!({"groups": []}),
    };
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}

async fn alerts_api(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, Scope::RulesRead).await?;
    let data = match &state.ruler {
        Some(r) => r.alerts_json(&caller.tenant, &caller.view),
        None => json!({"alerts": []}),
    };
    Ok(Json(json!({"status": "success", "data": data})).into_response())
}

/// The ruler's view of the tenants' query slots: each group evaluation takes one of
/// its tenant's slots from the budget the tenant's API queries use
/// ([`AppState::tenant_slots`]), so rules and queries share one allowance.
pub struct RulerQuerySlots(pub std::sync::Weak<AppState>);

#[async_trait::async_trait]
impl pitot_ruler::QuerySlots for RulerQuerySlots {
    async fn acquire(&self, tenant: &TenantId) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let state = self.0.upgrade()?;
        // Err: the server is shutting down; the evaluation then runs without a slot.
        state
            .tenant_slots
            .acquire(&state, tenant)
            .await
            .ok()
            .flatten()
    }
}
