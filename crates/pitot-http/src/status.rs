//! Prometheus' status endpoints (`/api/v1/status/{buildinfo,config,flags,runtimeinfo}`,
//! also under `/prometheus`), which operators coming from Prometheus or
//! VictoriaMetrics reach for first, and Grafana reads `buildinfo` of. The configuration
//! and flags are the operator's business: they answer the platform token only.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{ApiError, AppStateRef};

/// What the status endpoints tell about this process, gathered when it starts.
#[derive(Debug, Clone)]
pub struct ServerStatus {
    /// Pitot's version (the crate version).
    pub version: String,
    /// The commit the binary was built from, empty when unknown.
    pub revision: String,
    /// The compiler that built it.
    pub compiler: String,
    /// The loaded configuration as YAML, defaults filled in and secrets hidden.
    pub config_yaml: String,
    /// Every option by its dotted name (what `pitot serve --set` takes), with its value.
    pub flags: BTreeMap<String, String>,
    /// When the process started.
    pub started: SystemTime,
    /// The metrics retention, as configured (`31d`).
    pub storage_retention: String,
}

impl Default for ServerStatus {
    fn default() -> Self {
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            compiler: String::new(),
            config_yaml: String::new(),
            flags: BTreeMap::new(),
            started: SystemTime::now(),
            storage_retention: String::new(),
        }
    }
}

/// The status routes.
pub fn router() -> Router<AppStateRef> {
    let mut router = Router::new();
    for prefix in ["", "/prometheus"] {
        router = router
            .route(&format!("{prefix}/api/v1/status/buildinfo"), get(buildinfo))
            .route(&format!("{prefix}/api/v1/status/config"), get(config))
            .route(&format!("{prefix}/api/v1/status/flags"), get(flags))
            .route(
                &format!("{prefix}/api/v1/status/runtimeinfo"),
                get(runtimeinfo),
            );
    }
    router
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// Refuses anyone but the operator, saying who may ask.
fn operator_only(state: &crate::AppState, headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    if crate::auth::presents_platform_token(state, headers) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the server's {what} is shown to the platform token only"
        )))
    }
}

async fn buildinfo(State(state): State<AppStateRef>) -> Response {
    let s = &state.status;
    success(json!({
        "version": s.version,
        "revision": s.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": s.compiler,
        "application": "pitot",
        "features": {},
    }))
}

async fn config(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator_only(&state, &headers, "configuration")?;
    Ok(success(json!({"yaml": state.status.config_yaml})))
}

async fn flags(State(state): State<AppStateRef>, headers: HeaderMap) -> Result<Response, ApiError> {
    operator_only(&state, &headers, "flags")?;
    Ok(success(json!(state.status.flags)))
}

async fn runtimeinfo(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator_only(&state, &headers, "runtime information")?;
    let s = &state.status;
    let rfc3339 = |t: SystemTime| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(success(json!({
        "startTime": rfc3339(s.started),
        "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": true,
        "lastConfigTime": rfc3339(s.started),
        "corruptionCount": 0,
        "goroutineCount": threads,
        "GOMAXPROCS": cores,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": s.storage_retention,
        "threads": threads,
        "cores": cores,
        "ready": state.ready.load(std::sync::atomic::Ordering::Acquire),
    })))
}
