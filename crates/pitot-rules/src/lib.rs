//! Prometheus rules for Pitot: the rule-file model, the alert template language, the
//! rule evaluator with Prometheus' alert state machine, and `promtool test rules`.
//!
//! Design choices, and why:
//! - Rule files are parsed with serde into typed structs that reject unknown fields, then
//!   validated in one pass that collects every problem and names the group and rule
//!   (1-based index, as Prometheus does), so a config API can answer with all errors at
//!   once. The same structs serialize back to YAML for the Mimir-style config API.
//! - Evaluation is driven by an explicit clock: [`eval::GroupState::eval`] takes the
//!   evaluation timestamp, so the ruler loop, tests and `promtool test rules` share one
//!   state machine and tests can simulate hours of alert lifecycle in microseconds.
//! - The evaluator depends on a query function ([`eval::QueryFn`]), not on storage: an
//!   adapter runs [`pitot_promql::Engine`] over any `Queryable`, a test can fake it.
//! - The template language is a small interpreter of Go's `text/template` subset that
//!   Prometheus alert templates use, with Prometheus' functions (`humanize`, `query`, …)
//!   and Go's number formatting, so rendered annotations match Prometheus byte for byte.

mod duration;
mod error;
pub mod eval;
mod locate;
pub mod model;
pub mod template;
pub mod unittest;
mod validate;

pub use duration::PromDuration;
pub use error::{RuleFileError, ValidationError};
pub use model::{AlertingRule, RecordingRule, Rule, RuleFile, RuleGroup};
pub use unittest::run_cli;
pub use validate::{ExprLanguage, ValidationOptions};
