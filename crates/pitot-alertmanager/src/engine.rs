//! [`Alertmanager`]: many tenants, each with its own configuration and state, driven by
//! [`Alertmanager::dispatch`] (or [`Alertmanager::tick`]) on an injected clock.
//!
//! Each flushed aggregation group is sent in its own task, and each tenant has its own
//! bounded number of sends in flight: a tenant whose webhook never answers holds only its
//! own groups and slots, never another tenant's notifications (the engine used to await all
//! tenants' sends together, so one hanging receiver delayed everyone). A group is not flushed
//! again while its previous flush is still being sent, as in Alertmanager, where each group's
//! flushes run one after another; a failed send is retried at the group's next flush, so no
//! notification is lost (a repeat after a retry is possible).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::alert::{Alert, Fingerprint, PostableAlert};
use crate::clock::{chrono_dur, Clock, SystemClock};
use crate::config::{AlertmanagerConfig, Integration};
use crate::egress::EgressPolicy;
use crate::error::AmError;
use crate::limits::{AmLimits, LimitsFn};
use crate::nflog::{self, NflogEntry};
use crate::notify::{IntegrationNotifier, Notification, Notifier, RetryPolicy};
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
    /// Which addresses tenant-configured receivers may reach; [`Self::with_egress`] sets it
    /// together with a notifier that enforces it.
    pub egress: Arc<EgressPolicy>,
    /// Each tenant's current limits (alerts, silences, aggregation groups, configuration).
    pub limits: LimitsFn,
    /// Most notification sends (integrations of flushed groups) one tenant has in flight;
    /// more wait for a slot, without holding up any other tenant.
    pub max_sends_per_tenant: usize,
}

impl AlertmanagerOptions {
    /// Production defaults: wall clock and the real integrations.
    pub fn new(state_dir: impl Into<PathBuf>, external_url: impl Into<String>) -> Self {
        AlertmanagerOptions {
            state_dir: state_dir.into(),
            external_url: external_url.into(),
            clock: Arc::new(SystemClock),
            notifier: Arc::new(IntegrationNotifier::default()),
            egress: Arc::new(EgressPolicy::default()),
            limits: crate::limits::unlimited(),
            max_sends_per_tenant: DEFAULT_SENDS_PER_TENANT,
        }
    }
}

impl AlertmanagerOptions {
    /// Holds every tenant-configured connection to `egress`, with `retry` for HTTP receivers.
    pub fn with_egress(mut self, egress: Arc<EgressPolicy>, retry: RetryPolicy) -> Self {
        self.notifier = Arc::new(IntegrationNotifier::with_egress(retry, Arc::clone(&egress)));
        self.egress = egress;
        self
    }
}

/// The default of [`AlertmanagerOptions::max_sends_per_tenant`].
pub const DEFAULT_SENDS_PER_TENANT: usize = 8;

/// What one [`Alertmanager::tick`] did, for logs and tests.
#[derive(Debug, Default)]
pub struct TickReport {
    /// Notifications delivered.
    pub sent: usize,
    /// Deliveries that failed (they are retried at the group's next flush).
    pub failures: Vec<AmError>,
}

impl TickReport {
    fn merge(&mut self, other: TickReport) {
        self.sent += other.sent;
        self.failures.extend(other.failures);
    }
}

/// A multi-tenant Alertmanager.
pub struct Alertmanager {
    shared: Arc<Shared>,
}

/// What the engine and its send tasks share.
struct Shared {
    tenants: Mutex<HashMap<TenantId, TenantState>>,
    opts: AlertmanagerOptions,
    started: DateTime<Utc>,
    /// Serialises each tenant's configuration writes (uploads, contact points).
    config_writes: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
    /// Delivery attempts and failures by integration, for `/metrics`.
    deliveries: Mutex<BTreeMap<&'static str, (u64, u64)>>,
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
    send_slots: Arc<tokio::sync::Semaphore>,
}

impl Alertmanager {
    /// Creates the engine; tenant state is loaded from `state_dir` on first use of each tenant.
    pub fn new(opts: AlertmanagerOptions) -> Self {
        let started = opts.clock.now();
        Alertmanager {
            shared: Arc::new(Shared {
                tenants: Mutex::new(HashMap::new()),
                opts,
                started,
                config_writes: Mutex::new(HashMap::new()),
                deliveries: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The current time per the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.opts.clock.now()
    }

    /// When the engine started (for `/api/v2/status` uptime).
    pub fn started(&self) -> DateTime<Utc> {
        self.shared.started
    }

    /// The configured external URL.
    pub fn external_url(&self) -> &str {
        &self.shared.opts.external_url
    }

    /// The egress policy tenant-configured receivers are held to (for callers that send on
    /// the tenant's behalf, such as a contact point test).
    pub fn egress(&self) -> Arc<EgressPolicy> {
        Arc::clone(&self.shared.opts.egress)
    }

    /// The tenant's current limits.
    pub fn limits(&self, tenant: &TenantId) -> AmLimits {
        (self.shared.opts.limits)(tenant)
    }

    /// Held while a tenant's configuration is checked and written (an upload, a contact point
    /// change), so concurrent writers cannot both pass a limit check and both write.
    pub async fn lock_config_writes(&self, tenant: &TenantId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.shared.config_writes.lock();
            Arc::clone(locks.entry(tenant.clone()).or_default())
        };
        lock.lock_owned().await
    }

    /// Runs `f` on the tenant's state, loading it (with the fallback config) on first use;
    /// the tenant's limits are refreshed first, so `f` checks against current values.
    pub(crate) fn with_tenant<R>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&mut TenantState, DateTime<Utc>) -> R,
    ) -> Result<R, AmError> {
        let now = self.now();
        let limits = self.limits(tenant);
        let mut tenants = self.shared.tenants.lock();
        if !tenants.contains_key(tenant) {
            let dir = tenant_dir(&self.shared.opts.state_dir, tenant);
            let state = TenantState::load(
                &dir,
                Arc::new(AlertmanagerConfig::fallback()),
                self.shared.opts.max_sends_per_tenant,
            )?;
            tenants.insert(tenant.clone(), state);
        }
        let state = tenants.get_mut(tenant).expect("inserted above");
        state.limits = limits;
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

    /// Accepts alerts (API v2 `postableAlerts`). All are validated and checked against the
    /// tenant's alert limits before any is stored, under the tenant's lock.
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
            st.check_alert_limits(&valid)?;
            for a in valid {
                st.put_alert(a, now);
            }
            Ok(())
        })?
    }

    /// Advances the engine to the clock's now and flushes due groups through inhibition, time
    /// muting, silences and the notification log; each flushed group is sent in its own task
    /// (spawned on the current tokio runtime) under its tenant's send slots, and records what
    /// was sent when it finishes. Returns at once with the tasks' handles; production calls it
    /// every second via [`crate::runtime::run`] and does not wait for them.
    pub fn dispatch(&self) -> Vec<tokio::task::JoinHandle<TickReport>> {
        let now = self.now();
        let jobs = self.shared.collect_jobs(now);
        jobs.into_iter()
            .map(|job| {
                let shared = Arc::clone(&self.shared);
                tokio::spawn(async move { shared.send_group(job, now).await })
            })
            .collect()
    }

    /// [`Self::dispatch`], then waits for this tick's sends: for tests and callers that want
    /// the outcome.
    pub async fn tick(&self) -> TickReport {
        let mut report = TickReport::default();
        for handle in self.dispatch() {
            match handle.await {
                Ok(r) => report.merge(r),
                Err(e) => report.failures.push(AmError::Notify {
                    integration: "engine".to_string(),
                    reason: format!("send task failed: {e}"),
                }),
            }
        }
        report
    }

    /// The default tick period of the runtime loop.
    pub const TICK: Duration = Duration::from_secs(1);

    /// Appends Alertmanager's delivery counters, by integration and summed over tenants
    /// (a failure's cause, such as a template over its budget or a receiver that did not
    /// answer, is in the log with its tenant).
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let deliveries = self.shared.deliveries.lock();
        out.push_str("# HELP alertmanager_notifications_total The total number of attempted notifications.\n# TYPE alertmanager_notifications_total counter\n");
        for (integration, (attempts, _)) in deliveries.iter() {
            let _ = writeln!(
                out,
                "alertmanager_notifications_total{{integration=\"{integration}\"}} {attempts}"
            );
        }
        out.push_str("# HELP alertmanager_notifications_failed_total The total number of failed notifications.\n# TYPE alertmanager_notifications_failed_total counter\n");
        for (integration, (_, failed)) in deliveries.iter() {
            let _ = writeln!(
                out,
                "alertmanager_notifications_failed_total{{integration=\"{integration}\"}} {failed}"
            );
        }
    }
}

impl Shared {
    /// Sends one flushed group's integrations (concurrently, each under a tenant send slot)
    /// and records the outcome.
    async fn send_group(&self, job: GroupJob, now: DateTime<Utc>) -> TickReport {
        let mut futures = Vec::new();
        for ij in &job.integrations {
            let notifier = Arc::clone(&self.opts.notifier);
            let slots = Arc::clone(&job.send_slots);
            let job = &job;
            futures.push(async move {
                if ij.alerts.is_empty() {
                    return Ok(false);
                }
                // The semaphore is never closed, so acquiring only waits.
                let _slot = slots.acquire_owned().await.ok();
                let mut n = job.base.clone();
                n.alerts = ij.alerts.clone();
                notifier
                    .notify(&n, &ij.integration, &job.templates)
                    .await
                    .map(|_| true)
            });
        }
        let results = futures::future::join_all(futures).await;
        let mut report = TickReport::default();
        let mut ok = Vec::with_capacity(results.len());
        {
            let mut deliveries = self.deliveries.lock();
            for (ij, r) in job.integrations.iter().zip(&results) {
                if ij.alerts.is_empty() {
                    continue;
                }
                let entry = deliveries.entry(ij.integration.kind()).or_default();
                entry.0 += 1;
                entry.1 += u64::from(r.is_err());
            }
        }
        for r in results {
            match r {
                Ok(sent) => {
                    ok.push(true);
                    report.sent += usize::from(sent);
                }
                Err(e) => {
                    tracing::warn!(tenant = %job.tenant, group = %job.base.group_key, error = %e, "notification failed");
                    ok.push(false);
                    report.failures.push(e);
                }
            }
        }
        self.record(job, ok, now, &mut report);
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
                .filter(|(_, g)| g.next_flush <= now && !g.sending)
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
                if let Some(g) = st.groups.get_mut(&key) {
                    g.sending = true;
                }
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
                    send_slots: Arc::clone(&st.send_slots),
                });
            }
        }
        jobs
    }

    /// Records one sent group: the notification log for each delivered integration, and,
    /// when all were delivered, drops resolved alerts that did not change meanwhile. The
    /// group may be flushed again afterwards.
    fn record(&self, job: GroupJob, ok: Vec<bool>, now: DateTime<Utc>, report: &mut TickReport) {
        let mut tenants = self.tenants.lock();
        let Some(st) = tenants.get_mut(&job.tenant) else {
            return;
        };
        let mut dirty = false;
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
                dirty = true;
            }
        }
        if let Some(group) = st.groups.get_mut(&job.group_map_key) {
            group.sending = false;
            if ok.iter().all(|o| *o) {
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
        if dirty {
            if let Err(e) = st.save_nflog() {
                tracing::error!(tenant = %job.tenant, error = %e, "cannot save notification log");
                report.failures.push(e);
            }
        }
    }
}
