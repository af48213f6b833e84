//! Alerts and their states, as the alerting rule's state machine keeps them.

use std::collections::BTreeMap;

use pitot_core::Labels;

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Resolved (kept for `resolved_retention` so notifiers learn of the resolution),
    /// or not active at all.
    Inactive,
    /// Active, waiting for `for` to elapse.
    Pending,
    /// Active for at least `for`: notifications go out.
    Firing,
}

impl AlertState {
    /// The name Prometheus uses (`alertstate` label, rules API).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule: one output series of its expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert's labels: the series labels without `__name__`, the rule's (templated)
    /// labels, and `alertname`.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// The expression's value at the last evaluation where the alert was active.
    pub value: f64,
    /// The current state.
    pub state: AlertState,
    /// When the alert became active (ms).
    pub active_at: i64,
    /// When it started firing (ms).
    pub fired_at: Option<i64>,
    /// When it was resolved (ms).
    pub resolved_at: Option<i64>,
    /// Since when the condition has not held while `keep_firing_for` keeps it firing.
    pub keep_firing_since: Option<i64>,
}

/// A change of an alert's state during one evaluation, for notifiers and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTransition {
    /// The alerting rule's name.
    pub alertname: String,
    /// The alert's labels.
    pub labels: Labels,
    /// State before the evaluation (`Inactive` for a new alert).
    pub from: AlertState,
    /// State after the evaluation (`Inactive` for a resolved or dropped alert).
    pub to: AlertState,
    /// The evaluation time (ms).
    pub at: i64,
}
