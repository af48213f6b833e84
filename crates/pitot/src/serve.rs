//! `pitot serve`: opens storage, wires the components, serves HTTP until a signal.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::ObjectStore;
use pitot_distributor::logs::LogsDistributor;
use pitot_distributor::{Distributor, ValidationLimits};
use pitot_http::{AppState, HttpLimits, LogQueryLimits, LogsApi, MetricsCollector};
use pitot_logql::{LogqlEngine, LogqlOptions};
use pitot_logstore::{LogStore, LogStoreOptions};
use pitot_meta::SqliteMetaStore;
use pitot_tsdb::{Tsdb, TsdbOptions};

use crate::bootstrap;
use crate::config::{duration, Config};
use crate::runtime_overrides;

/// Runs the server until SIGINT or SIGTERM, then flushes the WAL.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    bootstrap::prepare_data_dir(&data_dir)?;
    let _data_dir_lock = bootstrap::lock_data_dir(&data_dir)?;
    let meta = Arc::new(SqliteMetaStore::open(&bootstrap::meta_path(&data_dir))?);
    bootstrap::initial_tenant(&*meta, &data_dir).await?;
    let platform_token = bootstrap::platform_token(config.platform_token.clone(), &data_dir)?;
    let datasources = pitot_meta::DatasourceRegistry::load(meta.clone()).await?;

    let store = object_store(&config)?;
    let options = TsdbOptions {
        block_range: duration("storage.block_range", &config.storage.block_range)?,
        out_of_order_window: duration(
            "storage.out_of_order_window",
            &config.storage.out_of_order_window,
        )?,
        retention: duration("storage.retention", &config.storage.retention)?,
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open(&data_dir.join("wal"), Arc::clone(&store), options)
        .await
        .context("cannot open metrics storage")?;
    let logs = &config.logs;
    let log_options = LogStoreOptions {
        chunk_target_bytes: logs.chunk_target_size.max(1024),
        max_chunk_age: duration("logs.max_chunk_age", &logs.max_chunk_age)?,
        out_of_order_window: duration("logs.out_of_order_window", &logs.out_of_order_window)?,
        retention: duration("logs.retention", &logs.retention)?,
        ..LogStoreOptions::default()
    };
    let default_log_retention = log_options.retention;
    let log_store = Arc::new(
        LogStore::open(&data_dir.join("wal-logs"), store, log_options)
            .await
            .context("cannot open log storage")?,
    );

    // Replay keeps everything the log holds; each tenant's next append applies its limit.
    let exemplars =
        pitot_exemplars::ExemplarStore::open(data_dir.join("wal-exemplars"), true, usize::MAX)
            .context("cannot open exemplar storage")?;

    let limits = ValidationLimits {
        max_label_names_per_series: config.limits.max_label_names_per_series,
        max_label_name_length: config.limits.max_label_name_length,
        max_label_value_length: config.limits.max_label_value_length,
        creation_grace_period: duration(
            "limits.creation_grace_period",
            &config.limits.creation_grace_period,
        )?,
        past_grace_period: duration("limits.past_grace_period", &config.limits.past_grace_period)?,
    };
    let tenant_limits = Arc::new(pitot_limits::Limits::new(config.tenant_limit_defaults()?));
    runtime_overrides::load_api_overrides(&*meta, &tenant_limits).await?;
    let runtime_watch = match &config.runtime_config.file {
        Some(path) => {
            let text = runtime_overrides::load_file(path, &tenant_limits)?;
            let period = duration("runtime_config.period", &config.runtime_config.period)?
                .max(Duration::from_millis(100));
            Some(tokio::spawn(runtime_overrides::watch(
                path.clone(),
                Arc::clone(&tenant_limits),
                period,
                text,
            )))
        }
        None => None,
    };
    {
        let limits = Arc::clone(&tenant_limits);
        // Limits are the tenant's, whichever of its data sources is written.
        tsdb.set_series_limits(Arc::new(move |key| {
            let l = limits.get(&key.owner());
            pitot_storage_api::SeriesLimits {
                per_user: l.max_global_series_per_user,
                per_metric: l.max_global_series_per_metric,
            }
        }));
    }
    let usage = Arc::new(pitot_usage::UsageMeter::default());
    {
        let limits = Arc::clone(&tenant_limits);
        log_store.set_stream_limit(Arc::new(move |key| {
            limits.get(&key.owner()).max_global_streams_per_user
        }));
    }
    {
        let registry = Arc::clone(&datasources);
        tsdb.set_retention(Arc::new(move |key| {
            match registry.retention_ms(key, pitot_core::DataKind::Metrics) {
                0 => None,
                ms => Some(Duration::from_millis(ms as u64)),
            }
        }));
    }
    let distributor = Arc::new(
        Distributor::new(tsdb.clone(), limits)
            .with_usage(Arc::clone(&usage))
            .with_tenant_limits(Arc::clone(&tenant_limits)),
    );
    let families = crate::metadata_task::restore(&*meta, &distributor.metadata)
        .await
        .context("reading the saved metric metadata")?;
    tracing::info!(families, "metric metadata restored");
    let external_url = format!("http://{}", config.listen);
    let alertmanager = Arc::new(pitot_alertmanager::Alertmanager::new(
        pitot_alertmanager::AlertmanagerOptions {
            limits: alertmanager_limits(Arc::clone(&tenant_limits)),
            max_sends_per_tenant: config.alertmanager.max_sends_per_tenant.max(1),
            ..pitot_alertmanager::AlertmanagerOptions::new(
                data_dir.join("alertmanager"),
                format!("{external_url}/alertmanager"),
            )
        }
        .with_egress(
            Arc::new(config.egress.policy()?),
            pitot_alertmanager::RetryPolicy {
                max_attempt_timeout: duration(
                    "alertmanager.max_notify_timeout",
                    &config.alertmanager.max_notify_timeout,
                )?,
                ..Default::default()
            },
        ),
    ));
    for (tenant, document) in pitot_meta::MetaStore::alertmanager_configs(&*meta).await? {
        match pitot_alertmanager::AlertmanagerConfig::parse_document(&document) {
            Ok(c) => {
                if let Err(error) = alertmanager.set_config(&tenant, c) {
                    tracing::error!(%tenant, %error, "alertmanager configuration not applied");
                }
            }
            Err(error) => {
                tracing::error!(%tenant, %error, "stored alertmanager configuration does not parse")
            }
        }
    }
    {
        let own: std::collections::HashSet<_> = pitot_meta::MetaStore::alertmanager_configs(&*meta)
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        let mut points: std::collections::BTreeMap<
            _,
            Vec<pitot_http::contact_points::ContactPoint>,
        > = Default::default();
        for (tenant, _, spec) in pitot_meta::MetaStore::contact_points(&*meta, None).await? {
            if let Ok(p) = serde_json::from_str(&spec) {
                points.entry(tenant).or_default().push(p);
            }
        }
        for (tenant, list) in points {
            if own.contains(&tenant) {
                continue;
            }
            match pitot_http::contact_points::generated_config(&list) {
                Ok(c) => {
                    if let Err(error) = alertmanager.set_config(&tenant, c) {
                        tracing::error!(%tenant, %error, "contact points not applied");
                    }
                }
                Err(error) => {
                    tracing::error!(%tenant, error = %error.message, "contact points not applied")
                }
            }
        }
    }
    let alertmanager_task = tokio::spawn(pitot_alertmanager::runtime::run(
        Arc::clone(&alertmanager),
        pitot_alertmanager::Alertmanager::TICK,
        std::future::pending(),
    ));
    // One set of PromQL settings for the API and the ruler: a rule evaluates exactly as
    // the same expression sent to /api/v1/query.
    let engine_options = pitot_promql::EngineOptions {
        lookback_delta: duration("query.lookback_delta", &config.query.lookback_delta)?,
        max_samples: config.query.max_samples,
        timeout: duration("query.timeout", &config.query.timeout)?,
        delayed_name_removal: config.query.delayed_name_removal,
        ..Default::default()
    };
    let logql_options = LogqlOptions {
        max_series: logs.max_query_series,
        max_entries: logs.max_entries_limit_per_query,
        timeout: duration("logs.query_timeout", &logs.query_timeout)?,
        ..LogqlOptions::default()
    };
    let ruler = Arc::new(
        pitot_ruler::Ruler::new(
            meta.clone(),
            pitot_promql::Engine::new(engine_options.clone()),
            // By storage key: each group reads its own data source (or, unbound, every
            // metrics data source of its tenant).
            tsdb.clone(),
            Arc::new(RuleWriter(Arc::clone(&tsdb))),
            Some({
                let mut senders: Vec<Arc<dyn pitot_ruler::AlertSender>> =
                    vec![Arc::new(AlertForwarder(Arc::clone(&alertmanager)))];
                for url in &config.rules.alertmanager_urls {
                    senders.push(Arc::new(pitot_ruler::ExternalAlertmanager::new(
                        url.clone(),
                    )));
                }
                Arc::new(pitot_ruler::FanOut(senders))
            }),
            pitot_ruler::RulerOptions {
                default_interval: duration(
                    "rules.evaluation_interval",
                    &config.rules.evaluation_interval,
                )?,
                external_url: external_url.clone(),
                max_series: config.query.max_series,
            },
        )
        .with_datasources(Arc::clone(&datasources))
        .with_tenant_limits(Arc::clone(&tenant_limits))
        .with_logs(
            Arc::new(LogqlEngine::new(logql_options.clone())),
            log_store.clone(),
        ),
    );
    let ruler_task = tokio::spawn(Arc::clone(&ruler).run(duration(
        "rules.poll_interval",
        &config.rules.poll_interval,
    )?));
    let push_budget = Arc::new(pitot_distributor::InflightBudget::new(
        config.server.max_inflight_push_bytes,
        pitot_distributor::inflight::DEFAULT_INFLIGHT_WAIT,
    ));
    let state = Arc::new(AppState {
        ruler: Some(Arc::clone(&ruler)),
        alertmanager: Some(Arc::clone(&alertmanager)),
        meta,
        datasources: Arc::clone(&datasources),
        distributor,
        queryable: tsdb.clone(),
        engine: pitot_promql::Engine::new(engine_options),
        query_limits: pitot_http::QueryLimits {
            max_series: config.query.max_series,
            max_length: duration("query.max_length", &config.query.max_length)?,
        },
        query_pool: pitot_http::query_pool::QueryPool::with_demotion(
            config.query.max_concurrent,
            match config.query.max_concurrent_per_tenant {
                0 => pitot_http::query_pool::default_tenant_share(),
                n => n,
            },
            pitot_http::query_pool::Demotion {
                after: duration("query.demote_after", &config.query.demote_after)?,
                reserved_cores: config.query.reserved_cores,
            },
        ),
        logs: LogsApi {
            distributor: Arc::new(
                LogsDistributor::new(log_store.clone(), logs.validation_limits()?)
                    .with_usage(Arc::clone(&usage))
                    .with_tenant_limits(Arc::clone(&tenant_limits)),
            ),
            queryable: log_store.clone(),
            engine: LogqlEngine::new(logql_options),
            limits: LogQueryLimits {
                max_query_length: duration("logs.max_query_length", &logs.max_query_length)?,
                max_entries: logs.max_entries_limit_per_query,
            },
        },
        platform_token: Some(platform_token),
        limits: HttpLimits {
            max_request_body_bytes: config.server.max_request_body_bytes,
            max_decompressed_bytes: config.server.max_decompressed_bytes,
        },
        push_budget: Arc::clone(&push_budget),
        http_metrics: Default::default(),
        collectors: vec![
            tsdb_collector(Arc::clone(&tsdb)),
            crate::wal_disk_metrics::collector(&data_dir),
            log_store_collector(Arc::clone(&log_store)),
            Arc::new(move |out: &mut String| push_budget.render_metrics(out)),
            {
                let exemplars = Arc::clone(&exemplars);
                Arc::new(move |out: &mut String| {
                    let stats = exemplars.stats();
                    out.push_str(&format!(
                        "# HELP pitot_exemplars_held Exemplars held in the tenants' exemplar buffers.\n# TYPE pitot_exemplars_held gauge\npitot_exemplars_held {}\n# HELP pitot_exemplars_stored_total Exemplars stored since start.\n# TYPE pitot_exemplars_stored_total counter\npitot_exemplars_stored_total {}\n",
                        stats.held, stats.appended
                    ));
                })
            },
            {
                let ruler = Arc::clone(&ruler);
                Arc::new(move |out: &mut String| ruler.metrics_text(out))
            },
            {
                let alertmanager = Arc::clone(&alertmanager);
                Arc::new(move |out: &mut String| alertmanager.render_metrics(out))
            },
        ],
        tenant_limits: Some(Arc::clone(&tenant_limits)),
        tenant_slots: Default::default(),
        tail_connections: Default::default(),
        usage: Some(Arc::clone(&usage)),
        price_plan: config.pricing.clone(),
        admin: Some(Arc::new(StoreAdmin {
            tsdb: Arc::clone(&tsdb),
            logs: Arc::clone(&log_store),
        })),
        exemplars: Some(Arc::clone(&exemplars)),
        ready: true.into(),
        status: pitot_http::status::ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: env!("PITOT_REVISION").to_string(),
            compiler: env!("PITOT_RUSTC_VERSION").to_string(),
            config_yaml: config.redacted_yaml()?,
            flags: config.flat_options()?,
            started: std::time::SystemTime::now(),
            storage_retention: config.storage.retention.clone(),
        },
    });
    // Rule evaluations take their tenant's query slots from the API's per-tenant budget.
    ruler.set_query_slots(Arc::new(pitot_http::RulerQuerySlots(Arc::downgrade(
        &state,
    ))));
    state.ready.store(true, Ordering::Release);

    let interval = duration(
        "storage.maintenance_interval",
        &config.storage.maintenance_interval,
    )?
    .max(Duration::from_millis(100));
    let maintenance = tokio::spawn(maintain(Arc::clone(&tsdb), interval));
    let log_maintenance = tokio::spawn(maintain_logs(
        Arc::clone(&log_store),
        interval,
        Arc::clone(&datasources),
        default_log_retention,
    ));
    let metadata_task = tokio::spawn(crate::metadata_task::run(
        state.meta.clone(),
        Arc::clone(&state.distributor),
    ));
    let usage_task = tokio::spawn(crate::usage_task::run(
        Arc::clone(&state),
        Arc::clone(&usage),
        Arc::clone(&tsdb),
        Arc::clone(&log_store),
        duration("usage.series_interval", &config.usage.series_interval)?,
    ));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another process using it? pick one with --listen)",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %data_dir.display(), "pitot listening");
    println!("pitot listening on http://{addr}");
    let shutdown_state = Arc::clone(&state);
    axum::serve(listener, pitot_http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    maintenance.abort();
    log_maintenance.abort();
    usage_task.abort();
    metadata_task.abort();
    crate::metadata_task::save(&*shutdown_state.meta, &shutdown_state.distributor.metadata).await;
    if let Err(error) = pitot_http::usage::flush(&shutdown_state, &usage).await {
        tracing::error!(error = %error.message, "usage not stored at shutdown");
    }
    ruler_task.abort();
    ruler.stop();
    alertmanager_task.abort();
    if let Some(w) = runtime_watch {
        w.abort();
    }
    tsdb.close().context("flushing the WAL on shutdown")?;
    exemplars
        .close()
        .context("flushing the exemplar log on shutdown")?;
    log_store
        .close()
        .context("flushing the log WAL on shutdown")?;
    tracing::info!("pitot stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Cuts blocks and applies retention on a timer.
async fn maintain(tsdb: Arc<Tsdb>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = tsdb.cut_blocks(false).await {
            tracing::error!(%error, "block cut failed; retrying at the next interval");
        }
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(error) = tsdb.apply_retention(now).await {
            tracing::error!(%error, "applying retention failed; retrying at the next interval");
        }
    }
}

/// Seals old chunks, writes log blocks and applies log retention on a timer.
async fn maintain_logs(
    store: Arc<LogStore>,
    interval: Duration,
    datasources: Arc<pitot_meta::DatasourceRegistry>,
    default_retention: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = store.flush(false).await {
            tracing::error!(%error, "log flush failed; retrying at the next interval");
        }
        let retention = |key: &pitot_core::TenantId| match datasources
            .retention_ms(key, pitot_core::DataKind::Logs)
        {
            0 => default_retention,
            ms => Duration::from_millis(ms as u64),
        };
        if let Err(error) = store
            .apply_retention_with(pitot_logstore::now_ns(), &retention)
            .await
        {
            tracing::error!(%error, "applying log retention failed; retrying at the next interval");
        }
    }
}

/// The object store for blocks: a local directory by default, or S3.
fn object_store(config: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let Some(url) = &config.storage.object_store_url else {
        let dir = config.data_dir.join("blocks");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        return Ok(Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(&dir)?,
        ));
    };
    anyhow::ensure!(
        url.starts_with("s3://"),
        "storage.object_store_url {url:?} is not supported: use s3://bucket/prefix, or leave it unset for a local directory"
    );
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
    let s = &config.storage;
    if let Some(v) = &s.s3_endpoint {
        builder = builder.with_endpoint(v);
    }
    if let Some(v) = &s.s3_region {
        builder = builder.with_region(v);
    }
    if let Some(v) = &s.s3_access_key_id {
        builder = builder.with_access_key_id(v);
    }
    if let Some(v) = &s.s3_secret_access_key {
        builder = builder.with_secret_access_key(v);
    }
    builder = builder.with_allow_http(s.s3_allow_http);
    let store = builder
        .build()
        .with_context(|| format!("cannot configure S3 store {url}"))?;
    let prefix = url
        .trim_start_matches("s3://")
        .split_once('/')
        .map(|(_, p)| p.trim_matches('/'))
        .unwrap_or("");
    if prefix.is_empty() {
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(
            store, prefix,
        )))
    }
}

/// Exposes the storage engine's counters on `/metrics`.
fn tsdb_collector(tsdb: Arc<Tsdb>) -> MetricsCollector {
    Arc::new(move |out: &mut String| {
        use std::fmt::Write;
        let s = &tsdb.stats;
        let wal = tsdb.wal_stats();
        let blocks = tsdb.block_metas();
        let lines: [(&str, &str, &str, u64); 9] = [
            (
                "pitot_tsdb_samples_appended_total",
                "counter",
                "Samples stored in the head.",
                s.samples_appended.load(Ordering::Relaxed),
            ),
            (
                "pitot_tsdb_head_series_created_total",
                "counter",
                "Series created in the head.",
                s.series_created.load(Ordering::Relaxed),
            ),
            (
                "pitot_tsdb_head_series",
                "gauge",
                "Series in the head.",
                tsdb.head_series() as u64,
            ),
            (
                "pitot_tsdb_blocks",
                "gauge",
                "Blocks loaded.",
                blocks.len() as u64,
            ),
            (
                "pitot_tsdb_blocks_written_total",
                "counter",
                "Blocks cut from the head.",
                s.blocks_written.load(Ordering::Relaxed),
            ),
            (
                "pitot_tsdb_blocks_deleted_total",
                "counter",
                "Blocks deleted by retention.",
                s.blocks_deleted.load(Ordering::Relaxed),
            ),
            (
                "pitot_wal_fsyncs_total",
                "counter",
                "WAL fsyncs (one per group commit).",
                wal.fsyncs,
            ),
            (
                "pitot_wal_bytes_written_total",
                "counter",
                "Bytes written to the WAL.",
                wal.bytes_written,
            ),
            (
                "pitot_wal_records_total",
                "counter",
                "Records appended to the WAL.",
                wal.records_appended,
            ),
        ];
        for (name, kind, help, value) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let mut per_tenant = std::collections::BTreeMap::<String, (u64, u64)>::new();
        for (tenant, meta) in &blocks {
            let e = per_tenant.entry(tenant.to_string()).or_default();
            e.0 += meta.stats.num_samples;
            e.1 += meta.stats.chunk_bytes + meta.stats.index_bytes;
        }
        out.push_str("# HELP pitot_tsdb_block_samples Samples in blocks, by tenant.\n# TYPE pitot_tsdb_block_samples gauge\n");
        for (tenant, (samples, _)) in &per_tenant {
            let _ = writeln!(
                out,
                "pitot_tsdb_block_samples{{tenant=\"{tenant}\"}} {samples}"
            );
        }
        out.push_str("# HELP pitot_tsdb_block_bytes Bytes of blocks (chunks and index), by tenant.\n# TYPE pitot_tsdb_block_bytes gauge\n");
        for (tenant, (_, bytes)) in &per_tenant {
            let _ = writeln!(out, "pitot_tsdb_block_bytes{{tenant=\"{tenant}\"}} {bytes}");
        }
    })
}

/// Exposes the log store's sizes and counters on `/metrics`.
fn log_store_collector(store: Arc<LogStore>) -> MetricsCollector {
    Arc::new(move |out: &mut String| {
        use std::fmt::Write;
        let s = store.stats();
        let lines: [(&str, &str, &str, u64); 13] = [
            (
                "pitot_logs_head_streams",
                "gauge",
                "Streams in the log heads.",
                s.streams,
            ),
            (
                "pitot_logs_head_entries",
                "gauge",
                "Entries held in the log heads.",
                s.head_entries,
            ),
            (
                "pitot_logs_head_bytes",
                "gauge",
                "Memory held by the log heads.",
                s.head_bytes,
            ),
            (
                "pitot_logs_blocks",
                "gauge",
                "Log blocks in the object store.",
                s.blocks,
            ),
            (
                "pitot_logs_block_bytes",
                "gauge",
                "Stored bytes of log blocks.",
                s.block_bytes,
            ),
            (
                "pitot_logs_block_raw_bytes",
                "gauge",
                "Raw line bytes in log blocks.",
                s.block_raw_bytes,
            ),
            (
                "pitot_logs_entries_appended_total",
                "counter",
                "Log entries stored.",
                s.entries_appended,
            ),
            (
                "pitot_logs_bytes_appended_total",
                "counter",
                "Raw log line bytes stored.",
                s.bytes_appended,
            ),
            (
                "pitot_logs_entries_rejected_total",
                "counter",
                "Log entries refused by storage.",
                s.entries_rejected,
            ),
            (
                "pitot_logs_blocks_written_total",
                "counter",
                "Log blocks written.",
                s.blocks_written,
            ),
            (
                "pitot_logs_blocks_deleted_total",
                "counter",
                "Log blocks deleted by retention.",
                s.blocks_deleted,
            ),
            (
                "pitot_logs_flush_failures_total",
                "counter",
                "Log flushes that failed.",
                s.flush_failures,
            ),
            (
                "pitot_logs_wal_fsyncs_total",
                "counter",
                "Log WAL fsyncs.",
                s.wal.fsyncs,
            ),
        ];
        for (name, kind, help, value) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    })
}

/// Writes rule results into the metrics storage (durably, before the next rule runs).
struct RuleWriter(Arc<Tsdb>);

impl pitot_ruler::SampleWriter for RuleWriter {
    fn write(
        &self,
        tenant: &pitot_core::TenantId,
        batch: Vec<pitot_storage_api::SeriesBatch>,
    ) -> Result<(), String> {
        self.0
            .append_blocking(tenant, batch)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Each tenant's Alertmanager limits, read from the per-tenant limits on every write.
fn alertmanager_limits(limits: Arc<pitot_limits::Limits>) -> pitot_alertmanager::limits::LimitsFn {
    Arc::new(move |tenant| {
        let l = limits.get(tenant);
        pitot_alertmanager::limits::AmLimits {
            max_config_size_bytes: l.alertmanager_max_config_size_bytes,
            max_templates_count: l.alertmanager_max_templates_count,
            max_template_size_bytes: l.alertmanager_max_template_size_bytes,
            max_alerts_count: l.alertmanager_max_alerts_count,
            max_alerts_size_bytes: l.alertmanager_max_alerts_size_bytes,
            max_silences_count: l.alertmanager_max_silences_count,
            max_silence_size_bytes: l.alertmanager_max_silence_size_bytes,
            max_dispatcher_aggregation_groups: l.alertmanager_max_dispatcher_aggregation_groups,
        }
    })
}

/// Hands the ruler's alerts to the tenant's own Alertmanager.
struct AlertForwarder(Arc<pitot_alertmanager::Alertmanager>);

impl pitot_ruler::AlertSender for AlertForwarder {
    fn send(&self, tenant: &pitot_core::TenantId, alerts: Vec<pitot_ruler::RuleAlert>) {
        let ts = |ms: i64| chrono::DateTime::from_timestamp_millis(ms);
        let alerts = alerts
            .into_iter()
            .map(|a| pitot_alertmanager::PostableAlert {
                labels: a
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                annotations: a.annotations,
                starts_at: ts(a.starts_at),
                ends_at: ts(a.ends_at),
                generator_url: Some(a.generator_url),
            })
            .collect();
        if let Err(error) = self.0.post_alerts(tenant, alerts) {
            tracing::warn!(%tenant, %error, "alerts not accepted by the alertmanager");
        }
    }
}

/// Storage operations the admin API may trigger.
struct StoreAdmin {
    tsdb: Arc<Tsdb>,
    logs: Arc<LogStore>,
}

#[async_trait::async_trait]
impl pitot_http::StorageAdmin for StoreAdmin {
    async fn flush(&self) -> Result<usize, String> {
        let metrics = self
            .tsdb
            .cut_blocks(true)
            .await
            .map_err(|e| e.to_string())?;
        let logs = self.logs.flush(true).await.map_err(|e| e.to_string())?;
        Ok(metrics + logs.blocks)
    }

    fn tenant_usage(&self, tenant: &pitot_core::TenantId) -> pitot_http::TenantUsage {
        pitot_http::TenantUsage {
            series: self.tsdb.owner_series(tenant) as u64,
            streams: self.logs.tenant_streams(tenant) as u64,
        }
    }

    async fn delete_data(
        &self,
        storage: &pitot_core::TenantId,
        kind: pitot_core::DataKind,
    ) -> Result<(), String> {
        let deleted = match kind {
            pitot_core::DataKind::Metrics => self
                .tsdb
                .delete_tenant(storage)
                .await
                .map_err(|e| e.to_string()),
            pitot_core::DataKind::Logs => self
                .logs
                .delete_tenant(storage)
                .await
                .map_err(|e| e.to_string()),
        };
        deleted.map(|_| ())
    }
}
