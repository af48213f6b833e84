//! Pitot's configuration: a YAML file, overridden by command-line flags (each of which
//! can also come from a `PITOT_*` environment variable), over built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The whole configuration of `pitot serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the WAL, metadata database and (by default) blocks live.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// The operator's secret; generated into `<data_dir>/platform-token` when unset.
    pub platform_token: Option<String>,
    /// Metrics storage.
    pub storage: StorageConfig,
    /// Per-series limits.
    pub limits: LimitsConfig,
    /// HTTP server limits.
    pub server: ServerConfig,
    /// PromQL engine settings.
    pub query: QueryConfig,
    /// Logs: push validation, log storage and LogQL limits.
    pub logs: LogsConfig,
    /// Defaults of the per-tenant limits (Mimir and Loki names), over the built-in
    /// published defaults; `limits.*` and `logs.max_line_size` set the same-named ones.
    pub tenant_limits: pitot_limits::LimitOverrides,
    /// The runtime-overrides file of per-tenant limits.
    pub runtime_config: RuntimeConfig,
    /// The ruler.
    pub rules: RulesConfig,
    /// Prices applied to usage (`GET /api/pitot/v1/cost`).
    pub pricing: pitot_usage::PricePlan,
    /// Usage metering.
    pub usage: UsageConfig,
    /// Which addresses tenant-configured connections (webhooks, Slack, SMTP, contact
    /// points) may reach.
    pub egress: EgressConfig,
    /// Bounds on sending tenants' notifications.
    pub alertmanager: NotifyConfig,
}

/// Bounds on sending tenants' notifications, so no tenant's receivers hold the sender long.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Longest one delivery attempt may take, whatever `timeout` a tenant's receiver sets
    /// (Alertmanager's webhook `timeout`); SMTP commands too.
    pub max_notify_timeout: String,
    /// Most notification sends one tenant has in flight; more wait without holding up
    /// other tenants.
    pub max_sends_per_tenant: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            max_notify_timeout: "30s".into(),
            max_sends_per_tenant: pitot_alertmanager::engine::DEFAULT_SENDS_PER_TENANT,
        }
    }
}

/// The egress policy for connections a tenant configures. Loopback, link-local, private
/// (RFC 1918, ULA, CGNAT), multicast, reserved and cloud metadata addresses are denied by
/// default; `allow` opens networks among them, `deny` closes more, and `deny` wins over
/// `allow`. Operator-configured URLs (`rules.alertmanager_urls`) are not subject to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Networks (CIDRs, such as `10.20.0.0/16` or `127.0.0.1/32`) tenants may reach even
    /// though the default denials cover them.
    pub allow: Vec<String>,
    /// Networks tenants may never reach, over `allow` and the defaults.
    pub deny: Vec<String>,
}

impl EgressConfig {
    /// The policy these lists describe; a malformed CIDR is an error naming it.
    pub fn policy(&self) -> anyhow::Result<pitot_alertmanager::EgressPolicy> {
        pitot_alertmanager::EgressPolicy::from_lists(&self.allow, &self.deny)
            .context("egress.allow / egress.deny")
    }
}

/// Usage metering settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// How often each tenant's usage is written as `pitot_usage_*` series into its
    /// managed metrics data source.
    pub series_interval: String,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            series_interval: "1m".into(),
        }
    }
}

/// Ruler settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Interval of groups that set none (`1m`, Prometheus' `evaluation_interval`).
    pub evaluation_interval: String,
    /// How often stored groups are re-read (changes through the API apply at once).
    pub poll_interval: String,
    /// External Alertmanagers (base URLs) that also receive every tenant's alerts over
    /// API v2, besides Pitot's own.
    pub alertmanager_urls: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            evaluation_interval: "1m".into(),
            poll_interval: "10s".into(),
            alertmanager_urls: Vec::new(),
        }
    }
}

/// Where per-tenant limit overrides are read from while running (Mimir's runtime config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// YAML file with `overrides: {<tenant>: {<limit>: <value>}}`; reloaded when it changes.
    pub file: Option<PathBuf>,
    /// How often the file is checked (`10s`).
    pub period: String,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            file: None,
            period: "10s".into(),
        }
    }
}

impl Config {
    /// The defaults every tenant starts from.
    pub fn tenant_limit_defaults(&self) -> anyhow::Result<pitot_limits::TenantLimits> {
        let mut d = pitot_limits::TenantLimits {
            max_label_names_per_series: self.limits.max_label_names_per_series as u64,
            max_label_name_length: self.limits.max_label_name_length as u64,
            max_label_value_length: self.limits.max_label_value_length as u64,
            max_line_size: self.logs.max_line_size as u64,
            max_entries_limit_per_query: self.logs.max_entries_limit_per_query as u64,
            max_query_series: self.logs.max_query_series as u64,
            ..Default::default()
        };
        self.tenant_limits
            .validate()
            .map_err(|e| anyhow::anyhow!("tenant_limits: {e}"))?;
        d.apply(&self.tenant_limits);
        Ok(d)
    }
}

/// Logs settings; defaults are Loki's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Most labels per stream.
    pub max_label_names_per_series: usize,
    /// Longest label name.
    pub max_label_name_length: usize,
    /// Longest label value.
    pub max_label_value_length: usize,
    /// Longest line in bytes; 0 disables.
    pub max_line_size: usize,
    /// Truncate longer lines instead of refusing them.
    pub max_line_size_truncate: bool,
    /// Oldest entry accepted, relative to now (`168h`); `0s` disables.
    pub reject_old_samples_max_age: String,
    /// How far ahead of now an entry may be (`10m`).
    pub creation_grace_period: String,
    /// Largest structured metadata of one entry, bytes.
    pub max_structured_metadata_size: usize,
    /// Most structured-metadata pairs on one entry.
    pub max_structured_metadata_entries_count: usize,
    /// Labels whose value becomes `service_name` (Loki 3); empty disables.
    pub discover_service_name: Vec<String>,
    /// How far behind a stream's newest entry an entry may be (`1h`).
    pub out_of_order_window: String,
    /// Raw line bytes per chunk before it is compressed and sealed.
    pub chunk_target_size: usize,
    /// Age after which a partly filled chunk is sealed (`1h`).
    pub max_chunk_age: String,
    /// Retention of log blocks (`31d`); `0s` keeps them forever.
    pub retention: String,
    /// Longest range of a logs query (`721h`); `0s` disables.
    pub max_query_length: String,
    /// Most entries one logs query may return.
    pub max_entries_limit_per_query: usize,
    /// Most series a metric LogQL query may produce.
    pub max_query_series: usize,
    /// Longest a LogQL query may run (`1m`).
    pub query_timeout: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        let d = pitot_distributor::logs::LogValidationLimits::default();
        LogsConfig {
            max_label_names_per_series: d.max_label_names_per_series,
            max_label_name_length: d.max_label_name_length,
            max_label_value_length: d.max_label_value_length,
            max_line_size: d.max_line_size,
            max_line_size_truncate: d.max_line_size_truncate,
            reject_old_samples_max_age: "168h".into(),
            creation_grace_period: "10m".into(),
            max_structured_metadata_size: d.max_structured_metadata_size,
            max_structured_metadata_entries_count: d.max_structured_metadata_entries_count,
            discover_service_name: d.discover_service_name,
            out_of_order_window: "1h".into(),
            chunk_target_size: 1 << 20,
            max_chunk_age: "1h".into(),
            retention: "31d".into(),
            max_query_length: "721h".into(),
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            query_timeout: "1m".into(),
        }
    }
}

impl LogsConfig {
    /// The push validation limits.
    pub fn validation_limits(
        &self,
    ) -> anyhow::Result<pitot_distributor::logs::LogValidationLimits> {
        Ok(pitot_distributor::logs::LogValidationLimits {
            max_label_names_per_series: self.max_label_names_per_series,
            max_label_name_length: self.max_label_name_length,
            max_label_value_length: self.max_label_value_length,
            max_line_size: self.max_line_size,
            max_line_size_truncate: self.max_line_size_truncate,
            reject_old_samples_max_age: duration(
                "logs.reject_old_samples_max_age",
                &self.reject_old_samples_max_age,
            )?,
            creation_grace_period: duration(
                "logs.creation_grace_period",
                &self.creation_grace_period,
            )?,
            max_structured_metadata_size: self.max_structured_metadata_size,
            max_structured_metadata_entries_count: self.max_structured_metadata_entries_count,
            discover_service_name: self.discover_service_name.clone(),
        })
    }
}

/// PromQL engine settings (defaults are Prometheus' flag defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// How far back an instant selector looks (`5m`).
    pub lookback_delta: String,
    /// Longest a query may run (`2m`).
    pub timeout: String,
    /// Most samples a query may hold in memory.
    pub max_samples: usize,
    /// Most queries (and heavy reads) running at once, each on its own thread off the
    /// async runtime; more wait.
    pub max_concurrent: usize,
    /// Most queries one tenant runs at once, whatever its `max_concurrent_queries`, and
    /// the most cores one query spreads over; 0 (the default) is half the cores, at
    /// least one, so one tenant's queries leave the rest of the machine to the others.
    pub max_concurrent_per_tenant: usize,
    /// How long a query (or a large push being decoded) runs at normal priority before
    /// its thread drops to the lowest, so that short requests of every tenant go first
    /// (`5ms`); `0s` never demotes.
    pub demote_after: String,
    /// How many cores demoted (long) jobs never run on, kept for requests, ingest and
    /// short jobs of every tenant (1); 0 lets long jobs use every core. Ignored on a
    /// machine with no more cores than this.
    pub reserved_cores: usize,
    /// Most series one query may select; 0 disables.
    pub max_series: usize,
    /// Longest range a range query may cover (`721h`); `0s` disables.
    pub max_length: String,
    /// Prometheus 3's experimental delayed name removal (its feature flag
    /// `promql-delayed-name-removal`); off, as in a default Prometheus server.
    pub delayed_name_removal: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            lookback_delta: "5m".into(),
            timeout: "2m".into(),
            max_samples: 50_000_000,
            max_concurrent: 20,
            max_concurrent_per_tenant: 0,
            demote_after: "5ms".into(),
            reserved_cores: 1,
            max_series: 500_000,
            max_length: "721h".into(),
            delayed_name_removal: false,
        }
    }
}

/// Metrics storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Block range, as a Prometheus duration (`2h`).
    pub block_range: String,
    /// Out-of-order window (`10m`).
    pub out_of_order_window: String,
    /// Retention (`31d`).
    pub retention: String,
    /// Object store for blocks: unset for `<data_dir>/blocks`, or `s3://bucket/prefix`.
    pub object_store_url: Option<String>,
    /// S3 endpoint for S3-compatible stores (MinIO, Ceph, ...).
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: Option<String>,
    /// S3 access key ID (or `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// S3 secret key (or `AWS_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: Option<String>,
    /// Allow plain-HTTP S3 endpoints.
    pub s3_allow_http: bool,
    /// How often the head is checked for a block cut and retention is applied (`1m`).
    pub maintenance_interval: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            block_range: "2h".into(),
            out_of_order_window: "10m".into(),
            retention: "31d".into(),
            object_store_url: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            maintenance_interval: "1m".into(),
        }
    }
}

/// Limits applied to every pushed series.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most labels per series.
    pub max_label_names_per_series: usize,
    /// Longest label name.
    pub max_label_name_length: usize,
    /// Longest label value.
    pub max_label_value_length: usize,
    /// How far ahead of now a sample may be (`10m`).
    pub creation_grace_period: String,
    /// How far behind now a sample may be; `0s` disables the check.
    pub past_grace_period: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = pitot_distributor::ValidationLimits::default();
        LimitsConfig {
            max_label_names_per_series: d.max_label_names_per_series,
            max_label_name_length: d.max_label_name_length,
            max_label_value_length: d.max_label_value_length,
            creation_grace_period: "10m".into(),
            past_grace_period: "0s".into(),
        }
    }
}

/// HTTP server limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest request body, compressed.
    pub max_request_body_bytes: usize,
    /// Largest push message after decompression (remote write and Loki), checked
    /// before decompressing.
    pub max_decompressed_bytes: usize,
    /// Bytes of all tenants' pushes being decoded and written at once (compressed
    /// body, decompressed message and decoded form); more wait briefly, then are
    /// refused with 503. Mimir's `-distributor.instance-limits.max-inflight-push-requests-bytes`.
    /// 0 disables.
    pub max_inflight_push_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let d = pitot_http::HttpLimits::default();
        ServerConfig {
            max_request_body_bytes: d.max_request_body_bytes,
            max_decompressed_bytes: d.max_decompressed_bytes,
            max_inflight_push_bytes: 512 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            listen: "127.0.0.1:7486".parse().expect("valid default address"),
            platform_token: None,
            storage: StorageConfig::default(),
            limits: LimitsConfig::default(),
            server: ServerConfig::default(),
            query: QueryConfig::default(),
            logs: LogsConfig::default(),
            tenant_limits: pitot_limits::LimitOverrides::default(),
            runtime_config: RuntimeConfig::default(),
            rules: RulesConfig::default(),
            pricing: pitot_usage::PricePlan::default(),
            usage: UsageConfig::default(),
            egress: EgressConfig::default(),
            alertmanager: NotifyConfig::default(),
        }
    }
}

impl Config {
    /// Reads a YAML file; a missing file is an error that names it.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Config> {
        Config::load(Some(path), &[])
    }

    /// The file (if any) with `--set KEY=VALUE` assignments applied on top (`KEY` is an
    /// option's dotted path, such as `tenant_limits.ingestion_rate`; `VALUE` is read as
    /// YAML, so numbers, booleans and `[a, b]` lists work). Problems of the file name the
    /// file; problems the assignments bring name them.
    pub fn load(path: Option<&std::path::Path>, sets: &[String]) -> anyhow::Result<Config> {
        let mut doc = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let config: Config = serde_yaml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                if sets.is_empty() {
                    return Ok(config);
                }
                serde_yaml::from_str::<serde_yaml::Value>(&text)?
            }
            None => serde_yaml::Value::Mapping(Default::default()),
        };
        if sets.is_empty() {
            return Ok(Config::default());
        }
        if doc.is_null() {
            doc = serde_yaml::Value::Mapping(Default::default());
        }
        for assignment in sets {
            apply_set(&mut doc, assignment)?;
        }
        serde_yaml::from_value(doc)
            .with_context(|| format!("invalid --set {}", sets.join(" --set ")))
    }

    /// The configuration as YAML with every default filled in (each tenant limit at its
    /// effective default) and secrets replaced by `<secret>`: what
    /// `/api/v1/status/config` shows the operator.
    pub fn redacted_yaml(&self) -> anyhow::Result<String> {
        Ok(serde_yaml::to_string(&self.shown()?)?)
    }

    /// Every option as `dotted.key -> value` (what `--set` takes), secrets replaced:
    /// `/api/v1/status/flags`.
    pub fn flat_options(&self) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let mut out = std::collections::BTreeMap::new();
        flatten("", &serde_yaml::to_value(self.shown()?)?, &mut out);
        Ok(out)
    }

    /// The configuration as the status endpoints show it: tenant limits at their
    /// effective defaults, secrets replaced by `<secret>`.
    fn shown(&self) -> anyhow::Result<Config> {
        let mut shown = self.clone();
        let secret = Some("<secret>".to_string());
        if shown.platform_token.is_some() {
            shown.platform_token = secret.clone();
        }
        if shown.storage.s3_secret_access_key.is_some() {
            shown.storage.s3_secret_access_key = secret;
        }
        shown.tenant_limits =
            serde_yaml::from_value(serde_yaml::to_value(self.tenant_limit_defaults()?)?)?;
        Ok(shown)
    }

    /// Checks every duration and returns them parsed.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (field, value) in [
            ("storage.block_range", &self.storage.block_range),
            (
                "storage.out_of_order_window",
                &self.storage.out_of_order_window,
            ),
            ("storage.retention", &self.storage.retention),
            ("usage.series_interval", &self.usage.series_interval),
            (
                "storage.maintenance_interval",
                &self.storage.maintenance_interval,
            ),
            (
                "limits.creation_grace_period",
                &self.limits.creation_grace_period,
            ),
            ("limits.past_grace_period", &self.limits.past_grace_period),
            ("query.lookback_delta", &self.query.lookback_delta),
            ("query.timeout", &self.query.timeout),
            ("query.max_length", &self.query.max_length),
            (
                "logs.reject_old_samples_max_age",
                &self.logs.reject_old_samples_max_age,
            ),
            (
                "logs.creation_grace_period",
                &self.logs.creation_grace_period,
            ),
            ("logs.out_of_order_window", &self.logs.out_of_order_window),
            ("logs.max_chunk_age", &self.logs.max_chunk_age),
            ("logs.retention", &self.logs.retention),
            ("logs.max_query_length", &self.logs.max_query_length),
            ("logs.query_timeout", &self.logs.query_timeout),
            ("runtime_config.period", &self.runtime_config.period),
            ("rules.evaluation_interval", &self.rules.evaluation_interval),
            ("rules.poll_interval", &self.rules.poll_interval),
            (
                "alertmanager.max_notify_timeout",
                &self.alertmanager.max_notify_timeout,
            ),
        ] {
            duration(field, value)?;
        }
        if duration("storage.block_range", &self.storage.block_range)? < Duration::from_secs(1) {
            bail!("storage.block_range must be at least 1s");
        }
        self.egress.policy()?;
        if duration(
            "alertmanager.max_notify_timeout",
            &self.alertmanager.max_notify_timeout,
        )?
        .is_zero()
        {
            bail!("alertmanager.max_notify_timeout must be above 0s");
        }
        Ok(())
    }
}

/// Sets one `KEY=VALUE` assignment of `--set` in a YAML document, creating the
/// sections on its path.
fn apply_set(doc: &mut serde_yaml::Value, assignment: &str) -> anyhow::Result<()> {
    let Some((key, raw)) = assignment.split_once('=') else {
        bail!("--set {assignment}: expected KEY=VALUE, such as tenant_limits.ingestion_rate=50000");
    };
    let path: Vec<&str> = key.trim().split('.').collect();
    if path.iter().any(|p| p.is_empty()) {
        bail!(
            "--set {assignment}: the key must be an option's dotted path, such as pricing.currency"
        );
    }
    let value = if raw.trim().is_empty() {
        serde_yaml::Value::String(String::new())
    } else {
        serde_yaml::from_str(raw).unwrap_or_else(|_| serde_yaml::Value::String(raw.to_string()))
    };
    let mut node = doc;
    for (i, part) in path.iter().enumerate() {
        let serde_yaml::Value::Mapping(map) = node else {
            bail!(
                "--set {assignment}: {} is not a section",
                path[..i].join(".")
            );
        };
        let slot = map
            .entry(serde_yaml::Value::String(part.to_string()))
            .or_insert(serde_yaml::Value::Null);
        if i + 1 == path.len() {
            *slot = value;
            return Ok(());
        }
        if slot.is_null() {
            *slot = serde_yaml::Value::Mapping(Default::default());
        }
        node = slot;
    }
    Ok(())
}

/// Writes a YAML document's leaves as `a.b.c -> value` (lists as flow YAML).
fn flatten(
    prefix: &str,
    value: &serde_yaml::Value,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    match value {
        serde_yaml::Value::Mapping(map) if !map.is_empty() || prefix.is_empty() => {
            for (k, v) in map {
                let k = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_yaml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_yaml::Value::Null => {
            out.insert(prefix.to_string(), String::new());
        }
        serde_yaml::Value::Sequence(_) => {
            out.insert(
                prefix.to_string(),
                serde_json::to_string(value).unwrap_or_default(),
            );
        }
        other => {
            let text = serde_yaml::to_string(other).unwrap_or_default();
            out.insert(prefix.to_string(), text.trim().to_string());
        }
    }
}

/// Parses a Prometheus-style duration (`90s`, `1h30m`, `31d`), naming the field on error.
pub fn duration(field: &str, value: &str) -> anyhow::Result<Duration> {
    pitot_core::parse_duration(value).map_err(|e| anyhow::anyhow!("{field}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value different from `current` of the same kind, for the option `key`.
    fn other_value(key: &str, current: &str) -> String {
        match key {
            "listen" => return "127.0.0.1:9999".into(),
            "pricing.retention_tiers" => {
                return r#"[{"max_retention_days":7.0,"per_million_samples":1.5}]"#.into()
            }
            _ => {}
        }
        if let Ok(n) = current.parse::<i64>() {
            (n + 1).to_string()
        } else if let Ok(x) = current.parse::<f64>() {
            (x + 0.5).to_string()
        } else if let Ok(b) = current.parse::<bool>() {
            (!b).to_string()
        } else if current.starts_with('[') {
            r#"["changed"]"#.into()
        } else if pitot_core::parse_duration(current).is_ok() {
            if current == "7m" { "8m" } else { "7m" }.into()
        } else {
            "changed".into()
        }
    }

    #[test]
    fn every_option_can_be_set_from_the_command_line() {
        let defaults = Config::default().flat_options().expect("flatten");
        assert!(defaults.len() > 100, "only {} options", defaults.len());
        for key in [
            "tenant_limits.ingestion_rate",
            "pricing.per_million_samples",
            "rules.poll_interval",
            "logs.max_structured_metadata_size",
            "storage.block_range",
        ] {
            assert!(defaults.contains_key(key), "{key} missing");
        }
        for (key, current) in &defaults {
            if key == "platform_token" || key == "storage.s3_secret_access_key" {
                continue; // shown as <secret>
            }
            let wanted = other_value(key, current);
            let config = Config::load(None, &[format!("{key}={wanted}")])
                .unwrap_or_else(|e| panic!("--set {key}={wanted}: {e:#}"));
            let got = config.flat_options().expect("flatten");
            let got = got.get(key).cloned().unwrap_or_default();
            match (got.parse::<f64>(), wanted.parse::<f64>()) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "--set {key}={wanted}"),
                _ => assert_eq!(got, wanted, "--set {key}={wanted}"),
            }
        }
    }

    #[test]
    fn set_applies_over_the_file_and_names_its_mistakes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pitot.yaml");
        std::fs::write(
            &file,
            "pricing:\n  currency: EUR\n  per_million_samples: 0.3\n",
        )
        .expect("write");
        let sets = ["pricing.per_million_samples=0.5".to_string()];
        let c = Config::load(Some(&file), &sets).expect("load");
        assert_eq!(c.pricing.currency, "EUR");
        assert_eq!(c.pricing.per_million_samples, 0.5);

        let e = Config::load(None, &["tenant_limits.no_such_limit=1".to_string()])
            .expect_err("unknown option");
        let text = format!("{e:#}");
        assert!(
            text.contains("--set tenant_limits.no_such_limit=1") && text.contains("no_such_limit"),
            "{text}"
        );
        let e = Config::load(None, &["pricing".to_string()]).expect_err("no value");
        assert!(format!("{e:#}").contains("expected KEY=VALUE"), "{e:#}");
        let e = Config::load(Some(&file), &["pricing.currency.x=1".to_string()])
            .expect_err("not a section");
        assert!(
            format!("{e:#}").contains("pricing.currency is not a section"),
            "{e:#}"
        );
    }

    #[test]
    fn secrets_are_not_shown() {
        let mut c = Config {
            platform_token: Some("very-secret-platform-token".into()),
            ..Config::default()
        };
        c.storage.s3_secret_access_key = Some("s3-very-secret".into());
        let yaml = c.redacted_yaml().expect("yaml");
        assert!(!yaml.contains("very-secret"), "{yaml}");
        assert!(yaml.contains("platform_token: <secret>"), "{yaml}");
        assert!(yaml.contains("ingestion_rate: 10000"), "{yaml}");
    }
}
