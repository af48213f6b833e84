//! Restoring the `for` state of alerts after a restart from `ALERTS_FOR_STATE`, so that
//! a restart does not reset every pending alert's clock.

use pitot_core::{is_stale_nan, Matcher, METRIC_NAME};
use pitot_storage_api::SelectHints;

use super::alerting::{AlertingState, ALERTS_FOR_STATE_METRIC};
use super::EvalContext;

/// How far back and how leniently `for` state is restored.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// Longest outage after which state is still restored (Prometheus
    /// `--rules.alert.for-outage-tolerance`, 1h).
    pub outage_tolerance_ms: i64,
    /// Least time an alert waits before firing after a restore (Prometheus
    /// `--rules.alert.for-grace-period`, 10m).
    pub for_grace_period_ms: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
        }
    }
}

/// Restores `active_at` of the rule's active alerts at `ts` and marks it restored.
pub(crate) async fn restore_for_state(
    rule: &mut AlertingState,
    ctx: &EvalContext<'_>,
    ts: i64,
    opts: RestoreOptions,
) -> Result<(), String> {
    if rule.for_ms < opts.for_grace_period_ms {
        // Restoring could only make it wait longer than its own `for`.
        rule.restored = true;
        return Ok(());
    }
    let mint = ts - opts.outage_tolerance_ms;
    let querier = ctx
        .queryable
        .querier(ctx.tenant, mint, ts)
        .map_err(|e| e.to_string())?;
    let hints = SelectHints {
        start: mint,
        end: ts,
        labels_only: false,
    };
    for alert in rule.active.values_mut() {
        let mut matchers = vec![Matcher::equal(METRIC_NAME, ALERTS_FOR_STATE_METRIC)];
        matchers.extend(
            alert
                .labels
                .iter()
                .map(|l| Matcher::equal(l.name.as_str(), l.value.as_str())),
        );
        let set = querier
            .select(&hints, &matchers)
            .await
            .map_err(|e| e.to_string())?;
        // The series with exactly the alert's labels plus the name.
        let Some(series) = set
            .series
            .iter()
            .find(|s| s.labels.len() == alert.labels.len() + 1)
        else {
            continue;
        };
        let Some(last) = series.samples().filter(|s| s.t >= mint && s.t <= ts).last() else {
            continue;
        };
        if is_stale_nan(last.v) {
            continue;
        }
        let down_at = last.t.div_euclid(1000) * 1000;
        let mut restored_active_at = (last.v as i64) * 1000;
        let remaining = rule.for_ms - (down_at - restored_active_at);
        if remaining <= 0 {
            // It was firing: the next evaluation fires it again if it still holds.
        } else if remaining < opts.for_grace_period_ms {
            restored_active_at = ts + opts.for_grace_period_ms - rule.for_ms;
        } else {
            restored_active_at += ts - down_at;
        }
        alert.active_at = restored_active_at;
    }
    rule.restored = true;
    Ok(())
}
