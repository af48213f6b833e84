//! The Alertmanager configuration: parsed from YAML (or Mimir's upload document) and validated
//! once, so the engine only ever holds a configuration that makes sense.

mod duration;
mod raw;
mod receiver;
mod route;
pub mod smtp;
#[cfg(test)]
mod tests;
mod time_interval;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use duration::{format_duration, parse_duration};
pub use receiver::{EmailConfig, HttpAuth, Integration, Receiver, SlackConfig, WebhookConfig};
pub(crate) use route::is_label_name as route_is_label_name;
pub use route::{GroupBy, Route};
pub use time_interval::TimeInterval;

use crate::error::AmError;
use crate::matcher::{parse_matchers, MatchOp, Matcher};
use raw::{RawConfig, RawInhibitRule};

/// A validated configuration for one tenant.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// The YAML as uploaded, returned by `GET /api/v2/status`.
    pub original: String,
    /// Notification template files by name (Mimir's `template_files`).
    pub template_files: BTreeMap<String, String>,
    /// How long an alert without `endsAt` stays firing after its last update.
    pub resolve_timeout: Duration,
    /// The routing tree.
    pub route: Route,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Receivers by position.
    pub receivers: Vec<Receiver>,
    /// Named time intervals (both `time_intervals` and the legacy `mute_time_intervals`).
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
}

/// Mutes targets while a matching source alert fires.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Matchers a firing alert needs to inhibit.
    pub source_matchers: Vec<Matcher>,
    /// Matchers an alert needs to be inhibited.
    pub target_matchers: Vec<Matcher>,
    /// Labels that must have equal values in source and target.
    pub equal: Vec<String>,
}

/// Mimir's upload shape (`POST /api/v1/alerts`): the YAML config as a string plus templates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigDocument {
    /// The Alertmanager YAML.
    pub alertmanager_config: String,
    /// Template file contents by name.
    #[serde(default)]
    pub template_files: BTreeMap<String, String>,
}

impl AlertmanagerConfig {
    /// Parses and validates Alertmanager YAML with the given template files.
    pub fn parse(yaml: &str, template_files: BTreeMap<String, String>) -> Result<Self, AmError> {
        let raw: RawConfig =
            serde_yaml::from_str(yaml).map_err(|e| AmError::config(e.to_string()))?;
        let mut cfg = from_raw(&raw).map_err(AmError::Config)?;
        cfg.original = yaml.to_string();
        for (name, text) in &template_files {
            crate::template::Templates::parse_file(text)
                .map_err(|e| AmError::config(format!("template_files[{name:?}]: {e}")))?;
        }
        cfg.template_files = template_files;
        cfg.check_templates()?;
        Ok(cfg)
    }

    /// Parses Mimir's upload document (`alertmanager_config` + `template_files`).
    pub fn parse_document(yaml: &str) -> Result<Self, AmError> {
        let doc: ConfigDocument =
            serde_yaml::from_str(yaml).map_err(|e| AmError::config(e.to_string()))?;
        if doc.alertmanager_config.trim().is_empty() {
            return Err(AmError::config("alertmanager_config: missing"));
        }
        Self::parse(&doc.alertmanager_config, doc.template_files)
    }

    /// The configuration a tenant without one gets: everything goes to a receiver with no
    /// integrations, so alerts are visible in the API but nobody is notified.
    pub fn fallback() -> Self {
        Self::parse(FALLBACK_CONFIG, BTreeMap::new()).expect("the fallback config is valid")
    }

    /// The receiver with this name, if configured.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The Mimir-shaped document for this configuration (for `GET /api/v1/alerts`).
    pub fn document(&self) -> ConfigDocument {
        ConfigDocument {
            alertmanager_config: self.original.clone(),
            template_files: self.template_files.clone(),
        }
    }

    /// Whether notifications of this route are muted at `now` by its time intervals.
    pub fn is_muted(&self, route: &Route, now: chrono::DateTime<chrono::Utc>) -> bool {
        let in_any = |names: &[String]| {
            names.iter().any(|n| {
                self.time_intervals
                    .get(n)
                    .is_some_and(|ivs| ivs.iter().any(|iv| iv.contains(now)))
            })
        };
        if in_any(&route.mute_time_intervals) {
            return true;
        }
        !route.active_time_intervals.is_empty() && !in_any(&route.active_time_intervals)
    }

    fn check_templates(&self) -> Result<(), AmError> {
        let templates = crate::template::Templates::new(&self.template_files)?;
        for r in &self.receivers {
            for (i, integ) in r.integrations.iter().enumerate() {
                let texts: Vec<&String> = match integ {
                    Integration::Webhook(_) => Vec::new(),
                    Integration::Email(c) => c
                        .html
                        .iter()
                        .chain(c.text.iter())
                        .chain(c.headers.values())
                        .collect(),
                    Integration::Slack(c) => c.title.iter().chain(c.text.iter()).collect(),
                };
                for t in texts {
                    templates.check(t).map_err(|e| {
                        AmError::config(format!(
                            "receivers ({:?}).{}_configs[{i}]: {e}",
                            r.name,
                            integ.kind()
                        ))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Mimir's fallback: one receiver without integrations.
pub const FALLBACK_CONFIG: &str = "route:\n  receiver: empty-receiver\n  group_by: ['alertname']\nreceivers:\n  - name: empty-receiver\n";

fn from_raw(raw: &RawConfig) -> Result<AlertmanagerConfig, String> {
    let resolve_timeout = match &raw.global.resolve_timeout {
        Some(s) => parse_duration(s).map_err(|e| format!("global.resolve_timeout: {e}"))?,
        None => Duration::from_secs(300),
    };
    let mut receivers: Vec<Receiver> = Vec::new();
    for (i, r) in raw.receivers.iter().enumerate() {
        let rec = receiver::receiver_from_raw(r, &raw.global, &format!("receivers[{i}]"))?;
        if receivers.iter().any(|x| x.name == rec.name) {
            return Err(format!(
                "receivers[{i}].name: receiver {:?} is defined twice",
                rec.name
            ));
        }
        receivers.push(rec);
    }
    let mut time_intervals = BTreeMap::new();
    let named = raw
        .time_intervals
        .iter()
        .map(|t| ("time_intervals", t))
        .chain(
            raw.mute_time_intervals
                .iter()
                .map(|t| ("mute_time_intervals", t)),
        );
    for (i, (section, ti)) in named.enumerate() {
        let field = format!("{section}[{i}]");
        let name = ti
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{field}.name: missing"))?;
        let mut ivs = Vec::new();
        for (j, iv) in ti.time_intervals.iter().enumerate() {
            ivs.push(TimeInterval::from_raw(
                iv,
                &format!("{field}.time_intervals[{j}]"),
            )?);
        }
        if time_intervals.insert(name.clone(), ivs).is_some() {
            return Err(format!(
                "{field}.name: time interval {name:?} is defined twice"
            ));
        }
    }
    let raw_route = raw.route.as_ref().ok_or("route: missing")?;
    let route = route::route_from_raw(raw_route)?;
    for r in route.walk() {
        if !receivers.iter().any(|x| x.name == r.receiver) {
            return Err(format!(
                "route: receiver {:?} is not defined in receivers",
                r.receiver
            ));
        }
        for n in r
            .mute_time_intervals
            .iter()
            .chain(r.active_time_intervals.iter())
        {
            if !time_intervals.contains_key(n) {
                return Err(format!("route: time interval {n:?} is not defined"));
            }
        }
    }
    let mut inhibit_rules = Vec::new();
    for (i, r) in raw.inhibit_rules.iter().enumerate() {
        inhibit_rules.push(inhibit_from_raw(r, &format!("inhibit_rules[{i}]"))?);
    }
    Ok(AlertmanagerConfig {
        original: String::new(),
        template_files: BTreeMap::new(),
        resolve_timeout,
        route,
        inhibit_rules,
        receivers,
        time_intervals,
    })
}

fn side(
    strings: &[String],
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    field: &str,
    prefix: &str,
) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for (k, v) in eq {
        out.push(
            Matcher::new(k, MatchOp::Equal, v)
                .map_err(|e| format!("{field}.{prefix}_match: {e}"))?,
        );
    }
    for (k, v) in re {
        out.push(
            Matcher::new(k, MatchOp::Regex, v)
                .map_err(|e| format!("{field}.{prefix}_match_re: {e}"))?,
        );
    }
    for s in strings {
        out.extend(parse_matchers(s).map_err(|e| format!("{field}.{prefix}_matchers: {e}"))?);
    }
    Ok(out)
}

fn inhibit_from_raw(raw: &RawInhibitRule, field: &str) -> Result<InhibitRule, String> {
    let source_matchers = side(
        &raw.source_matchers,
        &raw.source_match,
        &raw.source_match_re,
        field,
        "source",
    )?;
    let target_matchers = side(
        &raw.target_matchers,
        &raw.target_match,
        &raw.target_match_re,
        field,
        "target",
    )?;
    for l in &raw.equal {
        if !route::is_label_name(l) {
            return Err(format!("{field}.equal: {l:?} is not a valid label name"));
        }
    }
    Ok(InhibitRule {
        source_matchers,
        target_matchers,
        equal: raw.equal.clone(),
    })
}
