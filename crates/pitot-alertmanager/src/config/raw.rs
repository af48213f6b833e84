//! The YAML shapes exactly as users write them; `config.rs` turns them into validated types.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The top-level document.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    pub route: Option<RawRoute>,
    #[serde(default)]
    pub inhibit_rules: Vec<RawInhibitRule>,
    #[serde(default)]
    pub receivers: Vec<RawReceiver>,
    /// Template paths: accepted for compatibility, templates come from `template_files`.
    #[serde(default)]
    #[allow(dead_code)]
    pub templates: Vec<String>,
    #[serde(default)]
    pub time_intervals: Vec<RawNamedTimeInterval>,
    #[serde(default)]
    pub mute_time_intervals: Vec<RawNamedTimeInterval>,
}

/// `global:`; unknown keys (other integrations' defaults) are accepted and ignored.
#[derive(Debug, Deserialize, Default)]
pub struct RawGlobal {
    pub resolve_timeout: Option<String>,
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub slack_api_url: Option<String>,
    pub http_config: Option<RawHttpConfig>,
}

/// A routing node.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "continue", default)]
    pub continue_: bool,
    #[serde(rename = "match", default)]
    pub match_: BTreeMap<String, String>,
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// An inhibition rule, both syntaxes.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A receiver; keys other than the supported integrations are collected to be rejected by name.
#[derive(Debug, Deserialize)]
pub struct RawReceiver {
    pub name: Option<String>,
    #[serde(default)]
    pub webhook_configs: Vec<RawWebhook>,
    #[serde(default)]
    pub email_configs: Vec<RawEmail>,
    #[serde(default)]
    pub slack_configs: Vec<RawSlack>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml::Value>,
}

/// `http_config:` (the parts that matter for outgoing requests).
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RawHttpConfig {
    pub bearer_token: Option<String>,
    pub authorization: Option<RawAuthorization>,
    pub basic_auth: Option<RawBasicAuth>,
}

/// `authorization:` inside `http_config`.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub credentials: Option<String>,
}

/// `basic_auth:` inside `http_config`.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `webhook_configs[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Option<String>,
    pub send_resolved: Option<bool>,
    pub max_alerts: Option<u64>,
    pub http_config: Option<RawHttpConfig>,
    pub timeout: Option<String>,
}

/// `email_configs[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub to: Option<String>,
    pub from: Option<String>,
    pub hello: Option<String>,
    pub smarthost: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    /// Accepted for compatibility; PLAIN/LOGIN auth does not use it.
    #[allow(dead_code)]
    pub auth_identity: Option<String>,
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub send_resolved: Option<bool>,
}

/// `slack_configs[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlack {
    pub api_url: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
    pub send_resolved: Option<bool>,
    pub http_config: Option<RawHttpConfig>,
}

/// `time_intervals[]` / `mute_time_intervals[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamedTimeInterval {
    pub name: Option<String>,
    #[serde(default)]
    pub time_intervals: Vec<RawTimeInterval>,
}

/// One interval specification; every present field must match.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTimeInterval {
    #[serde(default)]
    pub times: Vec<RawTimeRange>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    pub location: Option<String>,
}

/// `start_time`/`end_time` as `HH:MM`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeRange {
    pub start_time: String,
    pub end_time: String,
}
