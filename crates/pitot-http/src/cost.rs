//! Cost and budgets: `GET /api/pitot/v1/cost?month=YYYY-MM` (cost to date and projected
//! at month end under the price plan), `GET|PUT /api/pitot/v1/budget` (a monthly budget),
//! and `GET /api/pitot/v1/budget/events` (50 %, 80 % and 100 % crossings, actual or
//! projected, each recorded once).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Datelike;
use pitot_core::{Scope, TenantId};
use pitot_meta::BudgetEvent;
use pitot_usage::{month_bounds, month_cost_with_retention, parse_month, MonthCost};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{authenticate, Principal};
use crate::{ApiError, AppState, AppStateRef};

/// Cost routes.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/pitot/v1/cost", get(cost))
        .route("/api/pitot/v1/budget", get(get_budget).put(put_budget))
        .route("/api/pitot/v1/budget/events", get(events))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
    month: Option<String>,
}

/// A tenant reads its own (any read scope); the platform token names the tenant.
async fn whose(
    state: &AppState,
    headers: &HeaderMap,
    asked: Option<&str>,
) -> Result<(TenantId, Principal), ApiError> {
    let principal = authenticate(state, headers).await?;
    let asked = asked
        .map(TenantId::new)
        .transpose()
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"tenant\": {e}")))?;
    let tenant = match &principal {
        Principal::Platform { tenant } => asked
            .or_else(|| tenant.clone())
            .ok_or_else(|| ApiError::bad_data("name the tenant with ?tenant= or X-Scope-OrgID"))?,
        Principal::Token(info) => {
            let reads = [
                Scope::MetricsRead,
                Scope::LogsRead,
                Scope::RulesRead,
                Scope::AlertsRead,
                Scope::Admin,
            ];
            if !reads.iter().any(|s| info.allows(*s)) {
                return Err(ApiError::forbidden(format!(
                    "token {} has no read scope",
                    info.id
                )));
            }
            match asked {
                Some(t) if t != info.tenant => {
                    return Err(ApiError::not_found(format!("tenant {t} not found")))
                }
                _ => info.tenant.clone(),
            }
        }
    };
    Ok((tenant, principal))
}

/// The cost of `month` (`YYYY-MM`, default the current one) for `tenant`.
pub async fn compute(
    state: &AppState,
    tenant: &TenantId,
    month: Option<&str>,
) -> Result<MonthCost, ApiError> {
    let now = chrono::Utc::now();
    let month = match month {
        None | Some("") => chrono::NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
            .ok_or_else(|| ApiError::internal("bad clock"))?,
        Some(m) => parse_month(m).ok_or_else(|| {
            ApiError::bad_data(format!("invalid parameter \"month\": {m:?}, use YYYY-MM"))
        })?,
    };
    if let Some(meter) = &state.usage {
        crate::usage::flush(state, meter).await?;
    }
    let (start, end) = month_bounds(month);
    let rows = state.meta.usage(tenant, start, end).await?;
    let retention: std::collections::HashMap<String, f64> = state
        .datasources
        .of(tenant)
        .into_iter()
        .filter(|d| d.retention_ms > 0)
        .map(|d| (d.name, d.retention_ms as f64 / 86_400_000.0))
        .collect();
    Ok(month_cost_with_retention(
        &state.price_plan,
        month,
        &rows,
        now.timestamp_millis(),
        &|ds| retention.get(ds).copied(),
    ))
}

/// Records budget crossings (50/80/100 %, actual and projected) for the current month.
pub async fn check_budget(
    state: &AppState,
    tenant: &TenantId,
    cost: &MonthCost,
) -> Result<(), ApiError> {
    let Some(budget) = state.meta.budget(tenant).await? else {
        return Ok(());
    };
    if budget <= 0.0 {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_millis();
    for percent in [50i64, 80, 100] {
        let threshold = budget * percent as f64 / 100.0;
        for (kind, value) in [
            ("actual", cost.to_date),
            ("projected", cost.projected_month_end),
        ] {
            if value >= threshold {
                let event = BudgetEvent {
                    month: cost.month.clone(),
                    percent,
                    kind: kind.into(),
                    cost: value,
                    at_ms: now,
                };
                if state.meta.record_budget_event(tenant, &event).await? {
                    tracing::info!(%tenant, percent, kind, cost = value, budget, "budget threshold crossed");
                }
            }
        }
    }
    Ok(())
}

async fn cost(
    State(state): State<AppStateRef>,
    Query(q): Query<TenantQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, _) = whose(&state, &headers, q.tenant.as_deref()).await?;
    let cost = compute(&state, &tenant, q.month.as_deref()).await?;
    let current = chrono::Utc::now().format("%Y-%m").to_string();
    if cost.month == current {
        check_budget(&state, &tenant, &cost).await?;
    }
    Ok(Json(cost).into_response())
}

async fn get_budget(
    State(state): State<AppStateRef>,
    Query(q): Query<TenantQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, _) = whose(&state, &headers, q.tenant.as_deref()).await?;
    let monthly = state.meta.budget(&tenant).await?;
    Ok(
        Json(json!({"tenant": tenant, "monthly": monthly, "currency": state.price_plan.currency}))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetBody {
    monthly: Option<f64>,
}

/// A tenant's admin (or the platform) sets the budget; `{"monthly": null}` removes it.
async fn put_budget(
    State(state): State<AppStateRef>,
    Query(q): Query<TenantQuery>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let (tenant, principal) = whose(&state, &headers, q.tenant.as_deref()).await?;
    if let Principal::Token(info) = &principal {
        if !info.allows(Scope::Admin) {
            return Err(ApiError::forbidden(format!(
                "token {} lacks the scope admin needed to set the budget",
                info.id
            )));
        }
    }
    let b: BudgetBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    if let Some(m) = b.monthly {
        if !m.is_finite() || m < 0.0 {
            return Err(ApiError::bad_data("\"monthly\" must be a number >= 0"));
        }
    }
    state.meta.set_budget(&tenant, b.monthly).await?;
    let cost = compute(&state, &tenant, None).await?;
    check_budget(&state, &tenant, &cost).await?;
    Ok(
        Json(
            json!({"tenant": tenant, "monthly": b.monthly, "currency": state.price_plan.currency}),
        )
        .into_response(),
    )
}

async fn events(
    State(state): State<AppStateRef>,
    Query(q): Query<TenantQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (tenant, _) = whose(&state, &headers, q.tenant.as_deref()).await?;
    let events: Vec<serde_json::Value> = state
        .meta
        .budget_events(&tenant)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "month": e.month,
                "percent": e.percent,
                "kind": e.kind,
                "cost": e.cost,
                "at": pitot_core::format_rfc3339_ms(e.at_ms),
            })
        })
        .collect();
    Ok(Json(json!({"tenant": tenant, "events": events})).into_response())
}
