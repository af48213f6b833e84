//! Pitot's HTTP API.
//!
//! One router per API family (`remote_write`, `prom_read`, `prom_query`, `loki`,
//! `management`, `ops`), all
//! sharing [`AppState`]. Handlers depend on traits and on the distributor, never on a
//! storage engine, so the same routers serve the embedded single binary and, later,
//! components in separate processes.
//!
//! Every request that touches tenant data is authenticated ([`auth`]) and checked
//! against the scope its endpoint needs; the tenant always comes from the token (or,
//! for the platform token, from `X-Scope-OrgID`), never from the request body, which is
//! what keeps tenants isolated.

pub mod alertmanager;
pub mod auth;
pub mod contact_points;
pub mod cost;
pub mod datasource;
mod datasources_api;
mod error;
mod exemplars;
mod import;
mod limits;
pub mod loki;
mod management;
mod metrics;
mod ops;
mod otlp;
mod params;
mod process_metrics;
mod prom_json;
mod prom_query;
mod prom_read;
pub mod query_pool;
pub mod ready_made;
mod remote_read;
mod remote_write;
mod remote_write_v2;
mod rules;
mod selector;
pub mod status;
mod tenant_query;
pub mod usage;

use std::sync::Arc;

use axum::Router;
use pitot_distributor::logs::LogsDistributor;
use pitot_distributor::Distributor;
use pitot_meta::MetaStoreRef;
use pitot_storage_api::{LogQueryableRef, QueryableRef};

pub use error::ApiError;
pub use metrics::{HttpMetrics, MetricsCollector};
pub use rules::RulerQuerySlots;

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest compressed request body accepted.
    pub max_request_body_bytes: usize,
    /// Largest decompressed push message accepted (remote write, Loki protobuf after
    /// snappy, Loki JSON after gzip), checked before decompressing.
    pub max_decompressed_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_request_body_bytes: 10 << 20,
            // 16 MiB: sixteen times the largest batch of the common clients' defaults
            // (Promtail's 1 MiB batchsize; Prometheus' 2,000 samples per send are
            // well under 1 MiB), and with decoding's worst case of about 40 bytes per
            // byte still bounded to well under a gigabyte per request.
            max_decompressed_bytes: 16 << 20,
        }
    }
}

/// Per-query limits the HTTP layer enforces (the engine enforces samples and time).
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Most series one query may select; 0 disables.
    pub max_series: usize,
    /// Longest `end - start` of a range query; zero disables.
    pub max_length: std::time::Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_series: 500_000,
            max_length: std::time::Duration::from_secs(721 * 3600),
        }
    }
}

/// Per-query limits of the logs API (the LogQL engine enforces series and time).
#[derive(Debug, Clone)]
pub struct LogQueryLimits {
    /// Longest `end - start` of a logs query; zero disables.
    pub max_query_length: std::time::Duration,
    /// Most entries one query may ask for with `limit`.
    pub max_entries: usize,
}

impl Default for LogQueryLimits {
    fn default() -> Self {
        LogQueryLimits {
            max_query_length: std::time::Duration::from_secs(721 * 3600),
            max_entries: 5000,
        }
    }
}

/// What the logs endpoints share.
pub struct LogsApi {
    /// Logs ingest.
    pub distributor: Arc<LogsDistributor>,
    /// Logs reads.
    pub queryable: LogQueryableRef,
    /// The LogQL engine.
    pub engine: pitot_logql::LogqlEngine,
    /// Per-query limits.
    pub limits: LogQueryLimits,
}

/// Everything the handlers share.
pub struct AppState {
    /// Tenants and tokens.
    pub meta: MetaStoreRef,
    /// Every tenant's data sources, resolved on each push and query.
    pub datasources: Arc<pitot_meta::DatasourceRegistry>,
    /// Metrics ingest.
    pub distributor: Arc<Distributor>,
    /// Metrics reads.
    pub queryable: QueryableRef,
    /// The PromQL engine.
    pub engine: pitot_promql::Engine,
    /// Per-query limits enforced by the HTTP layer.
    pub query_limits: QueryLimits,
    /// Where queries and heavy reads run (`query.max_concurrent` blocking threads,
    /// never the runtime's workers); more wait for a slot.
    pub query_pool: query_pool::QueryPool,
    /// The operator's secret, if any: manages every tenant.
    pub platform_token: Option<String>,
    /// The logs side: push, LogQL, tail.
    pub logs: LogsApi,
    /// Request size limits.
    pub limits: HttpLimits,
    /// Bytes of pushes in flight, per tenant and in all (remote write and Loki).
    pub push_budget: Arc<pitot_distributor::InflightBudget>,
    /// Request counters.
    pub http_metrics: HttpMetrics,
    /// Other components' contributions to `/metrics`.
    pub collectors: Vec<MetricsCollector>,
    /// Per-tenant limits (rates, sizes, query bounds); `None` holds every tenant to the
    /// server-wide settings only.
    pub tenant_limits: Option<Arc<pitot_limits::Limits>>,
    /// Per-tenant query slots (each tenant's `max_concurrent_queries`).
    pub tenant_slots: tenant_query::TenantSlots,
    /// Live-tail connections open per tenant (each tenant's
    /// `max_concurrent_tail_requests`).
    pub tail_connections: loki::TailConnections,
    /// Prices applied to usage.
    pub price_plan: pitot_usage::PricePlan,
    /// Usage metering, if enabled.
    pub usage: Option<Arc<pitot_usage::UsageMeter>>,
    /// The per-tenant Alertmanager, if this process runs one.
    pub alertmanager: Option<Arc<pitot_alertmanager::Alertmanager>>,
    /// The ruler, if this process runs one.
    pub ruler: Option<Arc<pitot_ruler::Ruler>>,
    /// Storage operations for the operator, if the process runs storage.
    pub admin: Option<Arc<dyn StorageAdmin>>,
    /// Exemplars of every tenant; `None` answers `/api/v1/query_exemplars` with nothing
    /// and refuses none (a server without an exemplar store, as in some tests).
    pub exemplars: Option<Arc<pitot_exemplars::ExemplarStore>>,
    /// Whether the server is ready (storage recovered).
    pub ready: std::sync::atomic::AtomicBool,
    /// Build, configuration and start time, for the status endpoints.
    pub status: status::ServerStatus,
}

/// Storage operations the operator can trigger over HTTP.
#[async_trait::async_trait]
pub trait StorageAdmin: Send + Sync {
    /// Cuts everything in the head into blocks now (as before a backup or a benchmark
    /// of the final on-disk form); the head then refuses samples older than what was cut.
    /// Returns the number of blocks written.
    async fn flush(&self) -> Result<usize, String>;

    /// What `tenant` holds right now (active series, log streams), for `user_stats`.
    fn tenant_usage(&self, tenant: &pitot_core::TenantId) -> TenantUsage;

    /// Deletes everything stored under a data source's storage key (head, WAL and
    /// blocks), so that nothing of it comes back after a restart.
    async fn delete_data(
        &self,
        storage: &pitot_core::TenantId,
        kind: pitot_core::DataKind,
    ) -> Result<(), String>;
}

/// A tenant's current holdings in storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantUsage {
    /// Active series in the metrics head.
    pub series: u64,
    /// Streams in the log head.
    pub streams: u64,
}

/// Shared handle to [`AppState`].
pub type AppStateRef = Arc<AppState>;

/// The whole API, also under `/ds/<data source>/...`.
pub fn router(state: AppStateRef) -> Router {
    let api = api_router(state);
    let inner = api.clone();
    Router::new()
        .route(
            "/ds/{*rest}",
            axum::routing::any(move |request: axum::extract::Request| {
                datasource::forward_prefixed(inner.clone(), request)
            }),
        )
        .merge(api)
}

fn api_router(state: AppStateRef) -> Router {
    Router::new()
        .merge(datasources_api::router())
        .merge(remote_write::router())
        .merge(prom_read::router())
        .merge(remote_read::router())
        .merge(prom_query::router())
        .merge(loki::router())
        .merge(management::router())
        .merge(limits::router())
        .merge(rules::router())
        .merge(usage::router())
        .merge(cost::router())
        .merge(alertmanager::router())
        .merge(contact_points::router())
        .merge(ready_made::router())
        .merge(ops::router())
        .merge(status::router())
        .merge(import::router())
        .merge(otlp::router())
        .fallback(ops::unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::track,
        ))
        .with_state(state)
}
