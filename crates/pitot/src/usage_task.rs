//! Every 10 s: samples each data source's active series and stored bytes into the usage
//! meter, stores what the meter counted, records budget crossings, and writes each
//! tenant's `pitot_tenant_*` self-metrics (what the ready-made alerts read) into its
//! managed metrics data source. Every minute it also writes the tenant's month-to-date
//! usage there as `pitot_usage_*` series, so a tenant can graph and alert on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use pitot_core::{DataKind, Labels, Sample, TenantId};
use pitot_http::AppState;
use pitot_logstore::LogStore;
use pitot_storage_api::{MetricsAppender, SeriesBatch};
use pitot_tsdb::Tsdb;
use pitot_usage::{Granularity, UsageMeter};

/// Runs until aborted; usage series are written every `series_every` (checked every
/// 10 s, or more often when `series_every` is shorter).
pub async fn run(
    state: Arc<AppState>,
    usage: Arc<UsageMeter>,
    tsdb: Arc<Tsdb>,
    logs: Arc<LogStore>,
    series_every: Duration,
) {
    let tick = series_every.clamp(Duration::from_millis(500), Duration::from_secs(10));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_series: Option<tokio::time::Instant> = None;
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now().timestamp_millis();
        let mut stored = HashMap::<(TenantId, DataKind), u64>::new();
        for (key, meta) in tsdb.block_metas() {
            *stored.entry((key, DataKind::Metrics)).or_default() +=
                meta.stats.chunk_bytes + meta.stats.index_bytes;
        }
        for (key, meta) in logs.block_metas() {
            *stored.entry((key, DataKind::Logs)).or_default() +=
                meta.stats.chunk_bytes + meta.stats.filter_bytes + meta.stats.index_bytes;
        }
        let tenants = match state.meta.list_tenants().await {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, "usage: cannot list tenants");
                continue;
            }
        };
        for t in &tenants {
            for ds in state.datasources.of(&t.id) {
                let active = match ds.kind {
                    DataKind::Metrics => tsdb.tenant_series(&ds.storage),
                    DataKind::Logs => logs.tenant_streams(&ds.storage),
                } as u64;
                let bytes = stored
                    .get(&(ds.storage.clone(), ds.kind))
                    .copied()
                    .unwrap_or(0);
                if active > 0 || bytes > 0 {
                    usage.record(
                        &t.id,
                        &ds.name,
                        ds.kind.as_str(),
                        ds.origin.as_str(),
                        now,
                        |r| {
                            r.series_active_peak = r.series_active_peak.max(active);
                            r.bytes_stored = r.bytes_stored.max(bytes);
                        },
                    );
                }
            }
        }
        if let Err(error) = pitot_http::usage::flush(&state, &usage).await {
            tracing::warn!(error = %error.message, "usage not stored; retrying at the next interval");
        }
        let write_usage = last_series.is_none_or(|t| t.elapsed() >= series_every);
        if write_usage {
            last_series = Some(tokio::time::Instant::now());
        }
        for t in &tenants {
            // Both kinds of series need the month's cost: computed at most once a tick.
            let cost = CostOnce::default();
            let mut points = self_metrics(&state, &tsdb, &t.id, &cost).await;
            if write_usage {
                points.extend(usage_series(&state, &t.id, now, &cost).await);
            }
            if points.is_empty() {
                continue;
            }
            let batch = points
                .into_iter()
                .map(|(labels, v)| SeriesBatch {
                    labels,
                    samples: vec![Sample::new(now, v)],
                })
                .collect();
            let managed = state.datasources.managed_metrics(&t.id);
            match tsdb.append(&managed.storage, batch).await {
                // Metered like any data source's samples (and never billed: the price
                // plan skips managed data sources).
                Ok(outcome) => usage.record(
                    &t.id,
                    &managed.datasource,
                    DataKind::Metrics.as_str(),
                    managed.origin.as_str(),
                    now,
                    |r| {
                        r.samples_ingested += (outcome.accepted - outcome.duplicates) as u64;
                    },
                ),
                Err(error) => tracing::warn!(tenant = %t.id, %error, "self-metrics not written"),
            }
        }
    }
}

type Point = (Labels, f64);

/// A tenant's month cost, computed on first use (it flushes usage and reads the store).
type CostOnce = tokio::sync::OnceCell<Option<pitot_usage::MonthCost>>;

async fn cost<'a>(
    state: &AppState,
    tenant: &TenantId,
    once: &'a CostOnce,
) -> Option<&'a pitot_usage::MonthCost> {
    once.get_or_init(|| async { pitot_http::cost::compute(state, tenant, None).await.ok() })
        .await
        .as_ref()
}

fn point(pairs: Vec<(&str, String)>, v: f64) -> Point {
    (Labels::from_pairs(pairs), v)
}

/// One tenant's `pitot_tenant_*` series, and its budget crossings.
async fn self_metrics(
    state: &AppState,
    tsdb: &Tsdb,
    tenant: &TenantId,
    month_cost: &CostOnce,
) -> Vec<Point> {
    let mut points = Vec::new();
    let ingested = state
        .distributor
        .ingested
        .snapshot()
        .into_iter()
        .find(|(t, _)| t == tenant)
        .map_or(0, |(_, n)| n);
    if ingested == 0 {
        return points;
    }
    points.push(point(
        vec![("__name__", "pitot_tenant_ingested_samples_total".into())],
        ingested as f64,
    ));
    for (t, reason, n) in state.distributor.discarded.snapshot() {
        if &t == tenant {
            points.push(point(
                vec![
                    ("__name__", "pitot_tenant_discarded_samples_total".into()),
                    ("reason", reason.to_string()),
                ],
                n as f64,
            ));
        }
    }
    points.push(point(
        vec![("__name__", "pitot_tenant_active_series".into())],
        tsdb.owner_series(tenant) as f64,
    ));
    if let Some(limits) = &state.tenant_limits {
        let l = limits.get(tenant);
        points.push(point(
            vec![(
                "__name__",
                "pitot_tenant_limit_max_global_series_per_user".into(),
            )],
            l.max_global_series_per_user as f64,
        ));
        points.push(point(
            vec![("__name__", "pitot_tenant_limit_ingestion_rate".into())],
            l.ingestion_rate,
        ));
    }
    if let Some(cost) = cost(state, tenant, month_cost).await {
        points.push(point(
            vec![("__name__", "pitot_tenant_cost_to_date".into())],
            cost.to_date,
        ));
        points.push(point(
            vec![("__name__", "pitot_tenant_cost_projected_month_end".into())],
            cost.projected_month_end,
        ));
        if let Ok(Some(budget)) = state.meta.budget(tenant).await {
            points.push(point(
                vec![("__name__", "pitot_tenant_budget_monthly".into())],
                budget,
            ));
            let _ = pitot_http::cost::check_budget(state, tenant, cost).await;
        }
    }
    points
}

/// The tenant's month-to-date usage per data source, as counters that restart each
/// month (`increase()` and `rate()` work across the reset), gauges for what is held now,
/// and the month's cost.
async fn usage_series(
    state: &AppState,
    tenant: &TenantId,
    now: i64,
    month_cost: &CostOnce,
) -> Vec<Point> {
    let today = chrono::Utc::now().date_naive();
    let month = chrono::NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        1,
    )
    .unwrap_or(today);
    let (start, end) = pitot_usage::month_bounds(month);
    let rows = match state.meta.usage(tenant, start, end).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%tenant, %error, "usage series: cannot read usage");
            return Vec::new();
        }
    };
    let mut points = Vec::new();
    let hour = pitot_usage::hour_start(now);
    let mut current: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &rows {
        if r.start_ms == hour {
            current.insert(r.datasource.clone(), (r.series_active_peak, r.bytes_stored));
        }
    }
    for r in pitot_usage::aggregate(&rows, Granularity::Month) {
        let base = |name: &str| {
            vec![
                ("__name__", name.to_string()),
                ("datasource", r.datasource.clone()),
                ("type", r.kind.clone()),
                ("origin", r.origin.clone()),
            ]
        };
        for (name, v) in [
            ("pitot_usage_samples_ingested_total", r.samples_ingested),
            ("pitot_usage_log_bytes_ingested_total", r.log_bytes_ingested),
            ("pitot_usage_log_lines_ingested_total", r.log_lines_ingested),
            ("pitot_usage_queries_total", r.queries),
            ("pitot_usage_samples_scanned_total", r.samples_scanned),
            ("pitot_usage_bytes_scanned_total", r.bytes_scanned),
        ] {
            points.push(point(base(name), v as f64));
        }
        for (reason, n) in &r.rejected {
            let mut labels = base("pitot_usage_rejected_total");
            labels.push(("reason", reason.clone()));
            points.push(point(labels, *n as f64));
        }
        let (active, stored) = current.get(&r.datasource).copied().unwrap_or_default();
        points.push(point(base("pitot_usage_series_active"), active as f64));
        points.push(point(base("pitot_usage_bytes_stored"), stored as f64));
    }
    if let Some(cost) = cost(state, tenant, month_cost).await {
        for ds in &cost.by_datasource {
            let labels = |name: &str| {
                vec![
                    ("__name__", name.to_string()),
                    ("datasource", ds.datasource.clone()),
                    ("currency", cost.currency.clone()),
                ]
            };
            points.push(point(labels("pitot_usage_cost_to_date"), ds.to_date));
            points.push(point(
                labels("pitot_usage_cost_projected_month_end"),
                ds.projected_month_end,
            ));
        }
    }
    points
}
