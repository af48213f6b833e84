//! The Loki API: push (`/loki/api/v1/push`), queries, label and series reads, index
//! stats and live tail, in Loki's JSON formats so Promtail, Alloy, Grafana's Loki data
//! source and logcli work unchanged.
//!
//! Errors are plain text, as Loki answers them (Grafana shows the body as-is).

mod error;
pub(crate) mod params;
mod push;
mod query;
mod read;
mod tail;

use axum::routing::{get, post};
use axum::Router;

pub use error::LokiError;
pub use tail::{OpenTail, TailConnections};

use crate::AppStateRef;

/// Every Loki route, also under the `/loki/api/v1` paths Grafana's data source uses and
/// the legacy `/api/prom/push` Promtail path.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/loki/api/v1/push", post(push::push))
        .route("/api/prom/push", post(push::push))
        .route(
            "/loki/api/v1/query",
            get(query::instant).post(query::instant),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::range).post(query::range),
        )
        .route("/loki/api/v1/labels", get(read::labels).post(read::labels))
        .route("/loki/api/v1/label", get(read::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(read::label_values).post(read::label_values),
        )
        .route("/loki/api/v1/series", get(read::series).post(read::series))
        .route(
            "/loki/api/v1/index/stats",
            get(read::index_stats).post(read::index_stats),
        )
        .route("/loki/api/v1/tail", get(tail::tail))
        .route(
            "/loki/api/v1/format_query",
            get(query::format).post(query::format),
        )
}
