//! [`Alertmanager`]: many tenants, each with its own configuration and state, driven by
//! [`Alertmanager::tick`] on an injected clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::alert::{Alert, Fingerprint, PostableAlert};
use crate::clock::{chrono_dur, Clock, SystemClock};
use crate::config::{AlertmanagerConfig, Integration};
use crate::error::AmError;
use crate::nflog::{self, NflogEntry};
use crate::notify::{IntegrationNotifier, Notification, Notifier};
use crate::persist::tenant_dir;
use crate::template::Templates;
use crate::tenant::TenantState;
use pitot_core::TenantId;

/// What the engine is built from.
pub struct AlertmanagerOptions {
    /// Where silences and notification logs are stored (`<dir>/<tenant>/*.json`).
    pub state_dir: PathBuf,
    /// The URL notifications link back to (`externalURL`).
    pub external_url: String,
    /// The source of "now".
    pub clock: Arc<dyn Clock>,
    /// Where notifications go.
    pub notifier: Arc<dyn Notifier>,
}

impl AlertmanagerOptions {
    /// Production defaults: wall clock and the real integrations.
    pub fn new(state_dir: impl Into<PathBuf>, external_url: impl Into<String>) -> Self {
        AlertmanagerOptions {
            state_dir: state_dir.into(),
            external_url: external_url.into(),
            clock: Arc::new(SystemClock),
            notifier: Arc::new(IntegrationNotifier::default()),
        }
    }
}

/// What one [`Alertmanager::tick`] did, for logs and tests.
#[derive(Debug, Default)]
pub struct TickReport {
    /// Notifications delivered.
    pub sent: usize,
    /// Deliveries that failed (they are retried at the group's next flush).
    pub failures: Vec<AmError>,
}

/// A multi-tenant Alertmanager.
pub struct Alertmanager {
    tenants: Mutex<HashMap<TenantId, TenantState>>,
    opts: AlertmanagerOptions,
    started: DateTime<Utc>,
}

struct IntegrationJob {
    nflog_key: String,
    integration: Integration,
    alerts: Vec<Alert>,
    firing: BTreeSet<Fingerprint>,
    resolved: BTreeSet<Fingerprint>,
}

struct GroupJob {
    tenant: TenantId,
    group_map_key: String,
    base: Notification,
    templates: Arc<Templates>,
    integrations: Vec<IntegrationJob>,
    resolved_snapshot: Vec<(Fingerprint, DateTime<Utc>)>,
}

impl Alertmanager {
    /// Creates the engine; tenant state is loaded from `state_dir` on first use of each tenant.
    pub fn new(opts: AlertmanagerOptions) -> Self {
        let started = opts.clock.now();
        Alertmanager {
            tenants: Mutex::new(HashMap::new()),
            opts,
            started,
        }
    }

    /// The current time per the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.opts.clock.now()
    }

    /// When the engine started (for `/api/v2/status` uptime).
    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// The configured external URL.
    pub fn external_url(&self) -> &str {
        &self.opts.external_url
    }

    /// Runs `f` on the tenant's state, loading it (with the fallback config) on first use.
    pub(crate) fn with_tenant<R>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&mut TenantState, DateTime<Utc>) -> R,
    ) -> Result<R, AmError> {
        let now = self.now();
        let mut tenants = self.tenants.lock();
        if !tenants.contains_key(tenant) {
            let dir = tenant_dir(&self.opts.state_dir, tenant);
            let state = TenantState::load(&dir, Arc::new(AlertmanagerConfig::fallback()))?;
            tenants.insert(tenant.clone(), state);
        }
        let state = tenants.get_mut(tenant).expect("inserted above");
        Ok(f(state, now))
    }

    /// Installs or replaces a tenant's configuration; groups are rebuilt, silences and the
    /// notification log are kept (so a reload does not resend).
    pub fn set_config(&self, tenant: &TenantId, config: AlertmanagerConfig) -> Result<(), AmError> {
        let config = Arc::new(config);
        self.with_tenant(tenant, |st, now| st.set_config(config, now))?
    }

    /// Reverts a tenant to the fallback configuration (nobody is notified).
    pub fn delete_config(&self, tenant: &TenantId) -> Result<(), AmError> {
        self.set_config(tenant, AlertmanagerConfig::fallback())
    }

    /// The tenant's current configuration (the fallback when none was set).
    pub fn config(&self, tenant: &TenantId) -> Result<Arc<AlertmanagerConfig>, AmError> {
        self.with_tenant(tenant, |st, _| Arc::clone(&st.config))
    }

    /// Accepts alerts (API v2 `postableAlerts`). All are validated before any is stored.
    pub fn post_alerts(
        &self,
        tenant: &TenantId,
        alerts: Vec<PostableAlert>,
    ) -> Result<(), AmError> {
        self.with_tenant(tenant, |st, now| {
            let resolve_timeout = st.config.resolve_timeout;
            let mut valid = Vec::with_capacity(alerts.len());
            for a in alerts {
                valid.push(Alert::from_postable(a, now, resolve_timeout)?);
            }
            for a in valid {
                st.put_alert(a, now);
            }
            Ok(())
        })?
    }

    /// Advances the engine to the clock's now: garbage-collects, flushes due groups through
    /// inhibition, time muting, silences and the notification log, sends, and records what was
    /// sent. Sends run concurrently and this returns when all finished; production calls it
    /// every second via [`crate::runtime::run`].
    pub async fn tick(&self) -> TickReport {
        let now = self.now();
        let jobs = self.collect_jobs(now);
        let mut futures = Vec::new();
        for (g, job) in jobs.iter().enumerate() {
            for (i, ij) in job.integrations.iter().enumerate() {
                let notifier = Arc::clone(&self.opts.notifier);
                futures.push(async move {
                    if ij.alerts.is_empty() {
                        return (g, i, Ok(false));
                    }
                    let mut n = job.base.clone();
                    n.alerts = ij.alerts.clone();
                    let r = notifier.notify(&n, &ij.integration, &job.templates).await;
                    (g, i, r.map(|_| true))
                });
            }
        }
        let results = futures::future::join_all(futures).await;
        let mut report = TickReport::default();
        let mut ok: Vec<Vec<bool>> = jobs
            .iter()
            .map(|j| vec![false; j.integrations.len()])
            .collect();
        for (g, i, r) in results {
            match r {
                Ok(sent) => {
                    ok[g][i] = true;
                    report.sent += usize::from(sent);
                }
                Err(e) => {
                    tracing::warn!(tenant = %jobs[g].tenant, group = %jobs[g].base.group_key, error = %e, "notification failed");
                    report.failures.push(e);
                }
            }
        }
        self.record(jobs, ok, now, &mut report);
        report
    }

    fn collect_jobs(&self, now: DateTime<Utc>) -> Vec<GroupJob> {
        let mut jobs = Vec::new();
        let mut tenants = self.tenants.lock();
        for (tenant, st) in tenants.iter_mut() {
            if st.gc(now) {
                if let Err(e) = st.save_silences() {
                    tracing::error!(tenant = %tenant, error = %e, "cannot save silences");
                }
            }
            if nflog::gc(&mut st.nflog, now) {
                if let Err(e) = st.save_nflog() {
                    tracing::error!(tenant = %tenant, error = %e, "cannot save notification log");
                }
            }
            let due: Vec<String> = st
                .groups
                .iter()
                .filter(|(_, g)| g.next_flush <= now)
                .map(|(k, _)| k.clone())
                .collect();
            let config = Arc::clone(&st.config);
            let routes = config.route.walk();
            for key in due {
                let Some(group) = st.groups.get_mut(&key) else {
                    continue;
                };
                let Some(route) = routes.iter().find(|r| r.id == group.route_id) else {
                    st.groups.remove(&key);
                    continue;
                };
                group.next_flush = now + chrono_dur(route.group_interval);
                group.has_flushed = true;
                let group = group.clone();
                if config.is_muted(route, now) {
                    continue;
                }
                let alerts: Vec<Alert> = group
                    .alerts
                    .values()
                    .filter(|a| {
                        let m = st.marks(a, now);
                        m.silenced_by.is_empty() && m.inhibited_by.is_empty()
                    })
                    .cloned()
                    .collect();
                let firing: BTreeSet<Fingerprint> = alerts
                    .iter()
                    .filter(|a| !a.resolved_at(now))
                    .map(Alert::fingerprint)
                    .collect();
                let resolved: BTreeSet<Fingerprint> = alerts
                    .iter()
                    .filter(|a| a.resolved_at(now))
                    .map(Alert::fingerprint)
                    .collect();
                let mut integrations = Vec::new();
                if let Some(receiver) = config.receiver(&group.receiver) {
                    let repeat = chrono_dur(route.repeat_interval);
                    for (i, integ) in receiver.integrations.iter().enumerate() {
                        let nkey = nflog::key(
                            &group.group_key,
                            &receiver.name,
                            &format!("{}[{i}]", integ.kind()),
                        );
                        let send_resolved = integ.send_resolved();
                        if !nflog::needs_update(
                            st.nflog.get(&nkey),
                            &firing,
                            &resolved,
                            send_resolved,
                            repeat,
                            now,
                        ) {
                            continue;
                        }
                        let to_send: Vec<Alert> = alerts
                            .iter()
                            .filter(|a| send_resolved || !a.resolved_at(now))
                            .cloned()
                            .collect();
                        integrations.push(IntegrationJob {
                            nflog_key: nkey,
                            integration: integ.clone(),
                            alerts: to_send,
                            firing: firing.clone(),
                            resolved: resolved.clone(),
                        });
                    }
                }
                let resolved_snapshot = group
                    .alerts
                    .values()
                    .filter(|a| a.resolved_at(now))
                    .map(|a| (a.fingerprint(), a.updated_at))
                    .collect();
                jobs.push(GroupJob {
                    tenant: tenant.clone(),
                    group_map_key: key,
                    base: Notification {
                        tenant: tenant.clone(),
                        receiver: group.receiver.clone(),
                        group_key: group.group_key.clone(),
                        group_labels: group.labels.clone(),
                        alerts: Vec::new(),
                        now,
                        external_url: self.opts.external_url.clone(),
                    },
                    templates: Arc::clone(&st.templates),
                    integrations,
                    resolved_snapshot,
                });
            }
        }
        jobs
    }

    fn record(
        &self,
        jobs: Vec<GroupJob>,
        ok: Vec<Vec<bool>>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) {
        let mut tenants = self.tenants.lock();
        let mut dirty: BTreeMap<TenantId, ()> = BTreeMap::new();
        for (job, ok) in jobs.into_iter().zip(ok) {
            let Some(st) = tenants.get_mut(&job.tenant) else {
                continue;
            };
            for (ij, ok) in job.integrations.iter().zip(&ok) {
                if *ok {
                    st.nflog.insert(
                        ij.nflog_key.clone(),
                        NflogEntry {
                            timestamp: now,
                            firing: ij.firing.clone(),
                            resolved: ij.resolved.clone(),
                        },
                    );
                    dirty.insert(job.tenant.clone(), ());
                }
            }
            if !ok.iter().all(|o| *o) {
                continue;
            }
            // Everything was delivered: resolved alerts that did not change meanwhile leave the group.
            if let Some(group) = st.groups.get_mut(&job.group_map_key) {
                for (fp, updated) in &job.resolved_snapshot {
                    if group
                        .alerts
                        .get(fp)
                        .is_some_and(|a| a.updated_at == *updated)
                    {
                        group.alerts.remove(fp);
                    }
                }
                if group.alerts.is_empty() {
                    st.groups.remove(&job.group_map_key);
                }
            }
        }
        for tenant in dirty.keys() {
            if let Some(st) = tenants.get(tenant) {
                if let Err(e) = st.save_nflog() {
                    tracing::error!(tenant = %tenant, error = %e, "cannot save notification log");
                    report.failures.push(e);
                }
            }
        }
    }

    /// The default tick period of the runtime loop.
    pub const TICK: Duration = Duration::from_secs(1);
}
