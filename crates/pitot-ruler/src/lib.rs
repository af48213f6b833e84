//! The ruler: every tenant's rule groups, evaluated on schedule.
//!
//! Groups live in the metadata store (uploaded through the Mimir-style configuration
//! API); [`Ruler::sync`] turns them into running [`GroupState`]s, keeping the state of
//! groups whose YAML did not change. [`Ruler::tick`] evaluates every group that is due,
//! each on a blocking thread (PromQL evaluation is CPU work), writing recording results
//! and `ALERTS` through a [`SampleWriter`] before the group's next rule runs, and hands
//! firing and resolved alerts to an [`AlertSender`], as Prometheus sends them to
//! Alertmanager on every evaluation.

mod external;
mod ruler;
mod sink;

pub use external::{postable_alerts, ExternalAlertmanager, FanOut};
pub use ruler::{GroupKey, GroupSnapshot, Ruler, RulerError, RulerOptions, LOKI_NAMESPACE_PREFIX};
pub use sink::{AlertSender, RuleAlert, SampleWriter};
