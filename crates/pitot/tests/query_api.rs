//! The Prometheus query API end to end: instant and range queries over pushed data,
//! the exact JSON shapes, error types, and scopes.

mod common;

use common::{now_ms, series, write_request, TestServer};

#[test]
fn instant_and_range_queries_answer_in_prometheus_format() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    // Two counters at 15 s over 5 minutes, ending on a whole second so timestamps align.
    let end = (now_ms() / 60_000 - 1) * 60_000;
    let start = end - 300_000;
    let points = |slope: f64| -> Vec<(i64, f64)> {
        (0..=20)
            .map(|i| (start + i * 15_000, slope * i as f64))
            .collect()
    };
    let (status, body) = server.push(
        &token,
        &write_request(vec![
            series(
                &[("__name__", "req_total"), ("job", "api"), ("instance", "a")],
                &points(15.0),
            ),
            series(
                &[("__name__", "req_total"), ("job", "api"), ("instance", "b")],
                &points(30.0),
            ),
        ]),
    );
    assert_eq!(status, 204, "{body}");

    let t = (end / 1000).to_string();
    let data = server.get_data(
        &token,
        "/api/v1/query",
        &[
            ("query", "sum by (job) (rate(req_total[2m]))"),
            ("time", &t),
        ],
    );
    assert_eq!(data["resultType"], "vector");
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["metric"], serde_json::json!({"job": "api"}));
    // 1/s + 2/s: evenly spaced counters have an exact rate.
    assert_eq!(result[0]["value"][0], serde_json::json!(end / 1000));
    let rate: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((rate - 3.0).abs() < 1e-9, "rate {rate}");

    let (s, e) = ((start / 1000).to_string(), (end / 1000).to_string());
    let data = server.get_data(
        &token,
        "/prometheus/api/v1/query_range",
        &[
            ("query", "req_total{instance=\"a\"}"),
            ("start", &s),
            ("end", &e),
            ("step", "1m"),
        ],
    );
    assert_eq!(data["resultType"], "matrix");
    let values = data["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 6);
    assert_eq!(values[0], serde_json::json!([start / 1000, "0"]));
    assert_eq!(values[5], serde_json::json!([end / 1000, "300"]));

    let data = server.get_data(&token, "/api/v1/query", &[("query", "1/0"), ("time", &t)]);
    assert_eq!(data["resultType"], "scalar");
    assert_eq!(data["result"][1], "+Inf");

    // Errors: bad syntax is bad_data/400, a missing step too; a write-only token is refused.
    let (status, body) = server.get_json(&token, "/api/v1/query", &[("query", "sum(")]);
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );
    let (status, body) = server.get_json(
        &token,
        "/api/v1/query_range",
        &[("query", "up"), ("start", &s), ("end", &e)],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("step"), "{body}");
    let (status, created) = server.post_json(
        &server.platform_token,
        "/api/pitot/v1/tokens",
        None,
        &serde_json::json!({"tenant": "default", "scopes": ["metrics:write"]}),
    );
    assert_eq!(status, 201, "{created}");
    let writer = created["token"].as_str().unwrap();
    let (status, _) = server.get_json(writer, "/api/v1/query", &[("query", "up")]);
    assert_eq!(status, 403);

    // Metadata sent with remote write is served by /api/v1/metadata.
    let mut with_metadata = write_request(vec![]);
    with_metadata
        .metadata
        .push(pitot_proto::remote_write::MetricMetadata {
            r#type: pitot_proto::remote_write::MetricType::Counter as i32,
            metric_family_name: "req_total".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        });
    let (status, body) = server.push_raw(
        Some(&token),
        pitot_proto::remote_write::encode_write_request(&with_metadata),
    );
    assert_eq!(status, 204, "{body}");
    let data = server.get_data(&token, "/api/v1/metadata", &[("metric", "req_total")]);
    assert_eq!(
        data,
        serde_json::json!({"req_total": [{"type": "counter", "help": "Requests served.", "unit": ""}]})
    );

    let data = server.get_data(&token, "/api/v1/status/buildinfo", &[]);
    assert!(data["version"].is_string());
}

/// Metric metadata survives a restart and, once saved (every 5 s), a crash: Grafana's
/// metric browser and `/api/v1/metadata` need not wait for clients to resend theirs.
#[test]
fn metric_metadata_survives_a_restart_and_a_crash() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let push_metadata = |server: &TestServer, family: &str, help: &str| {
        let mut request = write_request(vec![]);
        request
            .metadata
            .push(pitot_proto::remote_write::MetricMetadata {
                r#type: pitot_proto::remote_write::MetricType::Gauge as i32,
                metric_family_name: family.into(),
                help: help.into(),
                unit: "bytes".into(),
            });
        let (status, body) = server.push_raw(
            Some(&token),
            pitot_proto::remote_write::encode_write_request(&request),
        );
        assert_eq!(status, 204, "{body}");
    };
    let served = |server: &TestServer, family: &str| {
        server.get_data(&token, "/api/v1/metadata", &[("metric", family)])[family].clone()
    };
    push_metadata(&server, "mem_bytes", "Memory in use.");
    server.restart();
    assert_eq!(
        served(&server, "mem_bytes"),
        serde_json::json!([{"type": "gauge", "help": "Memory in use.", "unit": "bytes"}])
    );

    push_metadata(&server, "mem_bytes", "Memory in use, newer help.");
    push_metadata(&server, "disk_bytes", "Disk in use.");
    std::thread::sleep(std::time::Duration::from_secs(6));
    server.kill9();
    server.start_again();
    assert_eq!(
        served(&server, "mem_bytes")[0]["help"],
        "Memory in use, newer help."
    );
    assert_eq!(served(&server, "disk_bytes")[0]["help"], "Disk in use.");
}
