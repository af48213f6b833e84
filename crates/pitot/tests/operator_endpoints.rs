//! What an operator coming from Prometheus expects of the server's own endpoints:
//! Prometheus' probe paths, a 404 that says what was asked, and a `/metrics` whose
//! histograms are complete (`promtool check metrics` runs on it in
//! `tests/interop/prometheus_remote_write.sh`).

mod common;

use common::TestServer;

#[test]
fn prometheus_probe_paths_answer() {
    let server = TestServer::start(&[]);
    for path in ["/-/ready", "/-/healthy", "/ready", "/health"] {
        let response = server.get(path).send().expect("probe");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

#[test]
fn an_unknown_path_is_a_404_that_names_it() {
    let server = TestServer::start(&[]);
    let response = server.get("/api/v1/nosuch").send().expect("get");
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().expect("a JSON error body");
    assert_eq!(body["status"], "error", "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("GET /api/v1/nosuch"),
        "the error names what was asked: {body}"
    );
}

#[test]
fn request_durations_are_a_complete_histogram() {
    let server = TestServer::start(&[]);
    for _ in 0..3 {
        server.get("/-/healthy").send().expect("probe");
    }
    let text = server
        .get("/metrics")
        .send()
        .expect("metrics")
        .text()
        .expect("body");
    let labels = r#"route="/-/healthy",method="GET",code="200""#;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
            .parse()
            .expect("a number")
    };
    let count = value(&format!(
        "pitot_http_request_duration_seconds_count{{{labels}}}"
    ));
    assert!(count >= 3.0, "{count}");
    assert_eq!(
        value(&format!(
            "pitot_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}"
        )),
        count
    );
    assert!(
        value(&format!(
            "pitot_http_request_duration_seconds_sum{{{labels}}}"
        )) > 0.0
    );
}
