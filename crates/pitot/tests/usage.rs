//! Usage metering is exact: known pushes, refusals and queries appear as exactly those
//! figures in `/api/pitot/v1/usage` (a retried batch billed once), survive a restart,
//! and each tenant reads only its own.

mod common;

use common::{now_ms, now_ns, series, write_request, TestServer};
use serde_json::{json, Value};

fn usage(server: &TestServer, token: &str, params: &[(&str, &str)]) -> (u16, Value) {
    server.get_json(token, "/api/pitot/v1/usage", params)
}

fn row<'a>(body: &'a Value, datasource: &str) -> &'a Value {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["datasource"] == datasource)
        .unwrap_or_else(|| panic!("no {datasource} row in {body}"))
}

#[test]
fn usage_counts_exactly_what_was_stored_refused_and_queried() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let platform = server.platform_token.clone();
    let (status, _) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    assert_eq!(status, 201);
    let (_, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "b", "scopes": ["metrics:read"]}),
    );
    let token_b = body["token"].as_str().unwrap().to_string();

    // 3 series x 4 samples stored, then 5 samples refused by the rate limit.
    let t = now_ms() - 60_000;
    let request = write_request(
        (0..3)
            .map(|i| {
                series(
                    &[("__name__", "m"), ("i", &i.to_string())],
                    &(0..4).map(|k| (t + k * 1000, 1.0)).collect::<Vec<_>>(),
                )
            })
            .collect(),
    );
    assert_eq!(server.push(&token, &request).0, 204);
    // The same batch again, as a client retries after a timeout: acknowledged, stored
    // and billed once, counted as duplicates.
    assert_eq!(server.push(&token, &request).0, 204);
    assert_eq!(
        server.metric("pitot_duplicate_samples_total{tenant=\"default\"}"),
        Some(12.0)
    );
    let client = server.client();
    let response = client
        .put(format!(
            "{}/api/pitot/v1/tenants/default/limits",
            server.base_url()
        ))
        .bearer_auth(&platform)
        .json(&json!({"ingestion_rate": 1, "ingestion_burst_size": 1}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let refused = write_request(vec![series(
        &[("__name__", "m2")],
        &(0..5).map(|k| (t + k, 1.0)).collect::<Vec<_>>(),
    )]);
    // Larger than the whole burst: refused for good (413), not told to retry.
    assert_eq!(server.push(&token, &refused).0, 413);

    // 2 log lines of 10 and 20 bytes, sent twice (a retry: stored and billed once).
    let t_ns = now_ns();
    let lines = json!({"streams": [{"stream": {"app": "u"}, "values": [[t_ns.to_string(), "0123456789"], [(t_ns + 1).to_string(), "01234567890123456789"]]}]});
    for _ in 0..2 {
        let (status, text) = server.loki_push_json(&token, &lines);
        assert_eq!(status, 204, "{text}");
    }
    assert_eq!(
        server.metric("pitot_logs_duplicate_entries_total{tenant=\"default\"}"),
        Some(2.0)
    );

    // 2 PromQL queries and 1 LogQL query.
    for _ in 0..2 {
        server.get_data(&token, "/api/v1/query", &[("query", "count(m)")]);
    }
    let (status, _) = server.loki_get(
        &token,
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"u\"}"),
            ("start", &(now_ns() - 600_000_000_000).to_string()),
        ],
    );
    assert_eq!(status, 200);

    for round in 0..2 {
        // Days are the default, as in `pitot usage`.
        let params: &[(&str, &str)] = if round == 0 {
            &[]
        } else {
            &[("granularity", "day")]
        };
        let (status, body) = usage(&server, &token, params);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenant"], "default");
        assert_eq!(body["granularity"], "day");
        let m = row(&body, "metrics");
        assert_eq!(m["type"], "metrics");
        assert_eq!(m["origin"], "custom");
        assert_eq!(m["samples_ingested"], 12, "round {round}: {body}");
        assert_eq!(m["rejected"]["rate_limited"], 5, "{body}");
        assert_eq!(m["queries"], 2, "{body}");
        let l = row(&body, "logs");
        assert_eq!(l["log_lines_ingested"], 2, "{body}");
        assert_eq!(l["log_bytes_ingested"], 30, "{body}");
        assert_eq!(l["queries"], 1, "{body}");
        assert_eq!(l["bytes_scanned"], 30, "{body}");
        assert!(
            m["start"].as_str().unwrap().ends_with("T00:00:00Z"),
            "{body}"
        );
        if round == 0 {
            server.restart();
        }
    }

    // CSV.
    let response = server
        .get("/api/pitot/v1/usage")
        .bearer_auth(&token)
        .header("Accept", "text/csv")
        .send()
        .unwrap();
    let csv = response.text().unwrap();
    assert!(
        csv.starts_with("start,datasource,type,origin,samples_ingested"),
        "{csv}"
    );
    assert!(csv.contains(",metrics,metrics,custom,12,"), "{csv}");

    // Tenant b sees only its own usage; the platform names the tenant.
    let (status, body) = usage(&server, &token_b, &[]);
    assert_eq!(status, 200);
    assert_eq!(body["rows"], json!([]), "{body}");
    let (status, _) = usage(&server, &token_b, &[("tenant", "default")]);
    assert_eq!(status, 404);
    let (status, body) = usage(
        &server,
        &platform,
        &[("tenant", "default"), ("granularity", "month")],
    );
    assert_eq!(status, 200);
    assert_eq!(row(&body, "metrics")["samples_ingested"], 12);
    let (status, _) = usage(&server, &token, &[("granularity", "week")]);
    assert_eq!(status, 400);
}

/// The month's cost equals the hand-computed figure under a small plan, and a budget
/// records its threshold crossings once.
#[test]
fn cost_and_budget_follow_the_price_plan() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pitot.yaml");
    std::fs::write(
        &config,
        "pricing:\n  currency: EUR\n  per_million_samples: 1000000\n  per_gb_logs: 1000000000\n  per_gb_month_stored: 0\n  free_samples_per_month: 2\n",
    )
    .unwrap();
    let server = TestServer::start(&["--config", config.to_str().unwrap()]);
    let token = server.initial_token.clone();
    // 12 samples (2 free) at 1 EUR each, 30 log bytes at 1 EUR each: 40 EUR.
    let t = now_ms() - 60_000;
    let request = write_request(
        (0..3)
            .map(|i| {
                series(
                    &[("__name__", "m"), ("i", &i.to_string())],
                    &(0..4).map(|k| (t + k * 1000, 1.0)).collect::<Vec<_>>(),
                )
            })
            .collect(),
    );
    assert_eq!(server.push(&token, &request).0, 204);
    let (status, _) = server.loki_push_json(
        &token,
        &json!({"streams": [{"stream": {"app": "u"}, "values": [[now_ns().to_string(), "0123456789"], [(now_ns() + 1).to_string(), "01234567890123456789"]]}]}),
    );
    assert_eq!(status, 204);
    let (status, cost) = server.get_json(&token, "/api/pitot/v1/cost", &[]);
    assert_eq!(status, 200, "{cost}");
    assert_eq!(cost["currency"], "EUR");
    assert_eq!(cost["to_date"], 40.0, "{cost}");
    assert!(
        cost["projected_month_end"].as_f64().unwrap() >= 40.0,
        "{cost}"
    );
    let by_ds: f64 = cost["by_datasource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["to_date"].as_f64().unwrap())
        .sum();
    assert!((by_ds - 40.0).abs() < 1e-6, "{cost}");
    let by_day: f64 = cost["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cost"].as_f64().unwrap())
        .sum();
    assert!((by_day - 40.0).abs() < 0.01, "{cost}");
    let (status, _) = server.get_json(&token, "/api/pitot/v1/cost", &[("month", "2026-13")]);
    assert_eq!(status, 400);

    // A 60 EUR budget: 40 is over 50 % but under 80 % actually spent.
    let response = server
        .client()
        .put(format!("{}/api/pitot/v1/budget", server.base_url()))
        .bearer_auth(&token)
        .json(&json!({"monthly": 60.0}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, events) = server.get_json(&token, "/api/pitot/v1/budget/events", &[]);
    let actual: Vec<i64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "actual")
        .map(|e| e["percent"].as_i64().unwrap())
        .collect();
    assert_eq!(actual, vec![50], "{events}");
    // Asking again records nothing twice.
    server.get_json(&token, "/api/pitot/v1/cost", &[]);
    let (_, again) = server.get_json(&token, "/api/pitot/v1/budget/events", &[]);
    assert_eq!(
        again["events"].as_array().unwrap().len(),
        events["events"].as_array().unwrap().len()
    );
}

/// `pitot limits|usage|cost` print the same figures as the API.
#[test]
fn operator_cli_shows_limits_usage_and_cost() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let t = now_ms() - 60_000;
    let request = write_request(vec![series(
        &[("__name__", "m")],
        &[(t, 1.0), (t + 1000, 2.0)],
    )]);
    assert_eq!(server.push(&token, &request).0, 204);
    let pitot = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
            .args(args)
            .args(["--address", server.base_url(), "--token", &platform])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = pitot(&[
        "limits",
        "set",
        "--tenant",
        "default",
        "ingestion_rate=1234",
        "max_query_length=2h",
    ]);
    assert!(out.contains("updated"), "{out}");
    // Earlier versions took the tenant positionally, and still do.
    let out = pitot(&["limits", "set", "default", "max_query_length=2h"]);
    assert!(out.contains("updated"), "{out}");
    let out = pitot(&["limits", "get", "--tenant", "default"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("ingestion_rate "))
        .unwrap();
    assert!(line.contains("1234") && line.contains("override"), "{out}");
    let out = pitot(&["usage", "--tenant", "default"]);
    let row = out
        .lines()
        .find(|l| l.contains(" metrics "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.split_whitespace().nth(2) == Some("2"),
        "2 samples ingested: {out}"
    );
    let out = pitot(&["cost", "--tenant", "default", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["to_date"].is_number(), "{v}");
}

/// `pitot limits get default | head -1`: the reader closes the pipe after one line, and
/// the command ends quietly and successfully instead of panicking on the write.
#[test]
fn a_cli_command_whose_reader_goes_away_exits_quietly() {
    let server = TestServer::start(&[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
        .args(["limits", "get", "default"])
        .args([
            "--address",
            server.base_url(),
            "--token",
            &server.platform_token,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the command writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A refusal reaches the CLI's user as the server's message, not as its raw JSON or a
/// parser's line and column.
#[test]
fn cli_errors_say_what_the_server_said() {
    let server = TestServer::start(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
        .args(["limits", "get", "nosuch", "--address", server.base_url()])
        .args(["--token", &server.platform_token])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the server refused (404): tenant nosuch not found"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("column") && !stderr.contains("{\""),
        "{stderr}"
    );
}
