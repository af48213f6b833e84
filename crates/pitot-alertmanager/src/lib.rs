//! A per-tenant Alertmanager with the semantics of Prometheus' Alertmanager, so `amtool` and
//! Grafana's Alertmanager data source work against Pitot.
//!
//! Design choices:
//! - Every tenant has its own validated [`AlertmanagerConfig`]; state never crosses tenants.
//! - Time is injected: the engine never reads the wall clock itself, so tests drive grouping,
//!   repeat and expiry by moving a manual clock.
//! - Silences and the notification log are the only durable state (as in Alertmanager); they are
//!   JSON files per tenant written atomically, so a restart neither forgets silences nor re-sends.
//! - The HTTP surface is plain async functions returning JSON, so the server crate owns routing
//!   and authentication.

pub mod config;
pub mod error;
pub mod matcher;
pub mod template;

pub use config::{AlertmanagerConfig, ConfigDocument};
pub use error::AmError;
pub mod alert;
pub mod clock;
pub mod egress;
pub mod engine;
mod inhibit;
pub mod limits;
pub mod nflog;
pub mod notify;
mod persist;
pub mod runtime;
pub mod silence;
mod tenant;

pub use alert::PostableAlert;
pub use clock::{Clock, ManualClock, SystemClock};
pub use egress::{Cidr, EgressError, EgressPolicy};
pub use engine::{Alertmanager, AlertmanagerOptions, TickReport};
pub use notify::{IntegrationNotifier, Notification, Notifier, RetryPolicy};
pub mod api;
pub mod router;

pub use router::api_v2_router;
