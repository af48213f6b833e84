//! OTLP/HTTP ingest, end to end: metrics and logs in protobuf and JSON (gzip too) land
//! under the documented names and are read back by PromQL and LogQL; what is not stored
//! (delta sums) is counted in `partial_success`, named, and counted as
//! discarded; bad bodies and content types are refused with a `google.rpc.Status`,
//! storing nothing.

mod common;

use std::io::Write;

use common::{now_ms, now_ns, TestServer};
use pitot_otlp::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use pitot_otlp::proto::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use pitot_otlp::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use pitot_otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use pitot_otlp::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Exemplar, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use pitot_otlp::proto::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource(attributes: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn sum(name: &str, temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_string(),
        unit: "{request}".to_string(),
        description: format!("{name} help"),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn point(t_ms: i64, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: t_ms as u64 * 1_000_000,
        start_time_unix_nano: (t_ms - 60_000) as u64 * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// A counter (with an exemplar), a histogram and a delta sum from one service.
fn export(t: i64) -> ExportMetricsServiceRequest {
    let mut counter_point = point(t, 42.0, vec![kv("http.method", "GET")]);
    counter_point.exemplars.push(Exemplar {
        time_unix_nano: t as u64 * 1_000_000,
        value: Some(pitot_otlp::proto::metrics::v1::exemplar::Value::AsDouble(
            1.0,
        )),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    });
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(vec![
                kv("service.name", "checkout"),
                kv("service.instance.id", "pod-1"),
                kv("deployment.environment", "prod"),
            ]),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                metrics: vec![
                    sum(
                        "http.server.requests",
                        AggregationTemporality::Cumulative,
                        vec![counter_point],
                    ),
                    Metric {
                        name: "http.server.duration".into(),
                        unit: "s".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: t as u64 * 1_000_000,
                                count: 10,
                                sum: Some(4.0),
                                bucket_counts: vec![5, 4, 1],
                                explicit_bounds: vec![0.25, 1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    },
                    sum(
                        "bytes.sent",
                        AggregationTemporality::Delta,
                        vec![point(t, 5.0, vec![])],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    gzip: bool,
    body: Vec<u8>,
) -> reqwest::blocking::Response {
    let mut request = server.post(path).header("Content-Type", content_type);
    let body = if gzip {
        request = request.header("Content-Encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        body
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.body(body).send().expect("OTLP request")
}

fn instant(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let data = server.get_data(token, "/api/v1/query", &[("query", query)]);
    data["result"].as_array().expect("result").clone()
}

#[test]
fn otlp_metrics_land_under_prometheus_names_and_rejections_are_reported() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms() - 10_000;
    let response = post(
        &server,
        "/otlp/v1/metrics",
        Some(&token),
        "application/x-protobuf",
        false,
        export(t).encode_to_vec(),
    );
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let answer = ExportMetricsServiceResponse::decode(response.bytes().expect("body"))
        .expect("an ExportMetricsServiceResponse");
    let partial = answer.partial_success.expect("partial_success is set");
    assert_eq!(partial.rejected_data_points, 1, "{partial:?}");
    assert!(
        partial.error_message.contains("\"bytes.sent\"")
            && partial.error_message.contains("delta temporality")
            && !partial.error_message.contains("exemplar"),
        "{}",
        partial.error_message
    );
    // The counter's exemplar is stored with its series, trace and span IDs in hex.
    let (status, body) = server.get_json(
        &token,
        "/api/v1/query_exemplars",
        &[
            ("query", "http_server_requests_total"),
            ("start", "0"),
            ("end", "9999999999"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let found = &body["data"][0];
    assert_eq!(found["seriesLabels"]["job"], "checkout", "{body}");
    assert_eq!(
        found["exemplars"][0]["labels"]["trace_id"],
        "01".repeat(16),
        "{body}"
    );
    assert_eq!(
        found["exemplars"][0]["labels"]["span_id"],
        "02".repeat(8),
        "{body}"
    );
    assert_eq!(found["exemplars"][0]["value"], "1", "{body}");

    let counter = instant(&server, &token, "http_server_requests_total");
    assert_eq!(counter.len(), 1, "{counter:?}");
    assert_eq!(counter[0]["metric"]["job"], "checkout");
    assert_eq!(counter[0]["metric"]["instance"], "pod-1");
    assert_eq!(counter[0]["metric"]["http_method"], "GET");
    assert_eq!(counter[0]["value"][1], "42");
    let median = instant(
        &server,
        &token,
        "histogram_quantile(0.5, http_server_duration_seconds_bucket)",
    );
    assert_eq!(median[0]["value"][1], "0.25", "{median:?}");
    let count = instant(&server, &token, "http_server_duration_seconds_count");
    assert_eq!(count[0]["value"][1], "10");
    let info = instant(&server, &token, "target_info");
    assert_eq!(
        info[0]["metric"]["deployment_environment"], "prod",
        "{info:?}"
    );
    assert!(instant(&server, &token, "{__name__=~\"bytes_sent.*\"}").is_empty());

    let metadata = server.get_data(&token, "/api/v1/metadata", &[]);
    assert_eq!(
        metadata["http_server_requests_total"][0]["type"], "counter",
        "{metadata}"
    );
    assert_eq!(
        metadata["http_server_duration_seconds"][0]["type"],
        "histogram"
    );

    let text = server.metrics_text();
    let reason = "delta_temporality_unsupported";
    assert!(
        text.lines()
            .any(|l| l.starts_with("pitot_discarded_samples_total")
                && l.contains(reason)
                && l.ends_with(" 1")),
        "{reason} not counted as discarded:\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("pitot_discarded_samples_total") && l.contains("exemplar")),
        "no exemplar is counted as discarded:\n{text}"
    );
}

#[test]
fn otlp_json_and_gzip_on_every_metrics_path_and_promoted_attributes() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    server.put_limits(
        "default",
        &serde_json::json!({"promote_otel_resource_attributes": ["deployment.environment"]}),
    );
    let t = now_ms() - 10_000;
    for (i, (path, gzip)) in [
        ("/otlp/v1/metrics", true),
        ("/v1/metrics", false),
        ("/api/v1/otlp/v1/metrics", true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = export(t + i as i64 * 1000);
        request.resource_metrics[0].scope_metrics[0]
            .metrics
            .truncate(1);
        let body = serde_json::to_vec(&request).expect("JSON");
        let response = post(&server, path, Some(&token), "application/json", gzip, body);
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let answer: Value = response.json().expect("JSON answer");
        assert!(
            answer["partialSuccess"].is_null(),
            "{path}: nothing is rejected, the exemplar is stored: {answer}"
        );
    }
    let series = instant(
        &server,
        &token,
        "count_over_time(http_server_requests_total[1m])",
    );
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["value"][1], "3");
    assert_eq!(series[0]["metric"]["deployment_environment"], "prod");
}

#[test]
fn bad_otlp_requests_are_refused_with_a_status_and_store_nothing() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms() - 10_000;
    let good = export(t).encode_to_vec();

    let response = post(
        &server,
        "/otlp/v1/metrics",
        None,
        "application/x-protobuf",
        false,
        good.clone(),
    );
    assert_eq!(response.status().as_u16(), 401);

    let response = post(
        &server,
        "/otlp/v1/metrics",
        Some(&token),
        "text/plain",
        false,
        good.clone(),
    );
    assert_eq!(response.status().as_u16(), 415);
    let status: Value = response.json().expect("a JSON Status");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("application/x-protobuf"),
        "{status}"
    );

    let mut broken = good.clone();
    broken.truncate(good.len() / 2);
    let response = post(
        &server,
        "/otlp/v1/metrics",
        Some(&token),
        "application/x-protobuf",
        false,
        broken,
    );
    assert_eq!(response.status().as_u16(), 400);
    let status = pitot_otlp::wire::Status::decode(response.bytes().expect("body"))
        .expect("a protobuf google.rpc.Status");
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(
        status.message.contains("ExportMetricsServiceRequest"),
        "{}",
        status.message
    );

    let response = post(
        &server,
        "/v1/logs",
        Some(&token),
        "application/json",
        false,
        b"{\"resourceLogs\":[{\"scopeLogs\":7}]}".to_vec(),
    );
    assert_eq!(response.status().as_u16(), 400);
    let status: Value = response.json().expect("a JSON Status");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("ExportLogsServiceRequest"),
        "{status}"
    );

    let response = post(
        &server,
        "/otlp/v1/metrics",
        Some(&token),
        "application/x-protobuf",
        true,
        b"not gzip at all, not at all".to_vec(),
    );
    assert_eq!(response.status().as_u16(), 400);

    // A megabyte of empty nested messages decodes to hundreds of megabytes: it is
    // charged before it is decoded and refused as larger than the tenant's budget.
    let hostile = [0x0a, 0x00].repeat(512 * 1024);
    let response = post(
        &server,
        "/otlp/v1/metrics",
        Some(&token),
        "application/x-protobuf",
        false,
        hostile,
    );
    assert_eq!(response.status().as_u16(), 413);
    let status = pitot_otlp::wire::Status::decode(response.bytes().expect("body")).expect("Status");
    assert!(
        status.message.contains("max_inflight_push_bytes"),
        "{}",
        status.message
    );

    assert!(instant(&server, &token, "{__name__=~\".+\"}").is_empty());
}

fn log_export(t_ns: i64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(vec![
                kv("service.name", "checkout"),
                kv("k8s.namespace.name", "shop"),
                kv("host.name", "node-7"),
            ]),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "checkout.orders".into(),
                    ..Default::default()
                }),
                log_records: vec![
                    LogRecord {
                        time_unix_nano: t_ns as u64,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("order placed".into())),
                        }),
                        attributes: vec![kv("order.id", "17")],
                        trace_id: (1..=16).collect(),
                        span_id: (1..=8).collect(),
                        ..Default::default()
                    },
                    LogRecord {
                        time_unix_nano: t_ns as u64 + 1,
                        severity_text: "ERROR".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("payment failed".into())),
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn otlp_logs_land_as_loki_streams_with_structured_metadata() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ns() - 5_000_000_000;
    let response = post(
        &server,
        "/otlp/v1/logs",
        Some(&token),
        "application/x-protobuf",
        false,
        log_export(t).encode_to_vec(),
    );
    assert_eq!(response.status().as_u16(), 200);
    let answer =
        ExportLogsServiceResponse::decode(response.bytes().expect("body")).expect("response");
    assert!(answer.partial_success.is_none(), "{answer:?}");

    let lines = server.loki_lines(
        &token,
        "{service_name=\"checkout\", k8s_namespace_name=\"shop\"}",
        t - 1,
        100,
    );
    let texts: Vec<&str> = lines.iter().map(|(_, _, l)| l.as_str()).collect();
    assert_eq!(texts, ["order placed", "payment failed"], "{lines:?}");
    assert_eq!(lines[0].1, t);

    let traced = server.loki_lines(
        &token,
        "{service_name=\"checkout\"} | trace_id=\"0102030405060708090a0b0c0d0e0f10\" | host_name=\"node-7\" | order_id=\"17\" | severity_text=\"INFO\"",
        t - 1,
        100,
    );
    assert_eq!(traced.len(), 1, "structured metadata filters: {traced:?}");
    assert_eq!(traced[0].2, "order placed");
    assert_eq!(
        traced[0].0.get("span_id").map(String::as_str),
        Some("0102030405060708"),
        "{:?}",
        traced[0].0
    );

    // The same export as JSON on the other path, a second later.
    let body = serde_json::to_vec(&log_export(t + 1_000_000_000)).expect("JSON");
    let response = post(
        &server,
        "/v1/logs",
        Some(&token),
        "application/json",
        true,
        body,
    );
    assert_eq!(response.status().as_u16(), 200);
    let lines = server.loki_lines(&token, "{service_name=\"checkout\"}", t - 1, 100);
    assert_eq!(lines.len(), 4, "{lines:?}");
}
