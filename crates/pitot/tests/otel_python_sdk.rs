//! A real OpenTelemetry client: the Python SDK with its OTLP/HTTP exporters
//! (`tests/interop/otel_python_sdk.py`) sends a counter, an up-down counter, a
//! histogram, an observable gauge and two log records (one with a trace context); each
//! is read back under the documented name by PromQL or LogQL.
//!
//! Skipped when the SDK is not installed, unless `PITOT_REQUIRE_PY_OTEL=1` (as in CI),
//! which makes its absence a failure.

mod common;

use std::process::{Command, Stdio};

use common::{now_ns, TestServer};
use serde_json::Value;

fn sdk_available() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("PITOT_REQUIRE_PY_OTEL").as_deref() == Ok("1") {
        panic!("the OpenTelemetry Python SDK is required (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)");
    }
    ok
}

fn value_of(server: &TestServer, token: &str, query: &str) -> (Value, String) {
    let data = server.get_data(token, "/api/v1/query", &[("query", query)]);
    let result = data["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{query}: {data}");
    (
        result[0]["metric"].clone(),
        result[0]["value"][1].as_str().expect("value").to_string(),
    )
}

#[test]
fn the_opentelemetry_python_sdk_is_read_back_by_promql_and_logql() {
    if !sdk_available() {
        eprintln!("skipped: the OpenTelemetry Python SDK is not installed");
        return;
    }
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let start = now_ns() - 1_000_000_000;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/otel_python_sdk.py"
    );
    let output = Command::new("python3")
        .args([script, server.base_url(), &token])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "the SDK's exports failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("EXPORTED metrics SUCCESS"), "{stdout}");
    assert!(stdout.contains("EXPORTED logs SUCCESS"), "{stdout}");

    let (labels, value) = value_of(&server, &token, "orders_placed_total");
    assert_eq!(value, "5");
    assert_eq!(labels["job"], "shop/shop-api");
    assert_eq!(labels["instance"], "instance-1");
    assert_eq!(labels["payment_method"], "card");
    let (_, value) = value_of(&server, &token, "queue_items");
    assert_eq!(value, "3", "an up-down counter is a gauge");
    let (_, value) = value_of(&server, &token, "checkout_duration_seconds_count");
    assert_eq!(value, "3");
    let (_, value) = value_of(&server, &token, "checkout_duration_seconds_sum");
    assert_eq!(value.parse::<f64>().unwrap(), 0.1 + 0.7 + 2.0);
    let (_, value) = value_of(
        &server,
        &token,
        "checkout_duration_seconds_bucket{le=\"+Inf\"}",
    );
    assert_eq!(value, "3");
    let (labels, value) = value_of(&server, &token, "cpu_temperature_celsius");
    assert_eq!(value, "51.5");
    assert_eq!(labels["core"], "0");
    let (labels, _) = value_of(&server, &token, "target_info");
    assert_eq!(labels["deployment_environment"], "test");
    assert!(
        labels
            .as_object()
            .unwrap()
            .contains_key("telemetry_sdk_language"),
        "the SDK's own resource attributes are on target_info: {labels}"
    );

    let (trace_id, span_id) = stdout
        .lines()
        .find_map(|l| {
            let mut parts = l.strip_prefix("TRACE ")?.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .expect("the script prints the trace context");
    let lines = server.loki_lines(
        &token,
        "{service_name=\"shop-api\", service_namespace=\"shop\"}",
        start,
        100,
    );
    let texts: Vec<&str> = lines.iter().map(|(_, _, l)| l.as_str()).collect();
    assert_eq!(texts, ["payment declined", "order shipped"], "{lines:?}");
    let traced = server.loki_lines(
        &token,
        &format!("{{service_name=\"shop-api\"}} | trace_id=\"{trace_id}\" | span_id=\"{span_id}\" | order_id=\"o-17\" | severity_text=\"WARN\""),
        start,
        100,
    );
    assert_eq!(traced.len(), 1, "{traced:?}");
    assert_eq!(traced[0].2, "payment declined");
}
