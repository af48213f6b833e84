//! The ruler: every tenant's rule groups, evaluated on schedule, kept apart.
//!
//! Groups live in the metadata store (uploaded through the Mimir- and Loki-style
//! configuration APIs); [`Ruler::sync`] turns them into running groups, keeping the
//! state of groups whose YAML did not change. Each group runs in its own task, as
//! Prometheus runs one goroutine per group: a slow group of one tenant delays no other
//! group. Each evaluation takes one of its tenant's query slots ([`QuerySlots`], the
//! budget the tenant's API queries use), runs on a blocking thread (PromQL is CPU
//! work) under the tenant's own limits and a time box of the tenant's query timeout,
//! reads only the group's data source, writes recording results and `ALERTS` through
//! a [`SampleWriter`] before the group's next rule runs, and hands firing and resolved
//! alerts to an [`AlertSender`], as Prometheus sends them to Alertmanager on every
//! evaluation. Slots missed while an evaluation runs are skipped and counted. A panic
//! in an evaluation disables that group alone, with the error shown in the rules API.

mod api_json;
mod bounded;
mod evaluate;
mod external;
mod group;
mod limits;
mod ruler;
mod sink;
mod slots;
#[cfg(test)]
mod tests;

pub use bounded::GROUP_TIMEOUT_REASON;
pub use evaluate::DATASOURCE_MISSING_REASON;
pub use external::{postable_alerts, ExternalAlertmanager, FanOut};
pub use group::GROUP_DISABLED_REASON;
pub use limits::{EvalLimits, ServerLimits};
pub use ruler::{GroupKey, Ruler, RulerError, RulerOptions, LOKI_NAMESPACE_PREFIX};
pub use sink::{AlertSender, RuleAlert, SampleWriter};
pub use slots::QuerySlots;
