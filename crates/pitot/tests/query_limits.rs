//! Every query limit answers with an error that names it.

mod common;

use common::{now_ms, series, write_request, TestServer};

fn error_of(server: &TestServer, path: &str, params: &[(&str, &str)]) -> (u16, String, String) {
    let (status, body) = server.get_json(&server.initial_token, path, params);
    (
        status,
        body["errorType"].as_str().unwrap_or_default().to_string(),
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn series_samples_length_and_resolution_limits_name_themselves() {
    let server = TestServer::start(&[
        "--query-max-series",
        "2",
        "--query-max-samples",
        "100",
        "--query-max-length",
        "1h",
    ]);
    let base = now_ms() - 300_000;
    let samples: Vec<(i64, f64)> = (0..300).map(|i| (base + i * 1000, i as f64)).collect();
    let batch = ["a", "b", "c"]
        .iter()
        .map(|i| series(&[("__name__", "req_total"), ("instance", i)], &samples))
        .collect();
    let (status, body) = server.push(&server.initial_token, &write_request(batch));
    assert_eq!(status, 204, "{body}");

    let (status, kind, msg) = error_of(&server, "/api/v1/query", &[("query", "req_total")]);
    assert_eq!((status, kind.as_str()), (422, "execution"), "{msg}");
    assert!(
        msg.contains("max-series-per-query") && msg.contains("query.max_series"),
        "{msg}"
    );

    let (status, kind, msg) = error_of(
        &server,
        "/api/v1/query",
        &[("query", "req_total{instance=\"a\"}[5m]")],
    );
    assert_eq!((status, kind.as_str()), (422, "execution"), "{msg}");
    assert!(msg.contains("max_samples=100"), "{msg}");

    // Within the limits, the same data answers.
    let data = server.get_data(
        &server.initial_token,
        "/api/v1/query",
        &[("query", "req_total{instance=\"a\"}")],
    );
    assert_eq!(data["result"].as_array().unwrap().len(), 1);

    let end = (now_ms() / 1000).to_string();
    let start = (now_ms() / 1000 - 7200).to_string();
    let (status, _, msg) = error_of(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "1"),
            ("start", &start),
            ("end", &end),
            ("step", "60"),
        ],
    );
    assert_eq!(status, 400, "{msg}");
    assert!(
        msg.contains("max-query-length") && msg.contains("query.max_length"),
        "{msg}"
    );

    let start = (now_ms() / 1000 - 1800).to_string();
    let (status, _, msg) = error_of(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "1"),
            ("start", &start),
            ("end", &end),
            ("step", "0.1"),
        ],
    );
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("11,000 points"), "{msg}");
}

#[test]
fn timeout_names_itself_and_huge_subqueries_hit_the_sample_limit() {
    let server = TestServer::start(&["--query-max-samples", "1000000000"]);
    let (status, kind, msg) = error_of(
        &server,
        "/api/v1/query",
        &[
            ("query", "count_over_time(vector(1)[60d:1s])"),
            ("timeout", "0.05"),
        ],
    );
    assert_eq!((status, kind.as_str()), (503, "timeout"), "{msg}");
    assert!(msg.contains("timeout=50ms"), "{msg}");
    let (status, kind, msg) = error_of(
        &server,
        "/api/v1/query",
        &[("query", "max_over_time(rate(x[1m])[2061466978m:1m])")],
    );
    assert_eq!((status, kind.as_str()), (422, "execution"), "{msg}");
    assert!(msg.contains("max_samples"), "{msg}");
    // The server still answers afterwards.
    let data = server.get_data(&server.initial_token, "/api/v1/query", &[("query", "1+1")]);
    assert_eq!(data["result"][1], "2");
}
