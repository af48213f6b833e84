//! Ready-made alerts: a bundled rule group over what Pitot itself knows about a tenant
//! (refused data, use near a limit, budget thresholds, metrics that stopped arriving),
//! turned on or off with one call at `PUT /api/pitot/v1/ready-made-alerts`.
//!
//! The rules read the `pitot_tenant_*` series Pitot writes into each tenant's own
//! metrics every minute (see the binary's self-metrics task), so a tenant can also graph
//! them and write its own rules on them.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pitot_core::Scope;
use serde::Deserialize;
use serde_json::json;

use crate::auth::authenticate;
use crate::{ApiError, AppStateRef};

/// The namespace the bundled group is stored under.
pub const NAMESPACE: &str = "pitot-ready-made";
/// The bundled group's name.
pub const GROUP: &str = "pitot-tenant-health";

/// The bundled rule group.
pub const RULES: &str = r#"name: pitot-tenant-health
interval: 1m
rules:
  - alert: PitotIngestionRejected
    expr: sum by (reason) (increase(pitot_tenant_discarded_samples_total[5m])) > 0
    labels:
      severity: warning
    annotations:
      summary: "Pitot refused about {{ printf \"%.0f\" $value }} samples in 5 minutes ({{ $labels.reason }})"
  - alert: PitotSeriesNearLimit
    expr: pitot_tenant_active_series / pitot_tenant_limit_max_global_series_per_user > 0.8
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: "Active series at {{ $value | humanizePercentage }} of the limit"
  - alert: PitotBudgetThreshold
    expr: pitot_tenant_cost_projected_month_end / pitot_tenant_budget_monthly > 0.8
    labels:
      severity: warning
    annotations:
      summary: "Projected month cost at {{ $value | humanizePercentage }} of the budget"
  - alert: PitotMetricsStoppedArriving
    expr: pitot_tenant_ingested_samples_total > 0 and increase(pitot_tenant_ingested_samples_total[15m]) == 0
    labels:
      severity: warning
    annotations:
      summary: "No samples stored for 15 minutes"
"#;

/// Routes.
pub fn router() -> Router<AppStateRef> {
    Router::new().route("/api/pitot/v1/ready-made-alerts", get(status).put(set))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn status(
    State(state): State<AppStateRef>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let _ = method;
    let tenant = authenticate(&state, &headers)
        .await?
        .require(Scope::RulesRead)?;
    let enabled = state
        .meta
        .list_rule_groups(Some(&tenant))
        .await?
        .iter()
        .any(|g| g.namespace == NAMESPACE && g.name == GROUP);
    Ok(Json(json!({"enabled": enabled, "namespace": NAMESPACE, "rules": RULES})).into_response())
}

async fn set(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let tenant = authenticate(&state, &headers)
        .await?
        .require(Scope::RulesWrite)?;
    let t: Toggle = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_data(format!(
            "invalid body, expected {{\"enabled\": true|false}}: {e}"
        ))
    })?;
    if t.enabled {
        // Unbound (it reads the usage series wherever they are), and counted against
        // the tenant's group limit like any upload.
        let write = pitot_meta::RuleGroupWrite {
            tenant: &tenant,
            namespace: NAMESPACE,
            name: GROUP,
            yaml: RULES,
            datasource: None,
            max_groups: state
                .tenant_limits
                .as_ref()
                .map_or(0, |l| l.get(&tenant).ruler_max_rule_groups_per_tenant),
        };
        state
            .meta
            .put_rule_group(&write, &pitot_meta::RuleGroupScope::All)
            .await?;
    } else {
        state
            .meta
            .delete_rule_groups(&tenant, NAMESPACE, None, &pitot_meta::RuleGroupScope::All)
            .await?;
    }
    if let Some(ruler) = &state.ruler {
        if let Err(error) = ruler.sync().await {
            tracing::error!(%error, "ruler sync after toggling ready-made alerts failed");
        }
    }
    Ok(Json(json!({"enabled": t.enabled, "namespace": NAMESPACE})).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_group_is_valid() {
        let opts = pitot_rules::ValidationOptions {
            language: pitot_rules::ExprLanguage::PromQL,
            max_groups: 0,
            max_rules_per_group: 20,
        };
        let g = pitot_rules::RuleGroup::parse(super::RULES, &opts).unwrap();
        assert_eq!(g.name, super::GROUP);
        assert_eq!(g.rules.len(), 4);
    }

    /// `increase()` extrapolates, so 2,000 refused samples can read 2562.0000000000005;
    /// the summary rounds to a whole number of samples.
    #[test]
    fn the_refused_samples_summary_is_a_whole_number() {
        let doc: serde_yaml::Value = serde_yaml::from_str(super::RULES).unwrap();
        let summary = doc["rules"][0]["annotations"]["summary"].as_str().unwrap();
        let data = pitot_rules::template::TemplateData {
            labels: [("reason".to_string(), "rate_limited".to_string())].into(),
            value: 2_562.000_000_000_000_5,
            ..Default::default()
        };
        let text = pitot_rules::template::render("summary", summary, &data, None).unwrap();
        assert_eq!(
            text,
            "Pitot refused about 2562 samples in 5 minutes (rate_limited)"
        );
    }
}
