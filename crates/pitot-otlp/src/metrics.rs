//! OTLP metrics translated to Prometheus series, as Prometheus' and Mimir's OTLP
//! receivers do by default:
//!
//! - names with unit and type suffixes ([`crate::names`]); attribute keys escaped to
//!   label names, values of keys that escape to the same name joined with `;`;
//! - `job` from `service.namespace`/`service.name`, `instance` from
//!   `service.instance.id`; the other resource attributes on one `target_info` series
//!   per resource, and the tenant's promoted ones on every series;
//! - monotonic cumulative sums as counters, gauges and non-monotonic cumulative sums as
//!   gauges, cumulative explicit-bucket histograms as classic `_bucket`/`_sum`/`_count`,
//!   summaries as `{quantile}`/`_sum`/`_count`; a point flagged "no recorded value" as
//!   the staleness marker;
//! - what Pitot does not store yet (delta temporality, exponential histograms) rejected
//!   and named, never dropped in silence; exemplars counted so the caller can report them.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use pitot_proto::remote_write::{
    Label, MetricMetadata, MetricType, Sample, TimeSeries, WriteRequest,
};

use crate::names::{label_name, metric_name, prometheus_unit, NameKind};
use crate::values::{attribute, value_text};

/// The per-tenant choices that shape the translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsOptions<'a> {
    /// Resource attributes copied as labels onto every series of their resource (Mimir's
    /// `promote_otel_resource_attributes`), besides `target_info`.
    pub promote_resource_attributes: &'a [String],
    /// The most bytes the translated series may take (estimated as they are built: a
    /// histogram point becomes one series per bucket, each with all of its labels);
    /// beyond it the translation stops with [`OutputTooLarge`]. Zero for no bound.
    pub max_output_bytes: usize,
}

/// The translated series would take more than [`MetricsOptions::max_output_bytes`].
#[derive(Debug, thiserror::Error)]
#[error("the request translates to more than {limit} bytes of series (histogram buckets and summary quantiles each repeat every label of their point); send smaller batches")]
pub struct OutputTooLarge {
    /// The bound that was reached.
    pub limit: usize,
}

/// The outcome of translating one export request.
#[derive(Debug, Default)]
pub struct MetricsTranslation {
    /// The series to store, with one metadata entry per metric.
    pub request: WriteRequest,
    /// Data points translated into [`request`](Self::request).
    pub points: u64,
    /// Data points not translated (each named in [`errors`](Self::errors)).
    pub rejected_points: u64,
    /// Why points were rejected, one line per metric and reason.
    pub errors: Vec<String>,
    /// Rejected points by reason ID ([`DELTA_TEMPORALITY`], [`EXPONENTIAL_HISTOGRAMS`],
    /// [`INVALID_POINT`]), for the discarded-samples counters.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Exemplars the request carried (not stored by this translation).
    pub exemplars: u64,
}

/// Reason ID: a sum or histogram with delta temporality (not stored yet).
pub const DELTA_TEMPORALITY: &str = "delta_temporality_unsupported";
/// Reason ID: an exponential histogram (Pitot has no native histograms yet); the same
/// ID as remote write's native histograms.
pub const EXPONENTIAL_HISTOGRAMS: &str = "native_histograms_unsupported";
/// Reason ID: a data point that cannot be translated (no value, buckets that do not
/// match the bounds, no temporality).
pub const INVALID_POINT: &str = "invalid_otlp_data_point";

/// The bit pattern of Prometheus' staleness marker as an `f64`.
fn stale() -> f64 {
    f64::from_bits(pitot_core::STALE_NAN)
}

/// Bit 0 of a data point's flags: the point has no recorded value.
const NO_RECORDED_VALUE: u32 = 1;

/// Resource attributes that become `job` and `instance` rather than `target_info` labels.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// Adds escaped attributes to `labels`; keys escaping to one name have their values
/// joined with `;` in the order of the original keys.
fn add_attributes(labels: &mut BTreeMap<String, String>, attributes: &[KeyValue]) {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut mine: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let value = value_text(kv.value.as_ref());
        if value.is_empty() {
            continue;
        }
        mine.entry(label_name(&kv.key))
            .and_modify(|v| {
                v.push(';');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    labels.extend(mine);
}

/// The labels one resource puts on each of its series (`job`, `instance`, promoted
/// attributes), and the labels of its `target_info` series if it has any to carry.
struct ResourceLabels {
    common: BTreeMap<String, String>,
    target_info: Option<BTreeMap<String, String>>,
}

fn resource_labels(attributes: &[KeyValue], promote: &[String]) -> ResourceLabels {
    let text = |key| {
        attribute(attributes, key)
            .map(|v| value_text(Some(v)))
            .filter(|v| !v.is_empty())
    };
    let mut identity = BTreeMap::new();
    if let Some(name) = text(SERVICE_NAME) {
        let job = match text(SERVICE_NAMESPACE) {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        };
        identity.insert("job".to_string(), job);
    }
    if let Some(instance) = text(SERVICE_INSTANCE_ID) {
        identity.insert("instance".to_string(), instance);
    }
    let promoted: Vec<KeyValue> = attributes
        .iter()
        .filter(|kv| promote.contains(&kv.key))
        .cloned()
        .collect();
    let mut common = BTreeMap::new();
    add_attributes(&mut common, &promoted);
    common.extend(identity.clone());
    let rest: Vec<KeyValue> = attributes
        .iter()
        .filter(|kv| {
            ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str())
        })
        .cloned()
        .collect();
    let target_info = (!rest.is_empty()).then(|| {
        let mut labels = BTreeMap::new();
        add_attributes(&mut labels, &rest);
        labels.extend(identity);
        labels
    });
    ResourceLabels {
        common,
        target_info,
    }
}

/// Builds the translation of one request.
struct Translator<'a> {
    out: MetricsTranslation,
    options: MetricsOptions<'a>,
    /// Estimated bytes of the series built so far.
    output_bytes: usize,
}

/// Estimated bytes of one translated series besides its label text (the series, its
/// sample, vector headers) and of one label besides its text.
const SERIES_BYTES: usize = 96;
const LABEL_BYTES: usize = 48;

impl Translator<'_> {
    fn reject(&mut self, metric: &Metric, points: usize, reason: &'static str, why: &str) {
        self.out.rejected_points += points as u64;
        *self.out.rejected_by_reason.entry(reason).or_default() += points as u64;
        self.out.errors.push(format!(
            "metric {:?}: {points} data points rejected: {why}",
            metric.name
        ));
    }

    fn series(&mut self, labels: &BTreeMap<String, String>, name: String, value: f64, ts_ms: i64) {
        let limit = self.options.max_output_bytes;
        if limit > 0 {
            let bytes = SERIES_BYTES
                + LABEL_BYTES
                + name.len()
                + labels
                    .iter()
                    .map(|(k, v)| LABEL_BYTES + k.len() + v.len())
                    .sum::<usize>();
            self.output_bytes = self.output_bytes.saturating_add(bytes);
            if self.output_bytes > limit {
                return;
            }
        }
        let mut out = Vec::with_capacity(labels.len() + 1);
        out.push(Label {
            name: "__name__".to_string(),
            value: name,
        });
        out.extend(
            labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                }),
        );
        self.out.request.timeseries.push(TimeSeries {
            labels: out,
            samples: vec![Sample {
                value,
                timestamp: ts_ms,
            }],
            exemplars: Vec::new(),
        });
    }

    fn metadata(&mut self, metric: &Metric, name: &str, kind: MetricType, name_kind: NameKind) {
        self.out.request.metadata.push(MetricMetadata {
            r#type: kind as i32,
            metric_family_name: name.to_string(),
            help: metric.description.clone(),
            unit: prometheus_unit(&metric.unit, name_kind),
        });
    }

    fn point_labels(
        &self,
        common: &BTreeMap<String, String>,
        attributes: &[KeyValue],
    ) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        add_attributes(&mut labels, attributes);
        labels.extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }

    fn numbers(
        &mut self,
        common: &BTreeMap<String, String>,
        metric: &Metric,
        points: &[NumberDataPoint],
        kind: NameKind,
    ) -> i64 {
        let name = metric_name(&metric.name, &metric.unit, kind);
        let meta = if kind == NameKind::Counter {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        self.metadata(metric, &name, meta, kind);
        let mut latest = i64::MIN;
        for p in points {
            let value = if p.flags & NO_RECORDED_VALUE != 0 {
                stale()
            } else {
                match p.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    None => {
                        self.reject(metric, 1, INVALID_POINT, "the data point has no value");
                        continue;
                    }
                }
            };
            let ts = millis(p.time_unix_nano);
            latest = latest.max(ts);
            self.out.exemplars += p.exemplars.len() as u64;
            self.out.points += 1;
            let labels = self.point_labels(common, &p.attributes);
            self.series(&labels, name.clone(), value, ts);
        }
        latest
    }

    fn histograms(
        &mut self,
        common: &BTreeMap<String, String>,
        metric: &Metric,
        points: &[HistogramDataPoint],
    ) -> i64 {
        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
        self.metadata(metric, &name, MetricType::Histogram, NameKind::Other);
        let mut latest = i64::MIN;
        for p in points {
            if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                self.reject(
                    metric,
                    1,
                    INVALID_POINT,
                    &format!(
                        "{} bucket counts for {} explicit bounds (there must be one more count than bounds)",
                        p.bucket_counts.len(),
                        p.explicit_bounds.len()
                    ),
                );
                continue;
            }
            let ts = millis(p.time_unix_nano);
            latest = latest.max(ts);
            let no_value = p.flags & NO_RECORDED_VALUE != 0;
            let value = |v: f64| if no_value { stale() } else { v };
            self.out.exemplars += p.exemplars.len() as u64;
            self.out.points += 1;
            let mut labels = self.point_labels(common, &p.attributes);
            if let Some(sum) = p.sum {
                self.series(&labels, format!("{name}_sum"), value(sum), ts);
            }
            self.series(&labels, format!("{name}_count"), value(p.count as f64), ts);
            let mut cumulative = 0u64;
            for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                cumulative = cumulative.saturating_add(*count);
                labels.insert("le".to_string(), format_bound(*bound));
                self.series(
                    &labels,
                    format!("{name}_bucket"),
                    value(cumulative as f64),
                    ts,
                );
            }
            labels.insert("le".to_string(), "+Inf".to_string());
            self.series(&labels, format!("{name}_bucket"), value(p.count as f64), ts);
        }
        latest
    }

    fn summaries(
        &mut self,
        common: &BTreeMap<String, String>,
        metric: &Metric,
        points: &[SummaryDataPoint],
    ) -> i64 {
        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
        self.metadata(metric, &name, MetricType::Summary, NameKind::Other);
        let mut latest = i64::MIN;
        for p in points {
            let ts = millis(p.time_unix_nano);
            latest = latest.max(ts);
            let no_value = p.flags & NO_RECORDED_VALUE != 0;
            let value = |v: f64| if no_value { stale() } else { v };
            self.out.points += 1;
            let mut labels = self.point_labels(common, &p.attributes);
            self.series(&labels, format!("{name}_sum"), value(p.sum), ts);
            self.series(&labels, format!("{name}_count"), value(p.count as f64), ts);
            for q in &p.quantile_values {
                labels.insert("quantile".to_string(), format_bound(q.quantile));
                self.series(&labels, name.clone(), value(q.value), ts);
            }
        }
        latest
    }

    /// Translates one metric; returns the latest timestamp of its points (for
    /// `target_info`), `i64::MIN` when none was translated.
    fn metric(&mut self, common: &BTreeMap<String, String>, metric: &Metric) -> i64 {
        const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
        const DELTA: i32 = AggregationTemporality::Delta as i32;
        let temporality_problem = |t: i32| {
            match t {
            DELTA => (DELTA_TEMPORALITY, "delta temporality is not stored yet; configure the exporter (or the Collector's deltatocumulative processor) for cumulative temporality"),
            _ => (INVALID_POINT, "the aggregation temporality is unspecified"),
        }
        };
        match &metric.data {
            None => {
                self.reject(metric, 0, INVALID_POINT, "the metric has no data");
                i64::MIN
            }
            Some(Data::Gauge(g)) => self.numbers(common, metric, &g.data_points, NameKind::Gauge),
            Some(Data::Sum(s)) if s.aggregation_temporality == CUMULATIVE => {
                let kind = if s.is_monotonic {
                    NameKind::Counter
                } else {
                    NameKind::UpDownSum
                };
                self.numbers(common, metric, &s.data_points, kind)
            }
            Some(Data::Sum(s)) => {
                let (reason, why) = temporality_problem(s.aggregation_temporality);
                self.reject(metric, s.data_points.len(), reason, why);
                i64::MIN
            }
            Some(Data::Histogram(h)) if h.aggregation_temporality == CUMULATIVE => {
                self.histograms(common, metric, &h.data_points)
            }
            Some(Data::Histogram(h)) => {
                let (reason, why) = temporality_problem(h.aggregation_temporality);
                self.reject(metric, h.data_points.len(), reason, why);
                i64::MIN
            }
            Some(Data::ExponentialHistogram(h)) => {
                self.reject(
                    metric,
                    h.data_points.len(),
                    EXPONENTIAL_HISTOGRAMS,
                    "exponential histograms are not stored yet (Pitot has no native histograms); configure the SDK's view or exporter for explicit-bucket histograms",
                );
                i64::MIN
            }
            Some(Data::Summary(s)) => self.summaries(common, metric, &s.data_points),
        }
    }
}

/// A bucket bound or quantile as Prometheus writes it in `le` and `quantile`.
fn format_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        v.to_string()
    }
}

/// Unix nanoseconds to milliseconds.
fn millis(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

/// Translates an export request into Prometheus series and metadata.
pub fn translate_metrics(
    request: &ExportMetricsServiceRequest,
    options: MetricsOptions<'_>,
) -> Result<MetricsTranslation, OutputTooLarge> {
    let mut t = Translator {
        out: MetricsTranslation::default(),
        options,
        output_bytes: 0,
    };
    let too_large = |t: &Translator<'_>| {
        let limit = t.options.max_output_bytes;
        (limit > 0 && t.output_bytes > limit).then_some(OutputTooLarge { limit })
    };
    for rm in &request.resource_metrics {
        let attributes = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let resource = resource_labels(attributes, t.options.promote_resource_attributes);
        let mut latest = i64::MIN;
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                latest = latest.max(t.metric(&resource.common, metric));
                if let Some(e) = too_large(&t) {
                    return Err(e);
                }
            }
        }
        if let (Some(labels), true) = (&resource.target_info, latest != i64::MIN) {
            t.series(labels, "target_info".to_string(), 1.0, latest);
            t.out.request.metadata.push(MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "target_info".to_string(),
                help: "Target metadata".to_string(),
                unit: String::new(),
            });
        }
    }
    match too_large(&t) {
        Some(e) => Err(e),
        None => Ok(t.out),
    }
}
