//! Regression tests for findings 8 and 9 of issue 16 (queries on the async runtime,
//! read limits bypassed): each reproduces the attack and shows it now fails harmlessly:
//! the refusal is named (status and reason ID), the server still answers, and another
//! tenant is unaffected.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{now_ms, now_ns, series, status_and_text, write_request, TestServer};
use pitot_proto::remote_write::{encode_write_request, MetricMetadata, MetricType, WriteRequest};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

/// Creates tenant `name` with the platform token; returns an admin token of it.
fn tenant_with_token(server: &TestServer, name: &str) -> String {
    server.create_tenant(name, &["admin"])
}

/// Sets limits of `tenant` through the platform limits API.
fn put_limits(server: &TestServer, tenant: &str, body: Value) {
    server.put_limits(tenant, &body);
}

/// Three `up` series of `tenant`, a minute of samples each.
fn push_three(server: &TestServer, token: &str) {
    let base = now_ms() - 60_000;
    let samples: Vec<(i64, f64)> = (0..6).map(|i| (base + i * 10_000, i as f64)).collect();
    let batch = ["a", "b", "c"]
        .iter()
        .map(|i| series(&[("__name__", "up"), ("instance", i)], &samples))
        .collect();
    let (status, body) = server.push(token, &write_request(batch));
    assert_eq!(status, 204, "{body}");
}

/// GETs `path` and returns the status and body text.
fn get_text(
    server: &TestServer,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> (u16, String) {
    status_and_text(
        server
            .get(path)
            .bearer_auth(token)
            .query(params)
            .send()
            .expect("GET"),
    )
}

fn assert_health(server: &TestServer) {
    let (status, _) = status_and_text(server.get("/health").send().expect("health"));
    assert_eq!(status, 200, "the server still answers");
}

/// Finding 8: two heavy PromQL queries used to occupy both runtime workers of a
/// two-core machine, and `/health` (and every push and authentication) waited behind
/// them. They now run on the query pool: `/health` answers promptly throughout.
#[test]
fn heavy_promql_queries_leave_the_runtime_free() {
    let server = TestServer::start(&["--query-max-samples", "1000000000"]);
    let token = server.initial_token.clone();
    // Each step sorts a day of one-second subquery points: seconds of pure evaluation
    // (1,200 steps) in little memory.
    let end = now_ms() / 1000;
    let (start, end) = ((end - 3600).to_string(), end.to_string());
    let heavy: Vec<(&str, String)> = vec![
        (
            "query",
            "quantile_over_time(0.5, (vector(1) + time())[1d:1s])".to_string(),
        ),
        ("start", start),
        ("end", end),
        ("step", "3".to_string()),
    ];
    let run_heavy = {
        let (client, base, token) = (
            server.client().clone(),
            server.base_url().to_string(),
            token.clone(),
        );
        move |params: Vec<(&'static str, String)>| {
            let started = Instant::now();
            let response = client
                .get(format!("{base}/api/v1/query_range"))
                .bearer_auth(&token)
                .query(&params)
                .timeout(Duration::from_secs(120))
                .send()
                .expect("heavy query");
            (response.status().as_u16(), started.elapsed())
        }
    };
    let (status, solo) = run_heavy(heavy.clone());
    assert_eq!(status, 200);

    let runners: Vec<_> = (0..2)
        .map(|_| {
            let (run, params) = (run_heavy.clone(), heavy.clone());
            std::thread::spawn(move || run(params))
        })
        .collect();
    // Probe while both heavy queries run.
    std::thread::sleep(Duration::from_millis(100));
    let mut probes = Vec::new();
    while probes.len() < 20 {
        let at = Instant::now();
        let (status, _) = status_and_text(server.get("/health").send().expect("health"));
        assert_eq!(status, 200);
        probes.push(at.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    let probing = probes.iter().sum::<Duration>() + Duration::from_millis(20 * 20);
    let heavy_runs: Vec<(u16, Duration)> = runners.into_iter().map(|h| h.join().unwrap()).collect();
    for (status, _) in &heavy_runs {
        assert_eq!(*status, 200);
    }
    probes.sort();
    let p95 = probes[18];
    eprintln!(
        "solo heavy query {solo:?}, concurrent {heavy_runs:?}, probes {probes:?} over {probing:?}"
    );
    // The probes ran while the heavy queries did (otherwise they prove nothing).
    assert!(
        heavy_runs.iter().all(|(_, took)| *took > probing / 2),
        "the heavy queries ({heavy_runs:?}) must outlast the probing ({probing:?})"
    );
    assert!(
        p95 < Duration::from_millis(100),
        "/health stalled behind heavy queries: {probes:?}"
    );
    // Ingest is not stuck either.
    push_three(&server, &token);
}

/// Finding 9: series, labels, label values and export skipped the per-query series
/// limit (a tenant with `max_fetched_series_per_query=1` exported every series).
#[test]
fn read_apis_are_held_to_the_series_limit() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let other = tenant_with_token(&server, "other");
    push_three(&server, &token);
    push_three(&server, &other);
    put_limits(
        &server,
        "default",
        json!({"max_fetched_series_per_query": 1}),
    );

    let all = [("match[]", "up")];
    for path in [
        "/api/v1/export",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/instance/values",
        "/prometheus/api/v1/series",
        "/api/v1/query",
    ] {
        let params: &[(&str, &str)] = if path == "/api/v1/query" {
            &[("query", "up")]
        } else {
            &all
        };
        let (status, body) = get_text(&server, &token, path, params);
        assert_eq!(status, 422, "{path}: {body}");
        assert!(
            body.contains("err-pitot-max-series-per-query")
                && body.contains("max_fetched_series_per_query"),
            "{path}: {body}"
        );
    }
    // One series is within the limit.
    let one = server.export(&token, "up{instance=\"a\"}");
    assert_eq!(one.len(), 1);
    // The other tenant is unaffected, and the server alive.
    assert_eq!(server.export(&other, "up").len(), 3);
    let (status, body) = server.get_json(&other, "/api/v1/series", &all);
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    assert_health(&server);
}

/// Finding 9: Loki's `end - start` wrapped, so the i64 extremes passed the 721h limit.
/// Queries are refused as too long; series, label and index reads keep the newest 721h
/// of the range (as Mimir answers label and series reads), never a wrapped one.
#[test]
fn extreme_ranges_are_too_long_not_wrapped() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let extremes = [
        ("start", "-9223372036854775808"),
        ("end", "9223372036854775807"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut params = extremes.to_vec();
        params.push(extra);
        params
    };
    for query in ["{app=\"api\"}", "count_over_time({app=\"api\"}[5m])"] {
        let (status, body) = get_text(
            &server,
            &token,
            "/loki/api/v1/query_range",
            &with(("query", query)),
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains("err-pitot-max-query-length") && body.contains("limit: 721h0m0s"),
            "{query}: {body}"
        );
    }
    for (path, extra) in [
        ("/loki/api/v1/series", ("match[]", "{app=\"api\"}")),
        ("/loki/api/v1/labels", ("query", "{app=\"api\"}")),
        ("/loki/api/v1/index/stats", ("query", "{app=\"api\"}")),
    ] {
        let (status, body) = get_text(&server, &token, path, &with(extra));
        assert_eq!(status, 200, "{path}: {body}");
    }
    // The same on the Prometheus side: a query is refused, a read clamped.
    let (status, body) = get_text(
        &server,
        &token,
        "/api/v1/query_range",
        &[
            ("query", "1"),
            ("start", "-9.2e15"),
            ("end", "9.2e15"),
            ("step", "1e9"),
        ],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("err-pitot-max-query-length"), "{body}");
    let (status, body) = get_text(
        &server,
        &token,
        "/api/v1/series",
        &[("match[]", "up"), ("start", "-9.2e15"), ("end", "9.2e15")],
    );
    assert_eq!(status, 200, "{body}");
    assert_health(&server);
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens a live tail of `{app="api"}` from `start`; the HTTP status when refused.
fn open_tail(server: &TestServer, token: &str, start: i64) -> Result<Socket, u16> {
    let host = server.base_url().trim_start_matches("http://");
    let url = format!("ws://{host}/loki/api/v1/tail?query=%7Bapp%3D%22api%22%7D&start={start}");
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    match tungstenite::connect(request) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("tail: {e}"),
    }
}

/// Finding 9: the tail backfill read from any `start` (the epoch: the whole retention)
/// without a slot, and finding 11's tail connections were unbounded.
#[test]
fn tail_backfill_is_bounded_and_connections_are_capped() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let other = tenant_with_token(&server, "other");
    // From the epoch: longer than max_query_length, refused before the upgrade.
    assert_eq!(open_tail(&server, &token, 1).err(), Some(400));
    let (status, body) = get_text(
        &server,
        &token,
        "/loki/api/v1/tail",
        &[("query", "{app=\"api\"}"), ("start", "1")],
    );
    // (Without upgrade headers the upgrade itself is refused; either way no backfill.)
    assert!(status >= 400, "{status} {body}");

    // Ten live tails (the default max_concurrent_tail_requests) open; the 11th is 429.
    let recent = now_ns() - 60_000_000_000;
    let mut open: Vec<Socket> = (0..10)
        .map(|i| open_tail(&server, &token, recent).unwrap_or_else(|s| panic!("tail {i}: {s}")))
        .collect();
    assert_eq!(open_tail(&server, &token, recent).err(), Some(429));
    let response = server
        .get("/loki/api/v1/tail")
        .bearer_auth(&token)
        .query(&[("query", "{app=\"api\"}")])
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .unwrap();
    let (status, body) = status_and_text(response);
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("err-pitot-max-concurrent-tail-requests")
            && body.contains("max_concurrent_tail_requests"),
        "{body}"
    );
    // Another tenant still tails.
    assert!(open_tail(&server, &other, recent).is_ok());
    // Closing one frees its place.
    let mut closed = open.pop().unwrap();
    closed.close(None).unwrap();
    let _ = closed.flush();
    drop(closed);
    assert!(
        common::wait_until(Duration::from_secs(10), || open_tail(
            &server, &token, recent
        )
        .map(|s| open.push(s))
        .is_ok()),
        "a closed tail frees its place"
    );
    assert_health(&server);
}

/// A remote-write request of one series of `metric` with its metadata.
fn with_metadata(metric: &str, help: &str) -> Vec<u8> {
    let mut request: WriteRequest =
        write_request(vec![series(&[("__name__", metric)], &[(now_ms(), 1.0)])]);
    request.metadata = vec![MetricMetadata {
        r#type: MetricType::Gauge as i32,
        metric_family_name: metric.to_string(),
        help: help.to_string(),
        unit: String::new(),
    }];
    encode_write_request(&request)
}

/// Finding 9: `/api/v1/metadata` answered from every data source of the tenant, so a
/// token restricted to one data source read the others' metadata.
#[test]
fn metadata_answers_only_from_readable_data_sources() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/datasources",
        None,
        &json!({"name": "prod", "type": "metrics"}),
    );
    assert_eq!(status, 201, "{body}");
    for (datasource, metric) in [("prod", "prod_metric"), ("metrics", "secret_metric")] {
        let response = server
            .post("/api/v1/push")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Pitot-Datasource", datasource)
            .body(with_metadata(metric, "help text"))
            .send()
            .unwrap();
        let (status, text) = status_and_text(response);
        assert_eq!(status, 204, "{text}");
    }
    let (status, created) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["metrics:read"], "datasources": ["prod"]}),
    );
    assert_eq!(status, 201, "{created}");
    let limited = created["token"].as_str().unwrap().to_string();
    let metadata = |token: &str, datasource: Option<&str>| {
        let mut request = server.get("/api/v1/metadata").bearer_auth(token);
        if let Some(ds) = datasource {
            request = request.header("X-Pitot-Datasource", ds);
        }
        let (status, text) = status_and_text(request.send().unwrap());
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let (status, body) = metadata(&limited, Some("prod"));
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].get("prod_metric").is_some(), "{body}");
    assert!(body["data"].get("secret_metric").is_none(), "{body}");
    // The default data source is not the restricted token's to read.
    assert_eq!(metadata(&limited, None).0, 403);
    // The unrestricted token sees each data source's own.
    let (_, body) = metadata(&token, None);
    assert!(body["data"].get("secret_metric").is_some(), "{body}");
    assert!(body["data"].get("prod_metric").is_none(), "{body}");
    assert_health(&server);
}

/// Finding 9: an admin token restricted to some data sources could mint an
/// unrestricted token.
#[test]
fn restricted_admin_tokens_cannot_mint_wider_tokens() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/datasources",
        None,
        &json!({"name": "prod", "type": "metrics"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, created) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["admin"], "datasources": ["prod"]}),
    );
    assert_eq!(status, 201, "{created}");
    let restricted = created["token"].as_str().unwrap().to_string();
    for body in [
        json!({"scopes": ["metrics:read"]}),
        json!({"scopes": ["admin"]}),
        json!({"scopes": ["metrics:read"], "datasources": ["prod", "metrics"]}),
    ] {
        let (status, answer) = server.post_json(&restricted, "/api/pitot/v1/tokens", None, &body);
        assert_eq!(status, 403, "{body} -> {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("err-pitot-token-wider-than-creator"),
            "{answer}"
        );
    }
    // Within its own data sources it may.
    let (status, answer) = server.post_json(
        &restricted,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["metrics:read"], "datasources": ["prod"]}),
    );
    assert_eq!(status, 201, "{answer}");
    // Nor may it revoke the unrestricted token above it.
    let (_, tokens) = server.get_json(&token, "/api/pitot/v1/tokens", &[]);
    let wide = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t.get("datasources").is_none())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = server
        .delete(&format!("/api/pitot/v1/tokens/{wide}"))
        .bearer_auth(&restricted)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // The unrestricted token still works.
    assert_eq!(server.get_json(&token, "/api/v1/labels", &[]).0, 200);
}

/// Finding 9: `user_stats` and `user_limits` answered any token of the tenant.
#[test]
fn user_stats_and_limits_need_a_read_scope() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let mint = |scopes: Value| {
        let (status, created) = server.post_json(
            &token,
            "/api/pitot/v1/tokens",
            None,
            &json!({ "scopes": scopes }),
        );
        assert_eq!(status, 201, "{created}");
        created["token"].as_str().unwrap().to_string()
    };
    let push_only = mint(json!(["metrics:write"]));
    let logs_reader = mint(json!(["logs:read"]));
    for path in [
        "/api/v1/user_stats",
        "/api/v1/user_limits",
        "/prometheus/api/v1/user_stats",
        "/api/pitot/v1/tenants/default/limits",
    ] {
        let (status, body) = get_text(&server, &push_only, path, &[]);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("metrics:read or logs:read"), "{path}: {body}");
        assert_eq!(get_text(&server, &logs_reader, path, &[]).0, 200, "{path}");
    }
    assert_health(&server);
}
