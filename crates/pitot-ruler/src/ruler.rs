//! Scheduling and evaluating the groups of every tenant.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_core::{Labels, Sample, TenantId};
use pitot_meta::MetaStoreRef;
use pitot_promql::Engine;
use pitot_rules::eval::{
    query_samples, AlertState, EvalContext, EvalOptions, GroupState, RestoreOptions, RuleHealth,
    SampleSink,
};
use pitot_rules::{ExprLanguage, Rule, RuleGroup, ValidationOptions};
use pitot_storage_api::{LogQueryableRef, QueryableRef, SeriesBatch};
use serde_json::{json, Value};

use crate::{AlertSender, RuleAlert, SampleWriter};

/// Why the ruler could not load groups.
#[derive(Debug, thiserror::Error)]
pub enum RulerError {
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Meta(#[from] pitot_meta::MetaError),
}

/// Settings of the ruler.
#[derive(Debug, Clone)]
pub struct RulerOptions {
    /// Interval of groups that set none (Prometheus' `evaluation_interval`).
    pub default_interval: Duration,
    /// Base URL for alerts' `generatorURL` and templates' `$externalURL`.
    pub external_url: String,
}

impl Default for RulerOptions {
    fn default() -> Self {
        RulerOptions {
            default_interval: Duration::from_secs(60),
            external_url: String::new(),
        }
    }
}

/// Identifies one group of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// Whose group.
    pub tenant: TenantId,
    /// Its namespace (rule file).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A running group.
struct Runner {
    yaml: String,
    state: GroupState,
    next_eval: i64,
    last_duration: f64,
}

/// A read-only view of a group for the rules API.
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    /// The group's key.
    pub key: GroupKey,
    /// The rules API JSON of the group.
    pub json: Value,
}

/// Every tenant's running rule groups.
pub struct Ruler {
    meta: MetaStoreRef,
    engine: Engine,
    queryable: QueryableRef,
    writer: Arc<dyn SampleWriter>,
    sender: Option<Arc<dyn AlertSender>>,
    options: RulerOptions,
    groups: Mutex<BTreeMap<GroupKey, Arc<Mutex<Runner>>>>,
    logs: Option<(Arc<pitot_logql::LogqlEngine>, LogQueryableRef)>,
}

/// Stored namespaces of LogQL rule groups start with this (the Loki ruler API's).
pub const LOKI_NAMESPACE_PREFIX: &str = "loki/";

/// Writes a rule's samples through the [`SampleWriter`], one batch per series.
struct WriterSink<'a> {
    writer: &'a dyn SampleWriter,
    tenant: &'a TenantId,
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
        self.writer.write(self.tenant, batch)
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.to_string(), Value::String(l.value.to_string())))
            .collect(),
    )
}

impl Ruler {
    /// A ruler reading groups from `meta`, querying `queryable` with `engine`.
    pub fn new(
        meta: MetaStoreRef,
        engine: Engine,
        queryable: QueryableRef,
        writer: Arc<dyn SampleWriter>,
        sender: Option<Arc<dyn AlertSender>>,
        options: RulerOptions,
    ) -> Self {
        Ruler {
            meta,
            engine,
            queryable,
            writer,
            sender,
            options,
            groups: Mutex::default(),
            logs: None,
        }
    }

    /// Lets LogQL rule groups (stored under `loki/<namespace>`) query the tenants' logs.
    pub fn with_logs(
        mut self,
        engine: Arc<pitot_logql::LogqlEngine>,
        logs: LogQueryableRef,
    ) -> Self {
        self.logs = Some((engine, logs));
        self
    }

    fn eval_options(&self, language: ExprLanguage) -> EvalOptions {
        EvalOptions {
            language,
            default_interval_ms: self.options.default_interval.as_millis() as i64,
            external_url: self.options.external_url.clone(),
            restore: Some(RestoreOptions::default()),
            ..EvalOptions::default()
        }
    }

    /// Loads groups from the metadata store: new and changed groups (re)start, removed
    /// ones stop; unchanged groups keep their alert state.
    pub async fn sync(&self, now_ms: i64) -> Result<(), RulerError> {
        let stored = self.meta.list_rule_groups(None).await?;
        let mut groups = self.groups.lock();
        let mut seen = BTreeMap::new();
        for g in stored {
            let key = GroupKey {
                tenant: g.tenant.clone(),
                namespace: g.namespace.clone(),
                name: g.name.clone(),
            };
            if let Some(r) = groups.get(&key) {
                if r.lock().yaml == g.yaml {
                    seen.insert(key, Arc::clone(r));
                    continue;
                }
            }
            let language = if g.namespace.starts_with(LOKI_NAMESPACE_PREFIX) {
                ExprLanguage::LogQL
            } else {
                ExprLanguage::PromQL
            };
            let opts = ValidationOptions {
                language,
                max_groups: 0,
                max_rules_per_group: 0,
            };
            let parsed = match RuleGroup::parse(&g.yaml, &opts) {
                Ok(p) => p,
                Err(error) => {
                    tracing::error!(tenant = %g.tenant, namespace = %g.namespace, group = %g.name, %error, "stored rule group does not load; skipping it");
                    continue;
                }
            };
            match GroupState::new(parsed, self.eval_options(language)) {
                Ok(state) => {
                    let interval = state.interval_ms().max(1);
                    let next_eval = (now_ms / interval + 1) * interval;
                    seen.insert(
                        key,
                        Arc::new(Mutex::new(Runner {
                            yaml: g.yaml,
                            state,
                            next_eval,
                            last_duration: 0.0,
                        })),
                    );
                }
                Err(error) => {
                    tracing::error!(tenant = %g.tenant, group = %g.name, %error, "rule group does not start");
                }
            }
        }
        *groups = seen;
        Ok(())
    }

    /// Groups due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> Vec<GroupKey> {
        self.groups
            .lock()
            .iter()
            .filter(|(_, r)| r.lock().next_eval <= now_ms)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Evaluates one group at its scheduled time (blocking: call from a blocking
    /// thread inside the runtime).
    pub fn eval_blocking(&self, key: &GroupKey, handle: &tokio::runtime::Handle) {
        let Some(runner) = self.groups.lock().get(key).cloned() else {
            return;
        };
        let mut runner = runner.lock();
        let ts = runner.next_eval;
        let interval = runner.state.interval_ms().max(1);
        let started = std::time::Instant::now();
        let template_query = |expr: &str, t: i64| -> Result<Vec<_>, String> {
            let result = futures::executor::block_on(self.engine.instant(
                &*self.queryable,
                &key.tenant,
                expr,
                t,
            ))
            .map_err(|e| e.to_string())?;
            query_samples(result.value)
        };
        let logql = |expr: &str, t: i64| -> Result<Vec<(Labels, f64)>, String> {
            let (engine, logs) = self
                .logs
                .as_ref()
                .ok_or("LogQL rules need the log store, which this ruler has not")?;
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
            let out = futures::executor::block_on(engine.query(&**logs, &key.tenant, &params))
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
            engine: &self.engine,
            queryable: &*self.queryable,
            tenant: &key.tenant,
            template_query: Some(&template_query),
            logql: Some(&logql),
        };
        let mut sink = WriterSink {
            writer: &*self.writer,
            tenant: &key.tenant,
        };
        let result = handle.block_on(runner.state.eval(&ctx, ts, &mut sink));
        for (rule, error) in result.errors() {
            tracing::warn!(tenant = %key.tenant, group = %key.name, rule, error, "rule evaluation failed");
        }
        runner.last_duration = started.elapsed().as_secs_f64();
        // Skip missed slots rather than catching up, as Prometheus does.
        let now = chrono::Utc::now().timestamp_millis();
        runner.next_eval = (ts + interval).max((now / interval) * interval + interval);
        if let Some(sender) = &self.sender {
            let alerts = self.alerts_to_send(&runner, ts, interval);
            if !alerts.is_empty() {
                sender.send(&key.tenant, alerts);
            }
        }
    }

    fn alerts_to_send(&self, runner: &Runner, ts: i64, interval: i64) -> Vec<RuleAlert> {
        runner
            .state
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
                    generator_url: self.options.external_url.clone(),
                })
            })
            .collect()
    }

    /// Runs forever: re-reads groups every `sync_every` and evaluates due groups.
    pub async fn run(self: Arc<Self>, sync_every: Duration) {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sync = i64::MIN;
        loop {
            ticker.tick().await;
            let now = chrono::Utc::now().timestamp_millis();
            if now.saturating_sub(last_sync) >= sync_every.as_millis() as i64 {
                if let Err(error) = self.sync(now).await {
                    tracing::error!(%error, "ruler cannot load rule groups; retrying");
                }
                last_sync = now;
            }
            for key in self.due(now) {
                let ruler = Arc::clone(&self);
                let handle = tokio::runtime::Handle::current();
                let _ =
                    tokio::task::spawn_blocking(move || ruler.eval_blocking(&key, &handle)).await;
            }
        }
    }

    /// The rules API (`/api/v1/rules`) groups of `tenant`; `kind` is `alert`, `record`
    /// or `None` for both.
    pub fn rules_json(&self, tenant: &TenantId, kind: Option<&str>) -> Value {
        let groups = self.groups.lock();
        let mut out = Vec::new();
        for (key, runner) in groups.range(
            GroupKey {
                tenant: tenant.clone(),
                namespace: String::new(),
                name: String::new(),
            }..,
        ) {
            if &key.tenant != tenant {
                break;
            }
            let runner = runner.lock();
            let state = &runner.state;
            let mut rules = Vec::new();
            let mut last_eval = None;
            for r in state.rules() {
                let health = match r.health() {
                    RuleHealth::Unknown => "unknown",
                    RuleHealth::Ok => "ok",
                    RuleHealth::Err => "err",
                };
                last_eval = last_eval.max(r.last_evaluation());
                let common = |j: &mut serde_json::Map<String, Value>| {
                    j.insert("health".into(), health.into());
                    j.insert("lastError".into(), r.last_error().unwrap_or("").into());
                    j.insert(
                        "lastEvaluation".into(),
                        r.last_evaluation().map(rfc3339).unwrap_or_default().into(),
                    );
                    j.insert("evaluationTime".into(), json!(0.0));
                };
                match r.rule() {
                    Rule::Recording(rec) if kind != Some("alert") => {
                        let mut j = serde_json::Map::new();
                        j.insert("name".into(), rec.record.clone().into());
                        j.insert("query".into(), rec.expr.clone().into());
                        j.insert("labels".into(), json!(rec.labels));
                        j.insert("type".into(), "recording".into());
                        common(&mut j);
                        rules.push(Value::Object(j));
                    }
                    Rule::Alerting(al) if kind != Some("record") => {
                        let alerts: Vec<Value> = r.alerts().iter().map(|a| alert_json(a)).collect();
                        let state = r
                            .alerts()
                            .iter()
                            .map(|a| a.state)
                            .max_by_key(|s| match s {
                                AlertState::Firing => 2,
                                AlertState::Pending => 1,
                                AlertState::Inactive => 0,
                            })
                            .unwrap_or(AlertState::Inactive);
                        let mut j = serde_json::Map::new();
                        j.insert("state".into(), state.as_str().into());
                        j.insert("name".into(), al.alert.clone().into());
                        j.insert("query".into(), al.expr.clone().into());
                        j.insert(
                            "duration".into(),
                            json!(al.for_.map_or(0, |d| d.as_millis() / 1000)),
                        );
                        j.insert(
                            "keepFiringFor".into(),
                            json!(al.keep_firing_for.map_or(0, |d| d.as_millis() / 1000)),
                        );
                        j.insert("labels".into(), json!(al.labels));
                        j.insert("annotations".into(), json!(al.annotations));
                        j.insert("alerts".into(), Value::Array(alerts));
                        j.insert("type".into(), "alerting".into());
                        common(&mut j);
                        rules.push(Value::Object(j));
                    }
                    _ => {}
                }
            }
            if kind.is_some() && rules.is_empty() {
                continue;
            }
            out.push(json!({
                "name": key.name,
                "file": key.namespace,
                "rules": rules,
                "interval": state.interval_ms() as f64 / 1000.0,
                "limit": state.group().limit,
                "evaluationTime": runner.last_duration,
                "lastEvaluation": last_eval.map(rfc3339).unwrap_or_default(),
            }));
        }
        json!({ "groups": out })
    }

    /// The alerts API (`/prometheus/api/v1/alerts`) of `tenant`: pending and firing.
    pub fn alerts_json(&self, tenant: &TenantId) -> Value {
        let groups = self.groups.lock();
        let mut out = Vec::new();
        for (key, runner) in groups.iter() {
            if &key.tenant != tenant {
                continue;
            }
            for (_, a) in runner.lock().state.alerts() {
                if a.state != AlertState::Inactive {
                    out.push(alert_json(a));
                }
            }
        }
        json!({ "alerts": out })
    }
}

fn alert_json(a: &pitot_rules::eval::Alert) -> Value {
    json!({
        "labels": labels_json(&a.labels),
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": format!("{:e}", a.value),
    })
}
