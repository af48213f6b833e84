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
//!   and named, never dropped in silence; exemplars kept with the series they belong to.

use std::borrow::Cow;
use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::Exemplar as OtlpExemplar;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use pitot_proto::remote_write::{MetricMetadata, MetricType, SeriesEncoder};

use crate::names::{label_name_cow, metric_name, prometheus_unit, NameKind};
use crate::values::{attribute, value_str};

/// The per-tenant choices that shape the translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsOptions<'a> {
    /// Resource attributes copied as labels onto every series of their resource (Mimir's
    /// `promote_otel_resource_attributes`), besides `target_info`.
    pub promote_resource_attributes: &'a [String],
    /// The most bytes the encoded series may take (a histogram point becomes one series
    /// per bucket, each with all of its labels); beyond it the translation stops with
    /// [`OutputTooLarge`]. Zero for no bound.
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
    /// The series to store, encoded as a remote-write 1.0 request of series only
    /// (`pitot_proto::remote_write::encode_series_exact`'s form, every bit of every value).
    pub series: Vec<u8>,
    /// How many series [`series`](Self::series) holds (one sample each).
    pub series_count: usize,
    /// One metadata entry per metric.
    pub metadata: Vec<MetricMetadata>,
    /// Data points translated into [`series`](Self::series).
    pub points: u64,
    /// Data points not translated (each named in [`errors`](Self::errors)).
    pub rejected_points: u64,
    /// Why points were rejected, one line per metric and reason.
    pub errors: Vec<String>,
    /// Rejected points by reason ID ([`DELTA_TEMPORALITY`], [`EXPONENTIAL_HISTOGRAMS`],
    /// [`INVALID_POINT`]), for the discarded-samples counters.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Exemplars the request carried.
    pub exemplars: u64,
    /// The exemplars, each with the series it belongs to (a histogram's go to the
    /// bucket their value falls in, as Prometheus attaches them).
    pub exemplar_list: Vec<TranslatedExemplar>,
}

/// One exemplar of a data point, translated.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslatedExemplar {
    /// The series' labels, `__name__` included, sorted by name.
    pub series: Vec<(String, String)>,
    /// The exemplar's labels: its filtered attributes (names escaped as series label
    /// names), and `trace_id` and `span_id` in lowercase hex when set.
    pub labels: Vec<(String, String)>,
    /// The value observed.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// The labels of an OTLP exemplar.
fn exemplar_labels(e: &OtlpExemplar) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = attribute_labels(e.filtered_attributes.iter())
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if !e.trace_id.is_empty() {
        labels.push(("trace_id".into(), hex(&e.trace_id)));
    }
    if !e.span_id.is_empty() {
        labels.push(("span_id".into(), hex(&e.span_id)));
    }
    labels.sort();
    labels
}

/// The value of an OTLP exemplar (0 when unset, as the protocol's default).
fn exemplar_value(e: &OtlpExemplar) -> f64 {
    match e.value {
        Some(exemplar::Value::AsDouble(v)) => v,
        Some(exemplar::Value::AsInt(v)) => v as f64,
        None => 0.0,
    }
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

/// Labels sorted by name, borrowed from the request where they need no change.
type LabelSet<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Escaped attributes, sorted by label name; keys escaping to one name have their
/// values joined with `;` in the order of the original keys.
fn attribute_labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> LabelSet<'a> {
    let mut escaped: Vec<(Cow<'a, str>, Cow<'a, str>, &'a str)> = attributes
        .filter_map(|kv| {
            let value = value_str(kv.value.as_ref());
            (!value.is_empty()).then(|| (label_name_cow(&kv.key), value, kv.key.as_str()))
        })
        .collect();
    escaped.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(b.2)));
    let mut set: LabelSet<'a> = Vec::with_capacity(escaped.len());
    for (name, value, _) in escaped {
        match set.last_mut() {
            Some((last, joined)) if *last == name => {
                let joined = joined.to_mut();
                joined.push(';');
                joined.push_str(&value);
            }
            _ => set.push((name, value)),
        }
    }
    set
}

/// Sets `name` to `value` in a sorted set (replacing a label of that name).
fn put<'a>(set: &mut LabelSet<'a>, name: Cow<'a, str>, value: Cow<'a, str>) {
    match set.binary_search_by(|(k, _)| k.as_ref().cmp(name.as_ref())) {
        Ok(i) => set[i].1 = value,
        Err(i) => set.insert(i, (name, value)),
    }
}

/// The labels one resource puts on each of its series (`job`, `instance`, promoted
/// attributes), and the labels of its `target_info` series if it has any to carry.
struct ResourceLabels<'a> {
    common: LabelSet<'a>,
    target_info: Option<LabelSet<'a>>,
}

fn resource_labels<'a>(attributes: &'a [KeyValue], promote: &[String]) -> ResourceLabels<'a> {
    let text = |key| {
        attribute(attributes, key)
            .map(|v| value_str(Some(v)))
            .filter(|v| !v.is_empty())
    };
    let mut identity: LabelSet<'a> = Vec::new();
    if let Some(name) = text(SERVICE_NAME) {
        let job = match text(SERVICE_NAMESPACE) {
            Some(ns) => Cow::Owned(format!("{ns}/{name}")),
            None => name,
        };
        identity.push((Cow::Borrowed("job"), job));
    }
    if let Some(instance) = text(SERVICE_INSTANCE_ID) {
        identity.push((Cow::Borrowed("instance"), instance));
    }
    let mut common = attribute_labels(attributes.iter().filter(|kv| promote.contains(&kv.key)));
    for (k, v) in &identity {
        put(&mut common, k.clone(), v.clone());
    }
    let mut rest = attribute_labels(attributes.iter().filter(|kv| {
        ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str())
    }));
    let target_info = (!rest.is_empty()).then(|| {
        for (k, v) in identity {
            put(&mut rest, k, v);
        }
        rest
    });
    ResourceLabels {
        common,
        target_info,
    }
}

/// Builds the translation of one request.
struct Translator<'a> {
    out: MetricsTranslation,
    encoder: SeriesEncoder,
    options: MetricsOptions<'a>,
}

impl Translator<'_> {
    fn reject(&mut self, metric: &Metric, points: usize, reason: &'static str, why: &str) {
        self.out.rejected_points += points as u64;
        *self.out.rejected_by_reason.entry(reason).or_default() += points as u64;
        self.out.errors.push(format!(
            "metric {:?}: {points} data points rejected: {why}",
            metric.name
        ));
    }

    fn too_large(&self) -> bool {
        let limit = self.options.max_output_bytes;
        limit > 0 && self.encoder.len() > limit
    }

    /// Writes one series: `__name__`, then `labels` with `extra` (`le` or `quantile`)
    /// in its sorted place.
    fn series(
        &mut self,
        labels: &LabelSet<'_>,
        name: &str,
        extra: Option<(&str, &str)>,
        value: f64,
        ts_ms: i64,
    ) {
        if self.too_large() {
            return;
        }
        let sample = [(ts_ms, value)];
        let pairs = labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        let head = std::iter::once(("__name__", name));
        match extra {
            None => self
                .encoder
                .push(head.chain(pairs.filter(|(k, _)| *k != "__name__")), &sample),
            Some((extra_name, extra_value)) => {
                let split = labels.partition_point(|(k, _)| k.as_ref() < extra_name);
                let before = labels[..split]
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.as_ref()));
                let after = labels[split..]
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.as_ref()))
                    .filter(move |(k, _)| *k != extra_name);
                self.encoder.push(
                    head.chain(
                        before
                            .chain(std::iter::once((extra_name, extra_value)))
                            .chain(after)
                            .filter(|(k, _)| *k != "__name__"),
                    ),
                    &sample,
                );
            }
        }
    }

    /// Keeps `exemplars` for the series `labels` + `__name__=name` (+ `extra`).
    fn keep_exemplars<'e>(
        &mut self,
        labels: &LabelSet<'_>,
        name: &str,
        extra: Option<(&str, &str)>,
        exemplars: impl Iterator<Item = &'e OtlpExemplar>,
    ) {
        let mut series: Option<Vec<(String, String)>> = None;
        for e in exemplars {
            let series = series
                .get_or_insert_with(|| {
                    let mut pairs: Vec<(String, String)> = labels
                        .iter()
                        .filter(|(k, _)| k != "__name__" && extra.is_none_or(|(x, _)| k != x))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    pairs.push(("__name__".into(), name.into()));
                    if let Some((k, v)) = extra {
                        pairs.push((k.into(), v.into()));
                    }
                    pairs.sort();
                    pairs
                })
                .clone();
            self.out.exemplar_list.push(TranslatedExemplar {
                series,
                labels: exemplar_labels(e),
                value: exemplar_value(e),
                timestamp_ms: millis(e.time_unix_nano),
            });
        }
    }

    fn metadata(&mut self, metric: &Metric, name: &str, kind: MetricType, name_kind: NameKind) {
        self.out.metadata.push(MetricMetadata {
            r#type: kind as i32,
            metric_family_name: name.to_string(),
            help: metric.description.clone(),
            unit: prometheus_unit(&metric.unit, name_kind),
        });
    }

    fn point_labels<'p>(&self, common: &LabelSet<'p>, attributes: &'p [KeyValue]) -> LabelSet<'p> {
        let mut labels = attribute_labels(attributes.iter());
        for (k, v) in common {
            put(&mut labels, k.clone(), v.clone());
        }
        labels
    }

    fn numbers(
        &mut self,
        common: &LabelSet<'_>,
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
            self.series(&labels, &name, None, value, ts);
            self.keep_exemplars(&labels, &name, None, p.exemplars.iter());
        }
        latest
    }

    fn histograms(
        &mut self,
        common: &LabelSet<'_>,
        metric: &Metric,
        points: &[HistogramDataPoint],
    ) -> i64 {
        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
        self.metadata(metric, &name, MetricType::Histogram, NameKind::Other);
        let (sum_name, count_name, bucket_name) = (
            format!("{name}_sum"),
            format!("{name}_count"),
            format!("{name}_bucket"),
        );
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
            let labels = self.point_labels(common, &p.attributes);
            if let Some(sum) = p.sum {
                self.series(&labels, &sum_name, None, value(sum), ts);
            }
            self.series(&labels, &count_name, None, value(p.count as f64), ts);
            let mut cumulative = 0u64;
            for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                cumulative = cumulative.saturating_add(*count);
                let le = format_bound(*bound);
                self.series(
                    &labels,
                    &bucket_name,
                    Some(("le", &le)),
                    value(cumulative as f64),
                    ts,
                );
            }
            self.series(
                &labels,
                &bucket_name,
                Some(("le", "+Inf")),
                value(p.count as f64),
                ts,
            );
            // Each exemplar goes to the first bucket whose bound holds its value.
            for e in &p.exemplars {
                let v = exemplar_value(e);
                let le = p
                    .explicit_bounds
                    .iter()
                    .find(|&&bound| v <= bound)
                    .map_or_else(|| "+Inf".to_string(), |&b| format_bound(b));
                self.keep_exemplars(&labels, &bucket_name, Some(("le", &le)), std::iter::once(e));
            }
        }
        latest
    }

    fn summaries(
        &mut self,
        common: &LabelSet<'_>,
        metric: &Metric,
        points: &[SummaryDataPoint],
    ) -> i64 {
        let name = metric_name(&metric.name, &metric.unit, NameKind::Other);
        self.metadata(metric, &name, MetricType::Summary, NameKind::Other);
        let (sum_name, count_name) = (format!("{name}_sum"), format!("{name}_count"));
        let mut latest = i64::MIN;
        for p in points {
            let ts = millis(p.time_unix_nano);
            latest = latest.max(ts);
            let no_value = p.flags & NO_RECORDED_VALUE != 0;
            let value = |v: f64| if no_value { stale() } else { v };
            self.out.points += 1;
            let labels = self.point_labels(common, &p.attributes);
            self.series(&labels, &sum_name, None, value(p.sum), ts);
            self.series(&labels, &count_name, None, value(p.count as f64), ts);
            for q in &p.quantile_values {
                let quantile = format_bound(q.quantile);
                self.series(
                    &labels,
                    &name,
                    Some(("quantile", &quantile)),
                    value(q.value),
                    ts,
                );
            }
        }
        latest
    }

    /// Translates one metric; returns the latest timestamp of its points (for
    /// `target_info`), `i64::MIN` when none was translated.
    fn metric(&mut self, common: &LabelSet<'_>, metric: &Metric) -> i64 {
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
        encoder: SeriesEncoder::default(),
        options,
    };
    let too_large = OutputTooLarge {
        limit: options.max_output_bytes,
    };
    for rm in &request.resource_metrics {
        let attributes = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let resource = resource_labels(attributes, options.promote_resource_attributes);
        let mut latest = i64::MIN;
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                latest = latest.max(t.metric(&resource.common, metric));
                if t.too_large() {
                    return Err(too_large);
                }
            }
        }
        if let (Some(labels), true) = (&resource.target_info, latest != i64::MIN) {
            t.series(labels, "target_info", None, 1.0, latest);
            t.out.metadata.push(MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "target_info".to_string(),
                help: "Target metadata".to_string(),
                unit: String::new(),
            });
        }
    }
    if t.too_large() {
        return Err(too_large);
    }
    t.out.series_count = t.encoder.series();
    t.out.series = t.encoder.finish();
    Ok(t.out)
}
