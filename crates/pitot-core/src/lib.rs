//! Pure types shared by every Pitot crate, with no I/O.
//!
//! Everything that crosses a crate boundary (a tenant, a token scope, a label set, a
//! matcher, a sample) is defined once here so that the storage engines, the query
//! engines and the HTTP layer agree on identity and ordering without depending on one
//! another.

pub mod conformance;
mod datasource;
mod duration;
mod labels;
mod matcher;
mod names;
mod parallel;
mod sample;
mod scope;
mod step_aside;
mod template_budget;
mod tenant;
mod timestamp;
pub mod varint;

pub use datasource::{
    validate_datasource_name, DataKind, DatasourceNameError, Origin, Target,
    DEFAULT_LOGS_DATASOURCE, DEFAULT_METRICS_DATASOURCE, MANAGED_METRICS_DATASOURCE,
    MAX_DATASOURCE_NAME_LEN, STORAGE_KEY_SEPARATOR,
};
pub use duration::{format_duration, parse_duration, parse_duration_ms, DurationError};
pub use labels::{Label, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use names::{is_valid_label_name, is_valid_metric_name};
pub use parallel::{available_cores, limit_helpers_here, parallel_chunks, HelperThreads};
pub use sample::{is_stale_nan, Sample, STALE_NAN};
pub use scope::{Scope, ScopeError};
pub use step_aside::{demoted_here, register_demotable_thread, yield_point, YIELD_EVERY};
pub use template_budget::{
    TemplateBudget, TemplateBudgetError, TemplateLimits, GO_FMT_MAX_WIDTH, MAX_TEMPLATE_PARSE_DEPTH,
};
pub use tenant::{TenantId, TenantIdError, RESERVED_LOGS_DIR};
pub use timestamp::{format_rfc3339_ms, rfc3339_ms};
