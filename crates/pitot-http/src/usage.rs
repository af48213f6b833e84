//! `GET /api/pitot/v1/usage`: what a tenant used, per data source and hour, day or
//! month, as JSON or CSV (`Accept: text/csv`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::{Scope, TenantId};
use pitot_usage::{aggregate, Granularity, UsageMeter, UsageRow};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{authenticate, Principal};
use crate::params::parse_time_ms;
use crate::{ApiError, AppState, AppStateRef};

/// Usage routes.
pub fn router() -> Router<AppStateRef> {
    Router::new().route("/api/pitot/v1/usage", get(usage))
}

/// Stores what the meter counted so far; rows go back to the meter if storing fails.
pub async fn flush(state: &AppState, meter: &Arc<UsageMeter>) -> Result<(), ApiError> {
    let pending = meter.take();
    if pending.is_empty() {
        return Ok(());
    }
    let rows: Vec<(TenantId, UsageRow)> = pending
        .iter()
        .map(|(k, r)| (k.tenant.clone(), r.clone()))
        .collect();
    if let Err(e) = state.meta.add_usage(&rows).await {
        meter.restore(pending);
        return Err(e.into());
    }
    Ok(())
}

#[derive(Deserialize)]
struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    datasource: Option<String>,
    tenant: Option<String>,
}

/// The tenant whose usage is asked: a tenant token reads its own (any read scope);
/// the platform token (or a tenant admin, for its own tenant) names it with `tenant`.
fn whose(principal: &Principal, asked: Option<&str>) -> Result<TenantId, ApiError> {
    let asked = asked
        .map(TenantId::new)
        .transpose()
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"tenant\": {e}")))?;
    match principal {
        Principal::Platform { tenant } => asked
            .or_else(|| tenant.clone())
            .ok_or_else(|| ApiError::bad_data("name the tenant with ?tenant= or X-Scope-OrgID")),
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
                    "token {} has no read scope; usage needs one",
                    info.id
                )));
            }
            match asked {
                Some(t) if t != info.tenant => {
                    Err(ApiError::not_found(format!("tenant {t} not found")))
                }
                _ => Ok(info.tenant.clone()),
            }
        }
    }
}

fn time(raw: Option<&str>, name: &str, default: i64) -> Result<i64, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(r) => parse_time_ms(r).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter {name:?}: cannot parse {r:?} (use RFC 3339 or Unix seconds)"
            ))
        }),
    }
}

async fn usage(
    State(state): State<AppStateRef>,
    Query(q): Query<UsageQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, &headers).await?;
    let tenant = whose(&principal, q.tenant.as_deref())?;
    let granularity = match q.granularity.as_deref() {
        // Days, as `pitot usage` shows them: a month reads as a bill; hours on request.
        None | Some("") => Granularity::Day,
        Some(g) => Granularity::parse(g).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"granularity\": {g:?}, use hour, day or month"
            ))
        })?,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let from = time(
        q.from.as_deref(),
        "from",
        Granularity::Month.period_start(now),
    )?;
    let to = time(q.to.as_deref(), "to", now + 1)?;
    if to < from {
        return Err(ApiError::bad_data(
            "invalid parameters: \"to\" is before \"from\"",
        ));
    }
    let Some(meter) = &state.usage else {
        return Err(ApiError::not_found(
            "usage metering is not enabled on this server",
        ));
    };
    flush(&state, meter).await?;
    let hourly: Vec<UsageRow> = state
        .meta
        .usage(&tenant, pitot_usage::hour_start(from), to)
        .await?
        .into_iter()
        .filter(|r| q.datasource.as_deref().is_none_or(|d| d == r.datasource))
        .collect();
    let rows = aggregate(&hourly, granularity);
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let mut out = String::from("start,datasource,type,origin,samples_ingested,series_active_peak,log_bytes_ingested,log_lines_ingested,bytes_stored,queries,samples_scanned,bytes_scanned,rejected\n");
        for r in &rows {
            let rejected: Vec<String> =
                r.rejected.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                pitot_core::format_rfc3339_ms(r.start_ms),
                r.datasource,
                r.kind,
                r.origin,
                r.samples_ingested,
                r.series_active_peak,
                r.log_bytes_ingested,
                r.log_lines_ingested,
                r.bytes_stored,
                r.queries,
                r.samples_scanned,
                r.bytes_scanned,
                rejected.join(";")
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["start"] = Value::String(pitot_core::format_rfc3339_ms(r.start_ms));
            v
        })
        .collect();
    Ok(Json(json!({
        "tenant": tenant,
        "granularity": granularity.as_str(),
        "rows": rows,
    }))
    .into_response())
}
