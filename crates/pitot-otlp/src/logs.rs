//! OTLP logs translated to Loki streams, as Loki 3's OTLP endpoint does by default:
//! a list of resource attributes (`service.name`, `k8s.*`, ...) become the stream
//! labels, with `.` and other characters escaped to `_`; every other resource, scope
//! and log attribute, the trace context, the severity and the observed time become
//! structured metadata; the body is the line.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use pitot_proto::loki_push::{PushEntry, PushStream, StreamLabels};

use crate::names::label_name;
use crate::values::value_text;

/// The per-tenant choices that shape the translation.
#[derive(Debug, Clone, Copy)]
pub struct LogsOptions<'a> {
    /// Resource attributes that become stream labels (the rest is structured metadata).
    pub stream_label_attributes: &'a [String],
}

/// The outcome of translating one export request.
#[derive(Debug, Default)]
pub struct LogsTranslation {
    /// The streams to store, in the form a Loki push decodes to.
    pub streams: Vec<PushStream>,
    /// Log records translated.
    pub records: u64,
}

/// Adds escaped attributes to structured metadata, in the order sent.
fn add_metadata(out: &mut Vec<(String, String)>, attributes: &[KeyValue]) {
    for kv in attributes {
        let value = value_text(kv.value.as_ref());
        if !value.is_empty() {
            out.push((label_name(&kv.key), value));
        }
    }
}

/// The entry of one log record; `scope` is the scope's and resource's metadata.
fn entry(record: &LogRecord, scope: &[(String, String)], now_ns: i64) -> PushEntry {
    let ts = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => now_ns,
        (0, observed) => observed.min(i64::MAX as u64) as i64,
        (t, _) => t.min(i64::MAX as u64) as i64,
    };
    let mut metadata = scope.to_vec();
    add_metadata(&mut metadata, &record.attributes);
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            metadata.push((k.to_string(), v));
        }
    };
    if record.observed_time_unix_nano != 0 {
        put(
            "observed_timestamp",
            record.observed_time_unix_nano.to_string(),
        );
    }
    put("severity_text", record.severity_text.clone());
    if record.severity_number != 0 {
        put("severity_number", record.severity_number.to_string());
    }
    if !record.trace_id.iter().all(|b| *b == 0) {
        put("trace_id", hex::encode(&record.trace_id));
    }
    if !record.span_id.iter().all(|b| *b == 0) {
        put("span_id", hex::encode(&record.span_id));
    }
    if record.flags != 0 {
        put("flags", record.flags.to_string());
    }
    put("event_name", record.event_name.clone());
    PushEntry {
        ts,
        line: value_text(record.body.as_ref()),
        metadata,
    }
}

/// Translates an export request into Loki streams; `now_ns` stamps records that carry
/// neither a time nor an observed time.
pub fn translate_logs(
    request: &ExportLogsServiceRequest,
    options: LogsOptions<'_>,
    now_ns: i64,
) -> LogsTranslation {
    let mut streams: BTreeMap<Vec<(String, String)>, Vec<PushEntry>> = BTreeMap::new();
    let mut records = 0u64;
    for rl in &request.resource_logs {
        let attributes = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_metadata = Vec::new();
        for kv in attributes {
            let value = value_text(kv.value.as_ref());
            if value.is_empty() {
                continue;
            }
            if options.stream_label_attributes.contains(&kv.key) {
                labels.insert(label_name(&kv.key), value);
            } else {
                resource_metadata.push((label_name(&kv.key), value));
            }
        }
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        for sl in &rl.scope_logs {
            let mut scope_metadata = resource_metadata.clone();
            if let Some(scope) = &sl.scope {
                add_metadata(&mut scope_metadata, &scope.attributes);
                if !scope.name.is_empty() {
                    scope_metadata.push(("scope_name".to_string(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_metadata.push(("scope_version".to_string(), scope.version.clone()));
                }
            }
            let entries = streams.entry(labels.clone()).or_default();
            for record in &sl.log_records {
                records += 1;
                entries.push(entry(record, &scope_metadata, now_ns));
            }
        }
    }
    LogsTranslation {
        streams: streams
            .into_iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(labels, entries)| PushStream {
                labels: StreamLabels::Pairs(labels),
                entries,
            })
            .collect(),
        records,
    }
}
