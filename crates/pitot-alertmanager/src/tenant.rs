//! One tenant's state: its configuration, alerts, aggregation groups, silences and notification
//! log. Nothing here is shared between tenants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::alert::{Alert, Fingerprint};
use crate::clock::chrono_dur;
use crate::config::{AlertmanagerConfig, Route};
use crate::error::AmError;
use crate::inhibit::inhibited_by;
use crate::limits::{exceeds, refused, AmLimits};
use crate::matcher::LabelSet;
use crate::nflog::Nflog;
use crate::persist::{read_json, write_json};
use crate::silence::Silence;
use crate::template::Templates;

/// Resolved alerts stay in the alert list this long so clients see them resolve.
const RESOLVED_RETENTION: chrono::Duration = chrono::Duration::minutes(15);
/// Expired silences are kept this long (Alertmanager's default retention).
const SILENCE_RETENTION: chrono::Duration = chrono::Duration::hours(120);

/// An aggregation group: alerts of one route that share the group labels.
#[derive(Debug, Clone)]
pub struct AggrGroup {
    /// The route's tree position.
    pub route_id: String,
    /// Alertmanager's group key.
    pub group_key: String,
    /// The group labels.
    pub labels: LabelSet,
    /// The receiver.
    pub receiver: String,
    /// The group's own copy of its alerts.
    pub alerts: BTreeMap<Fingerprint, Alert>,
    /// When the group flushes next.
    pub next_flush: DateTime<Utc>,
    /// Whether it flushed at least once (later alerts wait for `group_interval`).
    pub has_flushed: bool,
    /// Whether a flush of it is being sent; it is not flushed again until that finishes, as
    /// Alertmanager's one goroutine per group never overlaps two flushes of a group.
    pub sending: bool,
}

/// Why an alert is not notified right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertMarks {
    /// Active silences matching it.
    pub silenced_by: Vec<String>,
    /// Firing alerts inhibiting it.
    pub inhibited_by: Vec<Fingerprint>,
}

/// One tenant's state.
pub struct TenantState {
    pub config: Arc<AlertmanagerConfig>,
    pub templates: Arc<Templates>,
    pub alerts: BTreeMap<Fingerprint, Alert>,
    pub groups: BTreeMap<String, AggrGroup>,
    pub silences: BTreeMap<String, Silence>,
    pub nflog: Nflog,
    pub dir: PathBuf,
    /// The tenant's limits as of its last write (refreshed by the engine on every access).
    pub limits: AmLimits,
    /// Bounds the tenant's notification sends in flight, so one tenant's slow receivers
    /// cannot take every connection while other tenants wait.
    pub send_slots: Arc<tokio::sync::Semaphore>,
}

impl TenantState {
    /// Loads silences and the notification log from `dir`, with the given config.
    pub fn load(
        dir: &Path,
        config: Arc<AlertmanagerConfig>,
        send_slots: usize,
    ) -> Result<Self, AmError> {
        let templates = Arc::new(Templates::new(&config.template_files)?);
        let silences: Vec<Silence> = read_json(&dir.join("silences.json"))?.unwrap_or_default();
        let nflog: Nflog = read_json(&dir.join("nflog.json"))?.unwrap_or_default();
        Ok(TenantState {
            config,
            templates,
            alerts: BTreeMap::new(),
            groups: BTreeMap::new(),
            silences: silences.into_iter().map(|s| (s.id.clone(), s)).collect(),
            nflog,
            dir: dir.to_path_buf(),
            limits: AmLimits::default(),
            send_slots: Arc::new(tokio::sync::Semaphore::new(send_slots.max(1))),
        })
    }

    /// Writes silences durably.
    pub fn save_silences(&self) -> Result<(), AmError> {
        let list: Vec<&Silence> = self.silences.values().collect();
        write_json(&self.dir.join("silences.json"), &list)
    }

    /// Writes the notification log durably.
    pub fn save_nflog(&self) -> Result<(), AmError> {
        write_json(&self.dir.join("nflog.json"), &self.nflog)
    }

    /// Swaps the configuration and rebuilds the groups from the current alerts, as a reload does.
    pub fn set_config(
        &mut self,
        config: Arc<AlertmanagerConfig>,
        now: DateTime<Utc>,
    ) -> Result<(), AmError> {
        self.templates = Arc::new(Templates::new(&config.template_files)?);
        self.config = config;
        self.groups.clear();
        let alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        for a in alerts {
            self.route_alert(a, now);
        }
        Ok(())
    }

    /// Refuses `incoming` when storing it would exceed the alert count or size limits. An
    /// update of an alert already held only counts its change in size, as in Mimir.
    pub fn check_alert_limits(&self, incoming: &[Alert]) -> Result<(), AmError> {
        let mut count = self.alerts.len() as u64;
        let mut size: u64 = self.alerts.values().map(Alert::size_bytes).sum();
        // A fingerprint repeated within one batch is stored once, as its last report.
        let batch: BTreeMap<Fingerprint, u64> = incoming
            .iter()
            .map(|a| (a.fingerprint(), a.size_bytes()))
            .collect();
        for (fp, new_size) in batch {
            match self.alerts.get(&fp) {
                Some(old) => size = size.saturating_sub(old.size_bytes()) + new_size,
                None => {
                    count += 1;
                    size += new_size;
                }
            }
        }
        let limits = &self.limits;
        if exceeds(count, limits.max_alerts_count) {
            return Err(refused(
                "alertmanager-max-alerts-count",
                format!(
                    "too many alerts: storing these would hold {count} alerts (limit: {})",
                    limits.max_alerts_count
                ),
                "alertmanager_max_alerts_count",
            ));
        }
        if exceeds(size, limits.max_alerts_size_bytes) {
            return Err(refused(
                "alertmanager-max-alerts-size",
                format!(
                    "alerts too large: storing these would hold {size} bytes of alerts (limit: {})",
                    limits.max_alerts_size_bytes
                ),
                "alertmanager_max_alerts_size_bytes",
            ));
        }
        Ok(())
    }

    /// Stores an alert (merging with an earlier report) and puts it into its groups.
    pub fn put_alert(&mut self, alert: Alert, now: DateTime<Utc>) {
        let fp = alert.fingerprint();
        let merged = match self.alerts.get(&fp) {
            Some(old) => old.merge(alert),
            None => alert,
        };
        self.alerts.insert(fp, merged.clone());
        self.route_alert(merged, now);
    }

    fn route_alert(&mut self, alert: Alert, now: DateTime<Utc>) {
        let config = Arc::clone(&self.config);
        for route in config.route.match_labels(&alert.labels) {
            self.insert_into_group(route, alert.clone(), now);
        }
    }

    fn insert_into_group(&mut self, route: &Route, alert: Alert, now: DateTime<Utc>) {
        let labels = route.group_labels(&alert.labels);
        let group_key = format!("{}:{}", route.key, fmt_labels(&labels));
        let map_key = format!("{}|{}", route.id, group_key);
        let max_groups = self.limits.max_dispatcher_aggregation_groups;
        if !self.groups.contains_key(&map_key) && exceeds(self.groups.len() as u64 + 1, max_groups)
        {
            // Mimir's behaviour: existing groups keep working, alerts of new groups are held
            // (visible in the API) but not dispatched.
            tracing::warn!(group = %group_key, limit = max_groups, "alertmanager-max-dispatcher-aggregation-groups: alert not dispatched; raise alertmanager_max_dispatcher_aggregation_groups");
            return;
        }
        let group = self.groups.entry(map_key).or_insert_with(|| AggrGroup {
            route_id: route.id.clone(),
            group_key,
            labels,
            receiver: route.receiver.clone(),
            alerts: BTreeMap::new(),
            next_flush: now + chrono_dur(route.group_wait),
            has_flushed: false,
            sending: false,
        });
        // An alert that has been firing longer than group_wait is flushed at once.
        if !group.has_flushed && alert.starts_at + chrono_dur(route.group_wait) < now {
            group.next_flush = group.next_flush.min(now);
        }
        group.alerts.insert(alert.fingerprint(), alert);
    }

    /// Silences and inhibitions that apply to an alert at `now`.
    pub fn marks(&self, alert: &Alert, now: DateTime<Utc>) -> AlertMarks {
        let silenced_by = self
            .silences
            .values()
            .filter(|s| s.mutes(&alert.labels, now))
            .map(|s| s.id.clone())
            .collect();
        let inhibited_by =
            inhibited_by(&self.config.inhibit_rules, self.alerts.values(), alert, now);
        AlertMarks {
            silenced_by,
            inhibited_by,
        }
    }

    /// The receivers an alert is routed to, in route order, deduplicated.
    pub fn receivers_of(&self, alert: &Alert) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.config.route.match_labels(&alert.labels) {
            if !out.contains(&r.receiver) {
                out.push(r.receiver.clone());
            }
        }
        out
    }

    /// Drops long-resolved alerts and long-expired silences; returns whether silences changed.
    pub fn gc(&mut self, now: DateTime<Utc>) -> bool {
        self.alerts
            .retain(|_, a| a.ends_at + RESOLVED_RETENTION > now);
        let before = self.silences.len();
        self.silences
            .retain(|_, s| s.ends_at + SILENCE_RETENTION > now);
        before != self.silences.len()
    }
}

/// `{a="b", c="d"}` as Alertmanager prints label sets in group keys.
pub fn fmt_labels(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}
