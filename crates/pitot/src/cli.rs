//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// Pitot: multi-tenant metrics (and soon logs) in one binary.
#[derive(Debug, Parser)]
#[command(name = "pitot", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Run Prometheus PromQL test scripts (the promqltest format) against Pitot's engine.
    Promqltest {
        /// Count native-histogram cases as skipped instead of failed.
        #[arg(long)]
        skip_native_histograms: bool,
        /// Script files or directories of `*.test` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run Loki LogQL test scripts (the logqltest format) against Pitot's LogQL engine.
    Logqltest {
        /// Script files or directories of `*.logqltest` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Manage a tenant's rule groups on a running server (as `mimirtool rules`).
    Rules {
        /// Server address.
        #[arg(
            long,
            env = "PITOT_ADDRESS",
            default_value = "http://127.0.0.1:7486",
            global = true
        )]
        address: String,
        /// The tenant's token.
        #[arg(long, env = "PITOT_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
        /// What to do.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Read or change a tenant's limits on a running server.
    Limits {
        /// Server address and token.
        #[command(flatten)]
        remote: RemoteArgs,
        /// What to do.
        #[command(subcommand)]
        command: LimitsCommand,
    },
    /// Manage a tenant's data sources on a running server.
    Datasource {
        /// Server address and token.
        #[command(flatten)]
        remote: RemoteArgs,
        /// What to do.
        #[command(subcommand)]
        command: DatasourceCommand,
    },
    /// A tenant's usage per hour, day or month.
    Usage {
        /// Server address and token.
        #[command(flatten)]
        remote: RemoteArgs,
        /// What to show.
        #[command(flatten)]
        args: UsageArgs,
    },
    /// A tenant's cost this month (or another), to date and projected.
    Cost {
        /// Server address and token.
        #[command(flatten)]
        remote: RemoteArgs,
        /// What to show.
        #[command(flatten)]
        args: CostArgs,
    },
    /// Check configuration and rule files without starting anything, as `promtool check`.
    Check {
        /// What to check.
        #[command(subcommand)]
        command: CheckCommand,
    },
    /// Unit tests, as `promtool test` runs them.
    Test {
        /// What to test.
        #[command(subcommand)]
        command: TestCommand,
    },
    /// Manage tenants in the metadata database of a data directory.
    Tenant {
        /// Where the data lives.
        #[command(flatten)]
        data: DataDirArg,
        /// What to do.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage tokens in the metadata database of a data directory.
    Token {
        /// Where the data lives.
        #[command(flatten)]
        data: DataDirArg,
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// How CLI commands reach a running server.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Server address.
    #[arg(
        long,
        env = "PITOT_ADDRESS",
        default_value = "http://127.0.0.1:7486",
        global = true
    )]
    pub address: String,
    /// Token (the platform token for any tenant, a tenant's own otherwise).
    #[arg(long, env = "PITOT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

/// `pitot limits` subcommands.
#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Show a tenant's effective limits and which are overridden.
    Get {
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The tenant, as earlier versions took it (`pitot limits get team-b`).
        #[arg(hide = true, conflicts_with = "tenant")]
        positional_tenant: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Override limits: `name=value` pairs (Mimir/Loki names).
    Set {
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// `ingestion_rate=50000 max_query_length=7d ...` (earlier versions took the
        /// tenant first, and a first word without `=` still names it).
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}

/// `pitot datasource` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatasourceCommand {
    /// List a tenant's data sources (every tenant's with the platform token and no
    /// --tenant).
    List {
        /// The tenant (with the platform token).
        #[arg(long)]
        tenant: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a data source.
    Create {
        /// Its name.
        name: String,
        /// metrics or logs.
        #[arg(long = "type")]
        kind: String,
        /// custom (default) or managed (platform token only).
        #[arg(long)]
        origin: Option<String>,
        /// How long its data is kept (30d, 720h, ...) [default: the server's].
        #[arg(long)]
        retention: Option<String>,
        /// The tenant (with the platform token).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Change a data source's retention (0 for the server's default).
    Retention {
        /// The data source.
        name: String,
        /// 30d, 720h, ... or 0.
        retention: String,
        /// The tenant (with the platform token).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete a data source and all of its data.
    Delete {
        /// The data source.
        name: String,
        /// Repeat the name to confirm: the data is gone for good.
        #[arg(long)]
        confirm: String,
        /// The tenant (with the platform token).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `pitot usage` options.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The tenant (with the platform token).
    #[arg(long)]
    pub tenant: Option<String>,
    /// hour, day or month.
    #[arg(long, default_value = "day")]
    pub granularity: String,
    /// Start (RFC 3339 or Unix seconds) [default: start of this month].
    #[arg(long)]
    pub from: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pitot cost` options.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// The tenant (with the platform token).
    #[arg(long)]
    pub tenant: Option<String>,
    /// YYYY-MM [default: this month].
    #[arg(long)]
    pub month: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pitot rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Make the tenant's rule groups what the files say, as `mimirtool rules sync`:
    /// check every file locally, upload new and changed groups (into the namespace named
    /// after each file, or `--namespace`), delete groups no file has any more.
    Sync {
        /// Namespace for all files.
        #[arg(long)]
        namespace: Option<String>,
        /// Prometheus rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print every rule group (YAML by namespace).
    List,
    /// Delete a namespace, or one group of it.
    Delete {
        /// The namespace.
        namespace: String,
        /// Only this group.
        group: Option<String>,
    },
}

/// `pitot check` subcommands.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check a `pitot serve --config` file: its shape, every duration, limit and egress
    /// rule, and the runtime overrides file it names.
    Config {
        /// The configuration file.
        file: PathBuf,
    },
    /// Check Prometheus rule files as `pitot rules sync` and the ruler API would.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `pitot test` subcommands.
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit-test files (the `promtool test rules` format).
    Rules {
        /// Run only test groups whose name matches one of these regular expressions.
        #[arg(long)]
        run: Vec<String>,
        /// Unit-test YAML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The data directory, for commands that work on it directly.
#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Data directory (the same as `pitot serve --data-dir`).
    #[arg(long, global = true, env = "PITOT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Tenant ID: letters, digits and !-_.*'() up to 150 characters.
        name: String,
    },
    /// List tenants.
    List,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only once).
    Create {
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes, e.g. metrics:write,metrics:read.
        #[arg(long)]
        scopes: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List active tokens (never their secrets).
    List {
        /// Only this tenant's tokens.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a token by ID.
    Revoke {
        /// The token ID shown by `token list`.
        id: String,
    },
}

/// `pitot serve` flags; each overrides the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(long, env = "PITOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, env = "PITOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:7486]; port 0 picks a free port.
    #[arg(long, env = "PITOT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The operator's secret [default: generated into <data-dir>/platform-token].
    #[arg(long, env = "PITOT_PLATFORM_TOKEN", hide_env_values = true)]
    pub platform_token: Option<String>,
    /// Block range [default: 2h].
    #[arg(long, env = "PITOT_BLOCK_RANGE")]
    pub block_range: Option<String>,
    /// Out-of-order window [default: 10m].
    #[arg(long, env = "PITOT_OUT_OF_ORDER_WINDOW")]
    pub out_of_order_window: Option<String>,
    /// Retention of blocks [default: 31d].
    #[arg(long, env = "PITOT_RETENTION")]
    pub retention: Option<String>,
    /// How often to check for block cuts and retention [default: 1m].
    #[arg(long, env = "PITOT_MAINTENANCE_INTERVAL")]
    pub maintenance_interval: Option<String>,
    /// How often each tenant's usage is written as `pitot_usage_*` series into its
    /// managed metrics data source [default: 1m].
    #[arg(long, env = "PITOT_USAGE_SERIES_INTERVAL")]
    pub usage_series_interval: Option<String>,
    /// Object store URL for blocks (s3://bucket/prefix) [default: <data-dir>/blocks].
    #[arg(long, env = "PITOT_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
    /// S3 endpoint for S3-compatible stores.
    #[arg(long, env = "PITOT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "PITOT_S3_REGION")]
    pub s3_region: Option<String>,
    /// S3 access key ID.
    #[arg(long, env = "PITOT_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "PITOT_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allow plain-HTTP S3 endpoints.
    #[arg(long, env = "PITOT_S3_ALLOW_HTTP")]
    pub s3_allow_http: Option<bool>,
    /// Most labels per series [default: 30].
    #[arg(long, env = "PITOT_MAX_LABEL_NAMES_PER_SERIES")]
    pub max_label_names_per_series: Option<usize>,
    /// Longest label name [default: 1024].
    #[arg(long, env = "PITOT_MAX_LABEL_NAME_LENGTH")]
    pub max_label_name_length: Option<usize>,
    /// Longest label value [default: 2048].
    #[arg(long, env = "PITOT_MAX_LABEL_VALUE_LENGTH")]
    pub max_label_value_length: Option<usize>,
    /// How far in the future samples may be [default: 10m].
    #[arg(long, env = "PITOT_CREATION_GRACE_PERIOD")]
    pub creation_grace_period: Option<String>,
    /// How far in the past samples may be; 0s disables [default: 0s].
    #[arg(long, env = "PITOT_PAST_GRACE_PERIOD")]
    pub past_grace_period: Option<String>,
    /// Largest request body in bytes [default: 10 MiB].
    #[arg(long, env = "PITOT_MAX_REQUEST_BODY_BYTES")]
    pub max_request_body_bytes: Option<usize>,
    /// PromQL lookback delta [default: 5m].
    #[arg(long, env = "PITOT_QUERY_LOOKBACK_DELTA")]
    pub query_lookback_delta: Option<String>,
    /// Longest a query may run [default: 2m].
    #[arg(long, env = "PITOT_QUERY_TIMEOUT")]
    pub query_timeout: Option<String>,
    /// Most samples a query may load [default: 50000000].
    #[arg(long, env = "PITOT_QUERY_MAX_SAMPLES")]
    pub query_max_samples: Option<usize>,
    /// Most queries running at once [default: 20].
    #[arg(long, env = "PITOT_QUERY_MAX_CONCURRENT")]
    pub query_max_concurrent: Option<usize>,
    /// Most queries one tenant runs at once, and cores one query uses; 0 is half the
    /// cores [default: 0].
    #[arg(long, env = "PITOT_QUERY_MAX_CONCURRENT_PER_TENANT")]
    pub query_max_concurrent_per_tenant: Option<usize>,
    /// How long a query runs at normal priority before its thread drops to the lowest;
    /// 0s never [default: 5ms].
    #[arg(long, env = "PITOT_QUERY_DEMOTE_AFTER")]
    pub query_demote_after: Option<String>,
    /// Cores long (demoted) queries never run on, kept for requests and short work; 0
    /// lets them use every core [default: 1].
    #[arg(long, env = "PITOT_QUERY_RESERVED_CORES")]
    pub query_reserved_cores: Option<usize>,
    /// Most series one query may select; 0 disables [default: 500000].
    #[arg(long, env = "PITOT_QUERY_MAX_SERIES")]
    pub query_max_series: Option<usize>,
    /// Longest range of a range query; 0s disables [default: 721h].
    #[arg(long, env = "PITOT_QUERY_MAX_LENGTH")]
    pub query_max_length: Option<String>,
    /// Remove metric names at the end of the query, as Prometheus 3 does with
    /// `--enable-feature=promql-delayed-name-removal` [default: false].
    #[arg(long, env = "PITOT_QUERY_DELAYED_NAME_REMOVAL")]
    pub query_delayed_name_removal: Option<bool>,
    /// Largest decompressed push message in bytes [default: 16 MiB].
    #[arg(long, env = "PITOT_MAX_DECOMPRESSED_BYTES")]
    pub max_decompressed_bytes: Option<usize>,
    /// Bytes of all pushes being processed at once; 0 disables [default: 512 MiB].
    #[arg(long, env = "PITOT_MAX_INFLIGHT_PUSH_BYTES")]
    pub max_inflight_push_bytes: Option<u64>,
    /// Longest log line in bytes; 0 disables [default: 262144].
    #[arg(long, env = "PITOT_LOGS_MAX_LINE_SIZE")]
    pub logs_max_line_size: Option<usize>,
    /// Truncate longer log lines instead of refusing them [default: false].
    #[arg(long, env = "PITOT_LOGS_MAX_LINE_SIZE_TRUNCATE")]
    pub logs_max_line_size_truncate: Option<bool>,
    /// Most labels per log stream [default: 15].
    #[arg(long, env = "PITOT_LOGS_MAX_LABEL_NAMES_PER_SERIES")]
    pub logs_max_label_names_per_series: Option<usize>,
    /// Oldest log entry accepted, relative to now; 0s disables [default: 168h].
    #[arg(long, env = "PITOT_LOGS_REJECT_OLD_SAMPLES_MAX_AGE")]
    pub logs_reject_old_samples_max_age: Option<String>,
    /// How far behind its stream's newest entry a log entry may be [default: 1h].
    #[arg(long, env = "PITOT_LOGS_OUT_OF_ORDER_WINDOW")]
    pub logs_out_of_order_window: Option<String>,
    /// Raw bytes per log chunk [default: 1048576].
    #[arg(long, env = "PITOT_LOGS_CHUNK_TARGET_SIZE")]
    pub logs_chunk_target_size: Option<usize>,
    /// Age after which a partly filled log chunk is sealed [default: 1h].
    #[arg(long, env = "PITOT_LOGS_MAX_CHUNK_AGE")]
    pub logs_max_chunk_age: Option<String>,
    /// Retention of log blocks; 0s keeps them forever [default: 31d].
    #[arg(long, env = "PITOT_LOGS_RETENTION")]
    pub logs_retention: Option<String>,
    /// Longest range of a logs query; 0s disables [default: 721h].
    #[arg(long, env = "PITOT_LOGS_MAX_QUERY_LENGTH")]
    pub logs_max_query_length: Option<String>,
    /// Most entries one logs query may return [default: 5000].
    #[arg(long, env = "PITOT_LOGS_MAX_ENTRIES_LIMIT_PER_QUERY")]
    pub logs_max_entries_limit_per_query: Option<usize>,
    /// Most series a LogQL metric query may produce [default: 500].
    #[arg(long, env = "PITOT_LOGS_MAX_QUERY_SERIES")]
    pub logs_max_query_series: Option<usize>,
    /// Runtime-overrides file of per-tenant limits, reloaded when it changes.
    #[arg(long, env = "PITOT_RUNTIME_CONFIG_FILE")]
    pub runtime_config_file: Option<PathBuf>,
    /// External Alertmanager base URL that also receives alerts (repeatable).
    #[arg(
        long = "rules-alertmanager-url",
        env = "PITOT_RULES_ALERTMANAGER_URL",
        value_delimiter = ','
    )]
    pub rules_alertmanager_urls: Vec<String>,
    /// Network (CIDR) tenant-configured receivers may reach although denied by default,
    /// such as 127.0.0.1/32 (repeatable or comma-separated; replaces egress.allow).
    #[arg(
        long = "egress-allow",
        env = "PITOT_EGRESS_ALLOW",
        value_delimiter = ','
    )]
    pub egress_allow: Vec<String>,
    /// Network (CIDR) tenant-configured receivers may never reach; wins over
    /// --egress-allow (repeatable or comma-separated; replaces egress.deny).
    #[arg(long = "egress-deny", env = "PITOT_EGRESS_DENY", value_delimiter = ',')]
    pub egress_deny: Vec<String>,
    /// Longest one notification delivery attempt may take, whatever the tenant's receiver
    /// sets [default: 30s].
    #[arg(long, env = "PITOT_ALERTMANAGER_MAX_NOTIFY_TIMEOUT")]
    pub alertmanager_max_notify_timeout: Option<String>,
    /// Most notification sends one tenant has in flight [default: 8].
    #[arg(long, env = "PITOT_ALERTMANAGER_MAX_SENDS_PER_TENANT")]
    pub alertmanager_max_sends_per_tenant: Option<usize>,
    /// Interval of rule groups that set none [default: 1m].
    #[arg(long, env = "PITOT_RULES_EVALUATION_INTERVAL")]
    pub rules_evaluation_interval: Option<String>,
    /// How often the runtime-overrides file is checked [default: 10s].
    #[arg(long, env = "PITOT_RUNTIME_CONFIG_PERIOD")]
    pub runtime_config_period: Option<String>,
    /// Longest a LogQL query may run [default: 1m].
    #[arg(long, env = "PITOT_LOGS_QUERY_TIMEOUT")]
    pub logs_query_timeout: Option<String>,
    /// Longest label name of a log stream [default: 1024].
    #[arg(long, env = "PITOT_LOGS_MAX_LABEL_NAME_LENGTH")]
    pub logs_max_label_name_length: Option<usize>,
    /// Longest label value of a log stream [default: 2048].
    #[arg(long, env = "PITOT_LOGS_MAX_LABEL_VALUE_LENGTH")]
    pub logs_max_label_value_length: Option<usize>,
    /// How far in the future a log entry may be [default: 10m].
    #[arg(long, env = "PITOT_LOGS_CREATION_GRACE_PERIOD")]
    pub logs_creation_grace_period: Option<String>,
    /// Largest structured metadata of one log entry, bytes [default: 65536].
    #[arg(long, env = "PITOT_LOGS_MAX_STRUCTURED_METADATA_SIZE")]
    pub logs_max_structured_metadata_size: Option<usize>,
    /// Most structured-metadata pairs on one log entry [default: 128].
    #[arg(long, env = "PITOT_LOGS_MAX_STRUCTURED_METADATA_ENTRIES_COUNT")]
    pub logs_max_structured_metadata_entries_count: Option<usize>,
    /// Labels whose value becomes service_name (repeatable or comma-separated; replaces
    /// logs.discover_service_name) [default: service, app, application, name, ...].
    #[arg(
        long = "logs-discover-service-name",
        env = "PITOT_LOGS_DISCOVER_SERVICE_NAME",
        value_delimiter = ','
    )]
    pub logs_discover_service_name: Vec<String>,
    /// How often stored rule groups are re-read [default: 10s].
    #[arg(long, env = "PITOT_RULES_POLL_INTERVAL")]
    pub rules_poll_interval: Option<String>,
    /// Any option of the configuration file by its dotted path, such as
    /// tenant_limits.ingestion_rate=50000 or pricing.per_million_samples=0.2 (repeatable;
    /// the value is read as YAML; in PITOT_SET separate them with ';'). Applied over the
    /// file; the other flags win over it.
    #[arg(
        long = "set",
        value_name = "KEY=VALUE",
        env = "PITOT_SET",
        value_delimiter = ';'
    )]
    pub set: Vec<String>,
}

impl ServeArgs {
    /// The configuration: file (if any) with these flags applied on top.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref(), &self.set)?;
        macro_rules! set {
            ($($flag:ident => $($field:ident).+),* $(,)?) => {
                $(if let Some(v) = &self.$flag { c.$($field).+ = v.clone().into(); })*
            };
        }
        set!(
            data_dir => data_dir,
            listen => listen,
            block_range => storage.block_range,
            out_of_order_window => storage.out_of_order_window,
            retention => storage.retention,
            maintenance_interval => storage.maintenance_interval,
            usage_series_interval => usage.series_interval,
            s3_allow_http => storage.s3_allow_http,
            max_label_names_per_series => limits.max_label_names_per_series,
            max_label_name_length => limits.max_label_name_length,
            max_label_value_length => limits.max_label_value_length,
            creation_grace_period => limits.creation_grace_period,
            past_grace_period => limits.past_grace_period,
            max_request_body_bytes => server.max_request_body_bytes,
            max_decompressed_bytes => server.max_decompressed_bytes,
            max_inflight_push_bytes => server.max_inflight_push_bytes,
            query_lookback_delta => query.lookback_delta,
            query_timeout => query.timeout,
            query_max_samples => query.max_samples,
            query_max_concurrent => query.max_concurrent,
            query_max_concurrent_per_tenant => query.max_concurrent_per_tenant,
            query_demote_after => query.demote_after,
            query_reserved_cores => query.reserved_cores,
            query_max_series => query.max_series,
            query_max_length => query.max_length,
            query_delayed_name_removal => query.delayed_name_removal,
            logs_max_line_size => logs.max_line_size,
            logs_max_line_size_truncate => logs.max_line_size_truncate,
            logs_max_label_names_per_series => logs.max_label_names_per_series,
            logs_reject_old_samples_max_age => logs.reject_old_samples_max_age,
            logs_out_of_order_window => logs.out_of_order_window,
            logs_chunk_target_size => logs.chunk_target_size,
            logs_max_chunk_age => logs.max_chunk_age,
            logs_retention => logs.retention,
            logs_max_query_length => logs.max_query_length,
            logs_max_entries_limit_per_query => logs.max_entries_limit_per_query,
            logs_max_query_series => logs.max_query_series,
            logs_query_timeout => logs.query_timeout,
            logs_max_label_name_length => logs.max_label_name_length,
            logs_max_label_value_length => logs.max_label_value_length,
            logs_creation_grace_period => logs.creation_grace_period,
            logs_max_structured_metadata_size => logs.max_structured_metadata_size,
            logs_max_structured_metadata_entries_count => logs.max_structured_metadata_entries_count,
            rules_poll_interval => rules.poll_interval,
            runtime_config_period => runtime_config.period,
            rules_evaluation_interval => rules.evaluation_interval,
            alertmanager_max_notify_timeout => alertmanager.max_notify_timeout,
            alertmanager_max_sends_per_tenant => alertmanager.max_sends_per_tenant,
        );
        macro_rules! set_opt {
            ($($flag:ident => $($field:ident).+),* $(,)?) => {
                $(if let Some(v) = &self.$flag { c.$($field).+ = Some(v.clone()); })*
            };
        }
        set_opt!(
            platform_token => platform_token,
            runtime_config_file => runtime_config.file,
            object_store_url => storage.object_store_url,
            s3_endpoint => storage.s3_endpoint,
            s3_region => storage.s3_region,
            s3_access_key_id => storage.s3_access_key_id,
            s3_secret_access_key => storage.s3_secret_access_key,
        );
        if !self.rules_alertmanager_urls.is_empty() {
            c.rules.alertmanager_urls = self.rules_alertmanager_urls.clone();
        }
        if !self.logs_discover_service_name.is_empty() {
            c.logs.discover_service_name = self.logs_discover_service_name.clone();
        }
        if !self.egress_allow.is_empty() {
            c.egress.allow = self.egress_allow.clone();
        }
        if !self.egress_deny.is_empty() {
            c.egress.deny = self.egress_deny.clone();
        }
        c.validate()?;
        Ok(c)
    }
}
