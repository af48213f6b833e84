//! The ruler: every tenant's running groups, started, restarted and stopped as the
//! stored groups change, each in its own task (see [`crate::group`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_core::TenantId;
use pitot_meta::{DatasourceRegistry, MetaStoreRef, RuleGroupScope};
use pitot_promql::Engine;
use pitot_rules::eval::{EvalOptions, GroupState, RestoreOptions};
use pitot_rules::{ExprLanguage, RuleGroup, ValidationOptions};
use pitot_storage_api::{LogQueryableRef, QueryableRef};
use serde_json::{json, Value};

use crate::group::{Counters, Group};
use crate::limits::{EvalLimits, ServerLimits};
use crate::{AlertSender, QuerySlots, SampleWriter};

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
    /// Series one rule query may read at most, whatever a tenant's own limit
    /// (`query.max_series`; 0 for none).
    pub max_series: usize,
}

impl Default for RulerOptions {
    fn default() -> Self {
        RulerOptions {
            default_interval: Duration::from_secs(60),
            external_url: String::new(),
            max_series: 0,
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

/// Every tenant's running rule groups.
pub struct Ruler {
    meta: MetaStoreRef,
    engine: Engine,
    /// Metrics by storage key (each group reads its own data sources' keys).
    pub(crate) queryable: QueryableRef,
    pub(crate) writer: Arc<dyn SampleWriter>,
    pub(crate) sender: Option<Arc<dyn AlertSender>>,
    pub(crate) options: RulerOptions,
    groups: Mutex<BTreeMap<GroupKey, Arc<Group>>>,
    /// The LogQL engine (its options are the server's ceilings) and logs by storage key.
    pub(crate) logs: Option<(Arc<pitot_logql::LogqlEngine>, LogQueryableRef)>,
    /// Resolves groups' data sources to storage keys; without it a group reads and
    /// writes its tenant's ID.
    pub(crate) datasources: Option<Arc<DatasourceRegistry>>,
    tenant_limits: Option<Arc<pitot_limits::Limits>>,
    pub(crate) slots: std::sync::OnceLock<Arc<dyn QuerySlots>>,
    pub(crate) counters: Counters,
}

/// Stored namespaces of LogQL rule groups start with this (the Loki ruler API's).
pub const LOKI_NAMESPACE_PREFIX: &str = "loki/";

impl Ruler {
    /// A ruler reading groups from `meta` and evaluating them with `engine`'s options
    /// (the server's ceilings) over `queryable`, which is addressed by storage key.
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
            datasources: None,
            tenant_limits: None,
            slots: std::sync::OnceLock::new(),
            counters: Counters::default(),
        }
    }

    /// Lets LogQL rule groups (stored under `loki/<namespace>`) query the tenants' logs
    /// (`logs` addressed by storage key).
    pub fn with_logs(
        mut self,
        engine: Arc<pitot_logql::LogqlEngine>,
        logs: LogQueryableRef,
    ) -> Self {
        self.logs = Some((engine, logs));
        self
    }

    /// Resolves each group's data source (or, unbound, all of its tenant's of the
    /// group's kind) to the storage keys it reads.
    pub fn with_datasources(mut self, registry: Arc<DatasourceRegistry>) -> Self {
        self.datasources = Some(registry);
        self
    }

    /// Holds each tenant's evaluations to its own limits (query timeout, samples,
    /// series, minimum interval), below the server's.
    pub fn with_tenant_limits(mut self, limits: Arc<pitot_limits::Limits>) -> Self {
        self.tenant_limits = Some(limits);
        self
    }

    /// Takes a tenant's query slot for each group evaluation from `slots`, the budget
    /// its API queries use (set once, after the HTTP state that owns the budget exists;
    /// a second call is ignored).
    pub fn set_query_slots(&self, slots: Arc<dyn QuerySlots>) {
        let _ = self.slots.set(slots);
    }

    /// The limits of `tenant`'s evaluations now.
    pub(crate) fn limits_for(&self, tenant: &TenantId) -> EvalLimits {
        let server = ServerLimits {
            engine: self.engine.options().clone(),
            max_series: self.options.max_series,
            max_log_series: self
                .logs
                .as_ref()
                .map_or(0, |(e, _)| e.options().max_series),
            log_timeout: self
                .logs
                .as_ref()
                .map_or(self.engine.options().timeout, |(e, _)| e.options().timeout),
        };
        server.for_tenant(self.tenant_limits.as_ref(), tenant)
    }

    /// How often `group` runs now: its own interval, never below its tenant's
    /// `ruler_min_evaluation_interval` (groups stored before the limit was raised are
    /// clamped here) nor below 1 ms.
    pub(crate) fn interval_ms(&self, group: &Group) -> i64 {
        let own = group.runtime.lock().state.interval_ms();
        let min = self.tenant_limits.as_ref().map_or(0, |l| {
            l.get(&group.key.tenant)
                .ruler_min_evaluation_interval
                .0
                .as_millis() as i64
        });
        own.max(min).max(1)
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

    /// Loads groups from the metadata store: new and changed groups (re)start in their
    /// own tasks, removed ones stop; unchanged groups keep their alert state (and a
    /// disabled group stays disabled until it is uploaded again).
    pub async fn sync(self: &Arc<Self>) -> Result<(), RulerError> {
        let stored = self.meta.list_rule_groups(None).await?;
        let mut groups = self.groups.lock();
        let mut seen = BTreeMap::new();
        for g in stored {
            let key = GroupKey {
                tenant: g.tenant.clone(),
                namespace: g.namespace.clone(),
                name: g.name.clone(),
            };
            if let Some(running) = groups.get(&key) {
                if running.yaml == g.yaml && running.datasource == g.datasource {
                    seen.insert(key, Arc::clone(running));
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
                    let group = Arc::new(Group::new(
                        key.clone(),
                        g.yaml,
                        g.datasource,
                        language,
                        state,
                    ));
                    let task =
                        tokio::spawn(crate::group::run(Arc::clone(self), Arc::clone(&group)));
                    *group.task.lock() = Some(task.abort_handle());
                    seen.insert(key, group);
                }
                Err(error) => {
                    tracing::error!(tenant = %g.tenant, group = %g.name, %error, "rule group does not start");
                }
            }
        }
        for (key, old) in groups.iter() {
            let replaced = seen.get(key).is_none_or(|new| !Arc::ptr_eq(new, old));
            if replaced {
                old.stop();
            }
        }
        *groups = seen;
        Ok(())
    }

    /// Runs forever: re-reads groups every `sync_every` (changes made through the API
    /// take effect at once; this picks up other writers).
    pub async fn run(self: Arc<Self>, sync_every: Duration) {
        let mut ticker = tokio::time::interval(sync_every.max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.sync().await {
                tracing::error!(%error, "ruler cannot load rule groups; retrying");
            }
        }
    }

    /// Stops every group's task.
    pub fn stop(&self) {
        for group in self.groups.lock().values() {
            group.stop();
        }
    }

    /// `tenant`'s groups that `scope` lets the caller see.
    fn visible_groups(&self, tenant: &TenantId, scope: &RuleGroupScope) -> Vec<Arc<Group>> {
        let start = GroupKey {
            tenant: tenant.clone(),
            namespace: String::new(),
            name: String::new(),
        };
        self.groups
            .lock()
            .range(start..)
            .take_while(|(k, _)| &k.tenant == tenant)
            .filter(|(_, g)| crate::api_json::visible(g, scope))
            .map(|(_, g)| Arc::clone(g))
            .collect()
    }

    /// The rules API (`/api/v1/rules`) groups of `tenant` that `scope` lets the caller
    /// see; `kind` is `alert`, `record` or `None` for both.
    pub fn rules_json(
        &self,
        tenant: &TenantId,
        kind: Option<&str>,
        scope: &RuleGroupScope,
    ) -> Value {
        let out: Vec<Value> = self
            .visible_groups(tenant, scope)
            .iter()
            .filter_map(|g| crate::api_json::group_json(g, kind))
            .collect();
        json!({ "groups": out })
    }

    /// The alerts API (`/prometheus/api/v1/alerts`) of `tenant`: pending and firing
    /// alerts of the groups `scope` lets the caller see.
    pub fn alerts_json(&self, tenant: &TenantId, scope: &RuleGroupScope) -> Value {
        let mut out = Vec::new();
        for g in self.visible_groups(tenant, scope) {
            crate::api_json::group_alerts(&g, &mut out);
        }
        json!({ "alerts": out })
    }

    /// The ruler's totals in the Prometheus text format, under Prometheus' own metric
    /// names (no tenant or group labels: those stay the tenants' business).
    pub fn metrics_text(&self, out: &mut String) {
        use std::fmt::Write;
        let c = &self.counters;
        let lines = [
            ("prometheus_rule_group_iterations_total", "Scheduled group evaluations run.", c.iterations.load(Ordering::Relaxed)),
            ("prometheus_rule_group_iterations_missed_total", "Scheduled group evaluations skipped because the previous one or a query slot took too long.", c.missed.load(Ordering::Relaxed)),
            ("prometheus_rule_evaluation_failures_total", "Rule evaluations that failed.", c.failures.load(Ordering::Relaxed)),
            ("pitot_ruler_groups_disabled_total", "Rule groups stopped by a failure of their evaluation (a caught panic).", c.disabled.load(Ordering::Relaxed)),
        ];
        for (name, help, value) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let groups = self.groups.lock().len();
        let _ = writeln!(
            out,
            "# HELP pitot_ruler_groups Rule groups loaded.\n# TYPE pitot_ruler_groups gauge\npitot_ruler_groups {groups}"
        );
    }
}
