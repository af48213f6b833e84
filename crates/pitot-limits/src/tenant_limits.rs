//! The limits one tenant is held to, and partial overrides of them.

use serde::{Deserialize, Serialize};

use crate::duration::Dur;

const SEC: u64 = 1;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

fn dur(secs: u64) -> Dur {
    Dur(std::time::Duration::from_secs(secs))
}

/// Declares [`TenantLimits`] (every field set) and [`LimitOverrides`] (every field
/// optional) from one list, so the two can never disagree on names or types.
macro_rules! limits {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// The effective limits of one tenant. Field names are Mimir's and Loki's.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct TenantLimits {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl Default for TenantLimits {
            fn default() -> Self {
                TenantLimits { $( $name: $default, )* }
            }
        }

        /// Some limits of a tenant, overriding the defaults: what a `PUT` of the limits
        /// API or a tenant entry of the runtime-overrides file names.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct LimitOverrides {
            $( $(#[$doc])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>, )*
        }

        impl TenantLimits {
            /// Applies every field `overrides` sets.
            pub fn apply(&mut self, overrides: &LimitOverrides) {
                $( if let Some(v) = &overrides.$name { self.$name = v.clone(); } )*
            }
        }

        impl LimitOverrides {
            /// Adds `other`'s fields on top of these (`other` wins where both set one).
            pub fn merge(&mut self, other: &LimitOverrides) {
                $( if other.$name.is_some() { self.$name = other.$name.clone(); } )*
            }

            /// Whether no field is set.
            pub fn is_empty(&self) -> bool {
                true $( && self.$name.is_none() )*
            }
        }
    };
}

/// OTLP logs: the resource attributes Loki 3 indexes as stream labels by default.
pub const DEFAULT_OTLP_STREAM_LABEL_ATTRIBUTES: &[&str] = &[
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "deployment.environment.name",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

limits! {
    /// Metrics: samples per second (token bucket rate).
    ingestion_rate: f64 = 10_000.0,
    /// Metrics: samples one burst may carry (token bucket size).
    ingestion_burst_size: u64 = 200_000,
    /// Metrics: active series per tenant.
    max_global_series_per_user: u64 = 250_000,
    /// Metrics: active series per metric name.
    max_global_series_per_metric: u64 = 25_000,
    /// Metrics: exemplars held per tenant (a circular buffer: the oldest are overwritten);
    /// 0 refuses exemplars.
    max_global_exemplars_per_user: u64 = 100_000,
    /// Metrics: labels per series.
    max_label_names_per_series: u64 = 30,
    /// Metrics and logs: longest label name.
    max_label_name_length: u64 = 1024,
    /// Metrics and logs: longest label value.
    max_label_value_length: u64 = 2048,
    /// Metrics: how far behind a series' newest sample a sample may be.
    out_of_order_time_window: Dur = dur(10 * MIN),
    /// Logs: megabytes of lines per second (token bucket rate).
    ingestion_rate_mb: f64 = 4.0,
    /// Logs: megabytes one burst may carry (token bucket size).
    ingestion_burst_size_mb: f64 = 6.0,
    /// Logs: active streams per tenant.
    max_global_streams_per_user: u64 = 5_000,
    /// Logs: longest line in bytes.
    max_line_size: u64 = 256 * 1024,
    /// Queries: longest range of one query.
    max_query_length: Dur = dur(30 * 24 * HOUR + HOUR),
    /// Queries: how far back from now a query may read; 0s for no limit.
    max_query_lookback: Dur = dur(0),
    /// Queries: series one query may read.
    max_fetched_series_per_query: u64 = 500_000,
    /// Queries: samples one PromQL query may hold.
    max_samples_per_query: u64 = 50_000_000,
    /// Queries: queries of the tenant running at once.
    max_concurrent_queries: u64 = 20,
    /// Queries: longest a query may run.
    query_timeout: Dur = dur(MIN),
    /// Logs queries: most lines one answer may hold.
    max_entries_limit_per_query: u64 = 5_000,
    /// Logs queries: most series a metric query may produce.
    max_query_series: u64 = 500,
    /// Rules: rule groups per tenant.
    ruler_max_rule_groups_per_tenant: u64 = 70,
    /// Rules: rules per group.
    ruler_max_rules_per_rule_group: u64 = 20,
    /// Rules: shortest evaluation interval a group may ask for (shorter ones are refused
    /// at upload), so one tenant cannot make the ruler spin.
    ruler_min_evaluation_interval: Dur = dur(SEC),
    /// Alertmanager: largest configuration (YAML bytes, templates included).
    alertmanager_max_config_size_bytes: u64 = 1024 * 1024,
    /// Alertmanager: most template files in one configuration.
    alertmanager_max_templates_count: u64 = 100,
    /// Alertmanager: largest single template file, bytes.
    alertmanager_max_template_size_bytes: u64 = 256 * 1024,
    /// Alertmanager: most alerts held at once (firing and resolved, not yet expired).
    alertmanager_max_alerts_count: u64 = 10_000,
    /// Alertmanager: most bytes of alerts (labels and annotations) held at once.
    alertmanager_max_alerts_size_bytes: u64 = 16 * 1024 * 1024,
    /// Alertmanager: most silences (active and pending; expired ones do not count).
    alertmanager_max_silences_count: u64 = 1_000,
    /// Alertmanager: largest single silence (matchers and comment), bytes.
    alertmanager_max_silence_size_bytes: u64 = 64 * 1024,
    /// Alertmanager: most aggregation groups the dispatcher keeps.
    alertmanager_max_dispatcher_aggregation_groups: u64 = 1_000,
    /// Contact points per tenant.
    max_contact_points: u64 = 100,
    /// Data sources per tenant (the three every tenant starts with count).
    max_data_sources: u64 = 50,
    /// Tokens per tenant (revoked ones do not count).
    max_tokens: u64 = 100,
    /// Logs: live-tail connections open at once (Loki's default).
    max_concurrent_tail_requests: u64 = 10,
    /// Pushes: decompressed bytes of this tenant's push requests being decoded and
    /// written at once; more wait briefly, then are refused with 429.
    max_inflight_push_bytes: u64 = 64 * 1024 * 1024,
    /// OTLP metrics: resource attributes copied as labels onto every series of their
    /// resource (Mimir's name), besides the `target_info` series that carries them all.
    promote_otel_resource_attributes: Vec<String> = Vec::new(),
    /// OTLP logs: resource attributes that become stream labels (dots as `_`); every
    /// other attribute is kept as structured metadata. Loki 3's default list.
    otlp_log_stream_label_attributes: Vec<String> =
        DEFAULT_OTLP_STREAM_LABEL_ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
}

impl LimitOverrides {
    /// Rejects values no limit can take (negative or non-finite rates), naming the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("ingestion_rate", self.ingestion_rate),
            ("ingestion_rate_mb", self.ingestion_rate_mb),
            ("ingestion_burst_size_mb", self.ingestion_burst_size_mb),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("{name} must be a finite number >= 0, got {v}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_published_ones() {
        let d = TenantLimits::default();
        assert_eq!(d.ingestion_rate, 10_000.0);
        assert_eq!(d.ingestion_burst_size, 200_000);
        assert_eq!(d.max_global_series_per_user, 250_000);
        assert_eq!(d.max_global_series_per_metric, 25_000);
        assert_eq!(d.max_global_streams_per_user, 5_000);
        assert_eq!(d.max_line_size, 262_144);
        assert_eq!(d.ruler_max_rule_groups_per_tenant, 70);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["max_query_length"], "30d1h");
        assert_eq!(json["query_timeout"], "1m");
    }

    #[test]
    fn overrides_apply_only_what_they_name() {
        let o: LimitOverrides =
            serde_json::from_str(r#"{"ingestion_rate": 5, "max_query_length": "2h"}"#).unwrap();
        let mut l = TenantLimits::default();
        l.apply(&o);
        assert_eq!(l.ingestion_rate, 5.0);
        assert_eq!(l.max_query_length.0.as_secs(), 7200);
        assert_eq!(l.ingestion_burst_size, 200_000);
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"ingestion_rate":5.0,"max_query_length":"2h"}"#
        );
        let err = serde_json::from_str::<LimitOverrides>(r#"{"ingestion_rat": 5}"#).unwrap_err();
        assert!(err.to_string().contains("ingestion_rat"), "{err}");
        assert!(serde_json::from_str::<LimitOverrides>(r#"{"query_timeout": "soon"}"#).is_err());
        let bad: LimitOverrides = serde_json::from_str(r#"{"ingestion_rate": -1}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("ingestion_rate"));
    }
}
