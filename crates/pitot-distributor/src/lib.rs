//! Pitot's ingest entry point for metrics and (in [`logs`]) for logs.
//!
//! The distributor turns a decoded remote-write request into validated series, checks
//! them against the tenant's limits, hands the valid ones to storage (which returns only
//! once they are durable), and counts what it discarded and why.
//!
//! Validation follows what Prometheus and Mimir do, so clients see familiar behaviour:
//! an invalid series is dropped and named in the error while the valid series of the
//! same request are stored, and the whole request answers 400 so that clients do not
//! retry a request that can never succeed. Every reason has a stable ID
//! (`err-pitot-<reason>`), used both in messages and as the `reason` label of the
//! discarded-samples counter.

mod discarded;
pub mod inflight;
mod limits;
pub mod logs;
mod metadata;
mod push;
mod rate_meter;
mod validate;

pub use discarded::{DiscardedCounters, TenantCounters};
pub use inflight::{InflightBudget, InflightError, InflightGuard};
pub use limits::ValidationLimits;
pub use metadata::{FamilyMetadata, MetadataStore};
pub use push::{Admitted, Distributor, PushError, PushOutcome};
pub use rate_meter::RateMeter;
pub use validate::{InvalidSeries, ValidationReason};
