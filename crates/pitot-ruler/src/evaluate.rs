//! One evaluation of one group, on a blocking thread: the tenant's own limits, the
//! group's own data source, a time box of the tenant's query timeout, results written
//! back and alerts handed on.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use pitot_core::{DataKind, Labels, Sample, TenantId};
use pitot_promql::Engine;
use pitot_rules::eval::{query_samples, AlertState, EvalContext, GroupState, SampleSink};
use pitot_rules::ExprLanguage;
use pitot_storage_api::{
    LogQueryableRef, QueryableRef, ResolvingLogQueryable, ResolvingQueryable, SeriesBatch,
};

use crate::bounded::{deadline_error, BoundedQueryable};
use crate::group::Group;
use crate::{RuleAlert, Ruler, SampleWriter};

/// The stable reason ID of a group whose data source was deleted.
pub const DATASOURCE_MISSING_REASON: &str = "rule-group-datasource-missing";

/// Writes a rule's samples through the [`SampleWriter`], one batch per series.
struct WriterSink<'a> {
    writer: &'a dyn SampleWriter,
    key: &'a TenantId,
}

impl SampleSink for WriterSink<'_> {
    fn append(&mut self, samples: &[(Labels, Sample)]) -> Result<(), String> {
        let mut by_series: HashMap<&Labels, Vec<Sample>> = HashMap::new();
        for (labels, sample) in samples {
            by_series.entry(labels).or_default().push(*sample);
        }
        let batch = by_series
            .into_iter()
            .map(|(labels, samples)| SeriesBatch {
                labels: labels.clone(),
                samples,
            })
            .collect();
        self.writer.write(self.key, batch)
    }
}

/// Where a group reads and writes, as storage keys.
struct Places {
    /// What its PromQL reads (rules, template `query`, `ALERTS_FOR_STATE`).
    metrics: Vec<TenantId>,
    /// What its LogQL reads.
    logs: Vec<TenantId>,
    /// Where its recording results and `ALERTS` go.
    write: TenantId,
    /// Whether templates may query metrics: not for a LogQL group bound to a logs data
    /// source, whose token may read no metrics at all.
    template_metrics: bool,
}

impl Ruler {
    /// The storage keys of `name` (a data source of `kind`) or, unbound, of every data
    /// source of `kind` of the tenant.
    fn keys(
        &self,
        tenant: &TenantId,
        name: Option<&str>,
        kind: DataKind,
    ) -> Result<Vec<TenantId>, String> {
        let Some(registry) = &self.datasources else {
            return Ok(vec![tenant.clone()]);
        };
        let Some(name) = name else {
            return Ok(registry.storage_keys(tenant, kind));
        };
        registry
            .of(tenant)
            .into_iter()
            .find(|d| d.name == name && d.kind == kind)
            .map(|d| vec![d.storage])
            .ok_or_else(|| {
                format!("{DATASOURCE_MISSING_REASON}: the group's {kind} data source {name:?} does not exist any more; upload the group to an existing data source, or delete it")
            })
    }

    fn places(&self, group: &Group) -> Result<Places, String> {
        let tenant = &group.key.tenant;
        let ds = group.datasource.as_deref();
        Ok(match group.language {
            ExprLanguage::PromQL => {
                let metrics = self.keys(tenant, ds, DataKind::Metrics)?;
                let write = match ds {
                    Some(_) => metrics[0].clone(),
                    None => tenant.clone(),
                };
                Places {
                    metrics,
                    logs: Vec::new(),
                    write,
                    template_metrics: true,
                }
            }
            ExprLanguage::LogQL => Places {
                metrics: vec![tenant.clone()],
                logs: self.keys(tenant, ds, DataKind::Logs)?,
                write: tenant.clone(),
                template_metrics: ds.is_none(),
            },
        })
    }
}

/// Evaluates `group` at its slot `ts` (blocking: call on a blocking thread inside the
/// runtime whose `handle` is given).
pub(crate) fn evaluate(ruler: &Ruler, group: &Group, ts: i64, handle: &tokio::runtime::Handle) {
    let tenant = &group.key.tenant;
    let limits = ruler.limits_for(tenant);
    let started = Instant::now();
    let deadline = started + limits.group_timeout;
    let places = match ruler.places(group) {
        Ok(p) => p,
        Err(error) => {
            ruler.counters.failures.fetch_add(1, Ordering::Relaxed);
            group.runtime.lock().last_error = Some(error);
            return;
        }
    };
    // Evaluate a copy, so the rules and alerts APIs never wait for an evaluation: only
    // this group's task writes the state back.
    let mut state = group.runtime.lock().state.clone();
    let read: QueryableRef = Arc::new(ResolvingQueryable::fixed(
        Arc::clone(&ruler.queryable),
        places.metrics,
    ));
    let queryable = BoundedQueryable::new(read, limits.max_series, deadline);
    let engine = Engine::new(limits.engine.clone());
    let template_query = |expr: &str, t: i64| -> Result<Vec<_>, String> {
        if !places.template_metrics {
            return Err("the template function query is not available to LogQL groups bound to a logs data source".into());
        }
        if Instant::now() >= deadline {
            return Err(deadline_error());
        }
        let result = futures::executor::block_on(engine.instant(&queryable, tenant, expr, t))
            .map_err(|e| e.to_string())?;
        query_samples(result.value)
    };
    let log_store: Option<(&pitot_logql::LogqlEngine, LogQueryableRef)> =
        ruler.logs.as_ref().map(|(engine, logs)| {
            let fixed: LogQueryableRef = Arc::new(ResolvingLogQueryable::fixed(
                Arc::clone(logs),
                places.logs.clone(),
            ));
            (&**engine, fixed)
        });
    let logql = |expr: &str, t: i64| -> Result<Vec<(Labels, f64)>, String> {
        let (server_engine, logs) = log_store
            .as_ref()
            .ok_or("LogQL rules need the log store, which this ruler has not")?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(deadline_error());
        }
        let mut options = server_engine.options().clone();
        options.max_series = limits.max_log_series;
        options.timeout = limits.log_timeout.min(remaining);
        let engine = pitot_logql::LogqlEngine::new(options);
        let t_ns = t.saturating_mul(1_000_000);
        let params = pitot_logql::QueryParams {
            query: expr.to_string(),
            start: t_ns,
            end: t_ns,
            step: 0,
            interval: None,
            limit: 0,
            direction: pitot_logql::Direction::Backward,
            instant: true,
        };
        let out = futures::executor::block_on(engine.query(&**logs, tenant, &params))
            .map_err(|e| e.to_string())?;
        match out.data {
            pitot_logql::QueryData::Vector(v) => {
                Ok(v.into_iter().map(|(l, _, x)| (l, x)).collect())
            }
            pitot_logql::QueryData::Scalar(_, x) => Ok(vec![(Labels::default(), x)]),
            _ => Err("a LogQL rule must produce a vector or scalar".into()),
        }
    };
    let ctx = EvalContext {
        engine: &engine,
        queryable: &queryable,
        tenant,
        template_query: Some(&template_query),
        logql: Some(&logql),
    };
    let mut sink = WriterSink {
        writer: &*ruler.writer,
        key: &places.write,
    };
    let result = handle.block_on(state.eval(&ctx, ts, &mut sink));
    let errors = result.errors();
    if !errors.is_empty() {
        ruler
            .counters
            .failures
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
    }
    for (rule, error) in errors {
        tracing::debug!(%tenant, group = %group.key.name, rule, error, "rule evaluation failed");
    }
    let interval = ruler.interval_ms(group);
    let alerts = alerts_to_send(&state, ts, interval, &ruler.options.external_url);
    {
        let mut runtime = group.runtime.lock();
        runtime.state = state;
        runtime.last_duration = started.elapsed().as_secs_f64();
        runtime.last_error = (Instant::now() > deadline).then(deadline_error);
    }
    if let Some(sender) = &ruler.sender {
        if !alerts.is_empty() {
            sender.send(tenant, alerts);
        }
    }
}

/// Firing alerts and recently resolved ones, as Prometheus re-sends them every
/// evaluation.
fn alerts_to_send(state: &GroupState, ts: i64, interval: i64, url: &str) -> Vec<RuleAlert> {
    state
        .alerts()
        .into_iter()
        .filter_map(|(_, a)| {
            let ends_at = match (a.state, a.resolved_at) {
                (AlertState::Firing, _) => ts + 4 * interval.max(60_000),
                (AlertState::Inactive, Some(resolved)) => resolved,
                _ => return None,
            };
            Some(RuleAlert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(a.active_at),
                ends_at,
                generator_url: url.to_string(),
            })
        })
        .collect()
}
