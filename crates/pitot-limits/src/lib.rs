//! Per-tenant limits, as a managed service publishes and enforces them.
//!
//! Every tenant is held to [`TenantLimits`]: the configured defaults, overridden per
//! tenant by the runtime-overrides YAML file (reloaded while Pitot runs, as Mimir's
//! runtime config) and by the management API, in that order (the API, being the most
//! recent deliberate change, wins). [`Limits`] resolves the effective values and caches
//! them, so the hot paths read one `Arc` per request.
//!
//! Field names are Mimir's and Loki's (`ingestion_rate`, `max_global_series_per_user`,
//! `ingestion_rate_mb`, `max_line_size`, ...), so operators reuse what they know.
//!
//! [`RateLimiters`] holds one token bucket per tenant and kind (samples for metrics,
//! bytes for logs); a request over the rate is refused whole and told when to retry.

mod duration;
mod overrides;
mod rate;
mod registry;
mod tenant_limits;

pub use overrides::{parse_runtime_file, LimitOverrides, OverridesError, RuntimeFile};
pub use rate::{RateDecision, RateKind, RateLimiters};
pub use registry::Limits;
pub use tenant_limits::{TenantLimits, DEFAULT_OTLP_STREAM_LABEL_ATTRIBUTES};
