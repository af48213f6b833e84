//! The translation of OTLP exports into Prometheus series and Loki streams.

use pitot_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use pitot_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use pitot_otlp::{
    decode_logs, decode_metrics, translate_logs, translate_metrics, Encoding, LogsOptions,
    MetricsOptions,
};
use pitot_proto::loki_push::StreamLabels;
use pitot_proto::remote_write::WriteRequest;

/// The translated series, decoded.
fn series(out: &pitot_otlp::MetricsTranslation) -> WriteRequest {
    prost::Message::decode(out.series.as_slice()).expect("the series decode")
}

/// Series as `name{a="b",...} value@ts` lines, sorted, for whole-answer comparisons.
fn lines(request: &WriteRequest) -> Vec<String> {
    let mut out: Vec<String> = request
        .timeseries
        .iter()
        .flat_map(|ts| {
            let name = ts
                .labels
                .iter()
                .find(|l| l.name == "__name__")
                .map_or("", |l| l.value.as_str());
            let labels: Vec<String> = ts
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| format!("{}={:?}", l.name, l.value))
                .collect();
            ts.samples
                .iter()
                .map(move |s| format!("{name}{{{}}} {}@{}", labels.join(","), s.value, s.timestamp))
        })
        .collect();
    out.sort();
    out
}

/// An export as the OpenTelemetry Collector's JSON would carry it: a counter, an
/// up-down counter, a gauge, a histogram, a summary, a delta sum and an exponential
/// histogram, from one resource.
const METRICS_JSON: &str = r#"{"resourceMetrics":[{
  "resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"checkout"}},
    {"key":"service.namespace","value":{"stringValue":"shop"}},
    {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
    {"key":"deployment.environment","value":{"stringValue":"prod"}},
    {"key":"host.name","value":{"stringValue":"node-7"}}]},
  "scopeMetrics":[{"scope":{"name":"app"},"metrics":[
    {"name":"http.server.requests","unit":"{request}","description":"Requests served",
     "sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
       {"attributes":[{"key":"http.method","value":{"stringValue":"GET"}},{"key":"http.status_code","value":{"intValue":"200"}}],
        "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000060000000000","asInt":"42",
        "exemplars":[{"timeUnixNano":"1700000059000000000","asDouble":1,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}},
    {"name":"queue.depth","unit":"1",
     "sum":{"aggregationTemporality":2,"isMonotonic":false,"dataPoints":[{"timeUnixNano":"1700000060000000000","asInt":"-3"}]}},
    {"name":"cpu.utilization","unit":"1",
     "gauge":{"dataPoints":[{"timeUnixNano":"1700000060000000000","asDouble":0.25}]}},
    {"name":"http.server.duration","unit":"ms",
     "histogram":{"aggregationTemporality":2,"dataPoints":[
       {"timeUnixNano":"1700000060000000000","count":"6","sum":123.5,"bucketCounts":["1","2","3"],"explicitBounds":[10,100]}]}},
    {"name":"rpc.latency","unit":"s",
     "summary":{"dataPoints":[{"timeUnixNano":"1700000060000000000","count":"4","sum":2.0,
       "quantileValues":[{"quantile":0.5,"value":0.4},{"quantile":0.99,"value":0.9}]}]}},
    {"name":"bytes.sent","unit":"By",
     "sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000060000000000","asInt":"5"},{"timeUnixNano":"1700000061000000000","asInt":"6"}]}},
    {"name":"payload.size","unit":"By",
     "exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"1700000060000000000","count":"1","scale":2}]}}
  ]}]}]}"#;

#[test]
fn metrics_are_translated_as_prometheus_does() {
    let request: ExportMetricsServiceRequest =
        decode_metrics(METRICS_JSON.as_bytes(), Encoding::Json).expect("decodes");
    let out = translate_metrics(&request, MetricsOptions::default()).expect("within bounds");
    let id = r#"instance="pod-1",job="shop/checkout""#;
    let expected = vec![
        format!(r#"cpu_utilization_ratio{{{id}}} 0.25@1700000060000"#),
        format!(r#"http_server_duration_milliseconds_bucket{{{id},le="+Inf"}} 6@1700000060000"#),
        format!(r#"http_server_duration_milliseconds_bucket{{{id},le="10"}} 1@1700000060000"#),
        format!(r#"http_server_duration_milliseconds_bucket{{{id},le="100"}} 3@1700000060000"#),
        format!(r#"http_server_duration_milliseconds_count{{{id}}} 6@1700000060000"#),
        format!(r#"http_server_duration_milliseconds_sum{{{id}}} 123.5@1700000060000"#),
        format!(
            r#"http_server_requests_total{{http_method="GET",http_status_code="200",{id}}} 42@1700000060000"#
        ),
        format!(r#"queue_depth{{{id}}} -3@1700000060000"#),
        format!(r#"rpc_latency_seconds_count{{{id}}} 4@1700000060000"#),
        format!(r#"rpc_latency_seconds_sum{{{id}}} 2@1700000060000"#),
        format!(r#"rpc_latency_seconds{{{id},quantile="0.5"}} 0.4@1700000060000"#),
        format!(r#"rpc_latency_seconds{{{id},quantile="0.99"}} 0.9@1700000060000"#),
        format!(
            r#"target_info{{deployment_environment="prod",host_name="node-7",{id}}} 1@1700000060000"#
        ),
    ];
    assert_eq!(lines(&series(&out)), expected);
    assert_eq!(out.series_count, expected.len());
    assert_eq!(out.points, 5);
    assert_eq!(out.rejected_points, 3, "{:?}", out.errors);
    assert_eq!(out.exemplars, 1);
    assert!(
        out.errors
            .iter()
            .any(|e| e.contains("\"bytes.sent\"") && e.contains("delta temporality")),
        "{:?}",
        out.errors
    );
    assert!(
        out.errors
            .iter()
            .any(|e| e.contains("\"payload.size\"") && e.contains("exponential histograms")),
        "{:?}",
        out.errors
    );
    let counter = out
        .metadata
        .iter()
        .find(|m| m.metric_family_name == "http_server_requests_total")
        .expect("metadata");
    assert_eq!(counter.help, "Requests served");
    let histogram = out
        .metadata
        .iter()
        .find(|m| m.metric_family_name == "http_server_duration_milliseconds")
        .expect("metadata");
    assert_eq!(histogram.unit, "milliseconds");
}

#[test]
fn promoted_resource_attributes_label_every_series_and_protobuf_decodes_the_same() {
    let request: ExportMetricsServiceRequest =
        decode_metrics(METRICS_JSON.as_bytes(), Encoding::Json).expect("decodes");
    let promote = vec!["deployment.environment".to_string()];
    let out = translate_metrics(
        &request,
        MetricsOptions {
            promote_resource_attributes: &promote,
            max_output_bytes: 0,
        },
    )
    .expect("within bounds");
    for ts in &series(&out).timeseries {
        assert!(
            ts.labels
                .iter()
                .any(|l| l.name == "deployment_environment" && l.value == "prod"),
            "{ts:?}"
        );
    }
    let binary = prost::Message::encode_to_vec(&request);
    let again = decode_metrics(&binary, Encoding::Protobuf).expect("protobuf decodes");
    assert_eq!(again, request);
}

#[test]
fn no_recorded_value_is_the_staleness_marker_and_colliding_keys_are_joined() {
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[
        {"timeUnixNano":"2000000","flags":1,"asDouble":3,"attributes":[{"key":"a.b","value":{"stringValue":"1"}},{"key":"a_b","value":{"stringValue":"2"}}]}]}}]}]}]}"#;
    let request = decode_metrics(json.as_bytes(), Encoding::Json).expect("decodes");
    let out = translate_metrics(&request, MetricsOptions::default()).expect("within bounds");
    assert_eq!(
        series(&out).timeseries.len(),
        1,
        "no target_info without resource attributes"
    );
    let decoded = series(&out);
    let ts = &decoded.timeseries[0];
    assert!(pitot_core::is_stale_nan(ts.samples[0].value));
    assert_eq!(ts.samples[0].timestamp, 2);
    let ab = ts.labels.iter().find(|l| l.name == "a_b").expect("a_b");
    assert_eq!(ab.value, "1;2");
}

#[test]
fn malformed_bodies_are_errors_naming_the_message() {
    let e = decode_metrics(b"\xff\xff\xff", Encoding::Protobuf).unwrap_err();
    assert!(e.to_string().contains("ExportMetricsServiceRequest"), "{e}");
    let e = decode_logs(b"{\"resourceLogs\": 3}", Encoding::Json).unwrap_err();
    assert!(e.to_string().contains("ExportLogsServiceRequest"), "{e}");
    assert_eq!(e.reason(), "otlp_invalid_json");
    let e = Encoding::from_content_type(Some("text/plain")).unwrap_err();
    assert_eq!(e.reason(), "otlp_unsupported_content_type");
    assert_eq!(
        Encoding::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
        Encoding::Json
    );
}

#[test]
fn logs_are_translated_as_loki_does() {
    let json = r#"{"resourceLogs":[{
      "resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"k8s.pod.name","value":{"stringValue":"pod-1"}},
        {"key":"host.name","value":{"stringValue":"node-7"}}]},
      "scopeLogs":[{"scope":{"name":"app.logger","version":"1.2"},"logRecords":[
        {"timeUnixNano":"1700000000000000001","observedTimeUnixNano":"1700000000000000009","severityNumber":9,"severityText":"INFO",
         "body":{"stringValue":"order placed"},
         "attributes":[{"key":"order.id","value":{"intValue":"17"}}],
         "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},
        {"body":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}
      ]}]}]}"#;
    let request: ExportLogsServiceRequest =
        decode_logs(json.as_bytes(), Encoding::Json).expect("decodes");
    let labels = pitot_limits::TenantLimits::default().otlp_log_stream_label_attributes;
    let out = translate_logs(
        &request,
        LogsOptions {
            stream_label_attributes: &labels,
        },
        5,
    );
    assert_eq!(out.records, 2);
    assert_eq!(out.streams.len(), 1);
    let stream = &out.streams[0];
    assert_eq!(
        stream.labels,
        StreamLabels::Pairs(vec![
            ("k8s_pod_name".to_string(), "pod-1".to_string()),
            ("service_name".to_string(), "checkout".to_string())
        ])
    );
    let first = &stream.entries[0];
    assert_eq!(first.ts, 1_700_000_000_000_000_001);
    assert_eq!(first.line, "order placed");
    let meta: std::collections::BTreeMap<&str, &str> = first
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(meta.get("host_name"), Some(&"node-7"));
    assert_eq!(meta.get("scope_name"), Some(&"app.logger"));
    assert_eq!(meta.get("scope_version"), Some(&"1.2"));
    assert_eq!(meta.get("order_id"), Some(&"17"));
    assert_eq!(meta.get("severity_text"), Some(&"INFO"));
    assert_eq!(meta.get("severity_number"), Some(&"9"));
    assert_eq!(
        meta.get("trace_id"),
        Some(&"5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(meta.get("span_id"), Some(&"eee19b7ec3c1b174"));
    assert_eq!(meta.get("observed_timestamp"), Some(&"1700000000000000009"));
    let second = &stream.entries[1];
    assert_eq!(second.ts, 5, "no time at all: now");
    assert_eq!(second.line, r#"{"k":"v"}"#);
}

#[test]
fn the_translated_size_is_bounded() {
    let request = decode_metrics(METRICS_JSON.as_bytes(), Encoding::Json).expect("decodes");
    let options = |max_output_bytes| MetricsOptions {
        promote_resource_attributes: &[],
        max_output_bytes,
    };
    let e = translate_metrics(&request, options(1000)).unwrap_err();
    assert_eq!(e.limit, 1000);
    assert!(e.to_string().contains("send smaller batches"), "{e}");
    assert!(translate_metrics(&request, options(1 << 20)).is_ok());
}
