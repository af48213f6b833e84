//! Per-tenant limits: rates answer 429 with `Retry-After` and store nothing, only for the
//! tenant over its limit; the operator changes limits at run time through the API
//! (persisted) and the runtime-overrides file (reloaded); tenants read their own limits
//! and use, and nobody else's.

mod common;

use std::time::{Duration, Instant};

use common::{now_ms, now_ns, series, write_request, TestServer};
use serde_json::{json, Value};

fn put_limits(server: &TestServer, token: &str, tenant: &str, body: Value) -> (u16, Value) {
    let response = server
        .client()
        .put(format!(
            "{}/api/pitot/v1/tenants/{tenant}/limits",
            server.base_url()
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn samples(name: &str, n: usize) -> pitot_proto::remote_write::WriteRequest {
    let t = now_ms() - 10_000;
    let points: Vec<(i64, f64)> = (0..n).map(|i| (t + i as i64, i as f64)).collect();
    write_request(vec![series(&[("__name__", name)], &points)])
}

fn new_tenant(server: &TestServer, name: &str) -> String {
    server.create_tenant(
        name,
        &[
            "metrics:write",
            "metrics:read",
            "logs:write",
            "logs:read",
            "admin",
        ],
    )
}

#[test]
fn rate_limits_refuse_whole_requests_of_that_tenant_only() {
    let mut server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let token_b = new_tenant(&server, "b");

    let (status, body) = put_limits(
        &server,
        &platform,
        "default",
        json!({"ingestion_rate": 100, "ingestion_burst_size": 1000}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"]["ingestion_rate"], 100.0);
    assert_eq!(
        body["overrides"],
        json!({"ingestion_rate": 100.0, "ingestion_burst_size": 1000})
    );

    let (status, text) = server.push(&token, &samples("ok_metric", 800));
    assert_eq!(status, 204, "{text}");
    let response = server
        .post("/api/v1/push")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-protobuf")
        .body(common::encode_exact(&samples("limited_metric", 500)))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    let text = response.text().unwrap();
    assert!(
        text.contains(
            "ingestion rate limit, set to 100 samples/s with a maximum allowed burst of 1000"
        ),
        "{text}"
    );
    // More samples than the whole burst can never be admitted: 413, no retry hint.
    let response = server
        .post("/api/v1/push")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-protobuf")
        .body(common::encode_exact(&samples("limited_metric", 1500)))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert!(response.headers().get("retry-after").is_none());
    let text = response.text().unwrap();
    assert!(
        text.contains("err-pitot-tenant-max-ingestion-burst") && text.contains("1500 samples"),
        "{text}"
    );
    // Nothing of the refused requests was stored; the other tenant is not affected.
    assert!(server.export(&token, "limited_metric").is_empty());
    let (status, text) = server.push(&token_b, &samples("limited_metric", 5000));
    assert_eq!(status, 204, "tenant b has the default limits: {text}");
    assert_eq!(
        server.metric("pitot_discarded_samples_total{tenant=\"default\",reason=\"rate_limited\"}"),
        Some(2000.0)
    );

    // Logs: a byte rate.
    let (status, body) = put_limits(
        &server,
        &platform,
        "default",
        json!({"ingestion_rate_mb": 0.001, "ingestion_burst_size_mb": 0.002}),
    );
    assert_eq!(status, 200, "{body}");
    let push = |line: String| {
        server.loki_push_json(
            &token,
            &json!({"streams": [{"stream": {"app": "x"}, "values": [[now_ns().to_string(), line]]}]}),
        )
    };
    assert_eq!(push("a".repeat(1500)).0, 204);
    let (status, text) = push("b".repeat(1500));
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("ingestion_rate_mb: 0.001"), "{text}");

    // Limits persist across a restart.
    server.restart();
    let (status, text) = server.loki_get(&platform, "/api/pitot/v1/tenants/default/limits", &[]);
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["limits"]["ingestion_rate"], 100.0, "{body}");
    assert_eq!(body["limits"]["ingestion_rate_mb"], 0.001, "{body}");
}

#[test]
fn limits_api_permissions_validation_and_user_endpoints() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let token_b = new_tenant(&server, "b");

    // A tenant reads its own limits, not another's, and cannot change them.
    let (status, text) = server.loki_get(&token_b, "/api/pitot/v1/tenants/b/limits", &[]);
    assert_eq!(status, 200, "{text}");
    let (status, _) = server.loki_get(&token_b, "/api/pitot/v1/tenants/default/limits", &[]);
    assert_eq!(status, 404);
    let (status, _) = put_limits(&server, &token_b, "b", json!({"ingestion_rate": 1e9}));
    assert_eq!(status, 403);
    let (status, body) = put_limits(&server, &platform, "b", json!({"ingestion_rat": 5}));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("ingestion_rat"),
        "{body}"
    );
    let (status, body) = put_limits(&server, &platform, "b", json!({"ingestion_rate": -5}));
    assert_eq!(status, 400, "{body}");
    let (status, _) = put_limits(&server, &platform, "nobody", json!({"ingestion_rate": 5}));
    assert_eq!(status, 404);

    // A PUT names only what it overrides; the rest keeps its value.
    put_limits(&server, &platform, "b", json!({"max_query_length": "2h"}));
    let (_, body) = put_limits(&server, &platform, "b", json!({"max_line_size": 10}));
    assert_eq!(body["limits"]["max_query_length"], "2h");
    assert_eq!(body["limits"]["max_line_size"], 10);
    assert_eq!(body["limits"]["max_global_series_per_user"], 250000);

    // Mimir's user endpoints.
    let (status, text) = server.loki_get(&token_b, "/api/v1/user_limits", &[]);
    assert_eq!(status, 200, "{text}");
    let limits: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(limits["max_line_size"], 10);
    assert_eq!(limits["ingestion_burst_size"], 200000);
    let t = now_ms() - 5000;
    let request = write_request(
        (0..7)
            .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(t, 1.0)]))
            .collect(),
    );
    assert_eq!(server.push(&token, &request).0, 204);
    let (status, text) = server.loki_get(&token, "/api/v1/user_stats", &[]);
    assert_eq!(status, 200, "{text}");
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["numSeries"], 7, "{stats}");
    assert!(stats["ingestionRate"].as_f64().unwrap() > 0.0, "{stats}");
    let (_, text) = server.loki_get(&token_b, "/api/v1/user_stats", &[]);
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["numSeries"], 0, "b sees only its own: {stats}");

    // The per-tenant line size applies to b only.
    let line = |tok: &str| {
        server.loki_push_json(
            tok,
            &json!({"streams": [{"stream": {"app": "x"}, "values": [[now_ns().to_string(), "0123456789abc"]]}]}),
        )
    };
    let (status, text) = line(&token_b);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("max entry size '10' bytes"), "{text}");
    assert_eq!(line(&token).0, 204);
}

#[test]
fn runtime_overrides_file_changes_limits_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    std::fs::write(&file, "overrides:\n  default:\n    max_line_size: 10\n").unwrap();
    let server = TestServer::start(&[
        "--runtime-config-file",
        file.to_str().unwrap(),
        "--runtime-config-period",
        "200ms",
    ]);
    let token = server.initial_token.clone();
    let push = || {
        server.loki_push_json(
            &token,
            &json!({"streams": [{"stream": {"app": "x"}, "values": [[now_ns().to_string(), "0123456789abcdef"]]}]}),
        )
    };
    assert_eq!(push().0, 400, "limit from the file at start");
    std::fs::write(&file, "overrides:\n  default:\n    max_line_size: 1000\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if push().0 == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new file was not applied within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The limits API and `pitot limits get` name the file as the limit's source.
    let (status, body) = server.get_json(
        &server.platform_token,
        "/api/pitot/v1/tenants/default/limits",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["file_overrides"],
        json!({"max_line_size": 1000}),
        "{body}"
    );
    assert_eq!(body["sources"]["max_line_size"], "runtime_file", "{body}");
    assert_eq!(body["sources"]["ingestion_rate"], "default", "{body}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
        .args(["limits", "get", "default", "--address", server.base_url()])
        .args(["--token", &server.platform_token])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("max_line_size "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.ends_with("runtime overrides file"), "{out}");

    // A broken file is refused and the last good overrides stay.
    std::fs::write(&file, "overrides:\n  default:\n    max_line_sise: 5\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(push().0, 204);
    assert!(
        server.stderr().contains("runtime config not applied"),
        "{}",
        server.stderr()
    );
}

/// Median and 99th percentile of `ms`.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.99))
}

/// One push and one query of tenant b; their latencies in ms.
fn b_round(server: &TestServer, token: &str, i: usize) -> (f64, f64) {
    let t = now_ms();
    let request = write_request(vec![series(
        &[("__name__", "quiet"), ("i", &(i % 50).to_string())],
        &[(t, i as f64)],
    )]);
    let start = Instant::now();
    let (status, text) = server.push(token, &request);
    let push_ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 204, "{text}");
    let start = Instant::now();
    let (status, _) = server.get_json(token, "/api/v1/query", &[("query", "count(quiet)")]);
    let query_ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 200);
    (push_ms, query_ms)
}

/// A tenant pushing far over its rate from several connections gets 429s, and another
/// tenant's pushes and queries keep their latency (figures printed with --nocapture).
#[test]
fn a_noisy_neighbour_at_its_limit_does_not_slow_the_others() {
    let server = std::sync::Arc::new(TestServer::start(&[]));
    let platform = server.platform_token.clone();
    let noisy = new_tenant(&server, "noisy");
    let quiet = new_tenant(&server, "quiet");
    let (status, _) = put_limits(
        &server,
        &platform,
        "noisy",
        json!({"ingestion_rate": 1000, "ingestion_burst_size": 5000}),
    );
    assert_eq!(status, 200);

    let rounds = 60;
    let baseline: Vec<(f64, f64)> = (0..rounds).map(|i| b_round(&server, &quiet, i)).collect();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let limited = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let noisy_threads: Vec<_> = (0..3)
        .map(|c| {
            let (server, noisy, stop, limited) = (
                std::sync::Arc::clone(&server),
                noisy.clone(),
                std::sync::Arc::clone(&stop),
                std::sync::Arc::clone(&limited),
            );
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, _) =
                        server.push(&noisy, &samples(&format!("noisy_{c}_{}", n % 100), 2000));
                    if status == 429 {
                        limited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during: Vec<(f64, f64)> = (0..rounds)
        .map(|i| b_round(&server, &quiet, rounds + i))
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in noisy_threads {
        t.join().unwrap();
    }
    let limited = limited.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        limited > 10,
        "the noisy tenant was not held at its limit ({limited} refusals)"
    );

    let (bp50, bp99) = percentiles(baseline.iter().map(|r| r.0).collect());
    let (dp50, dp99) = percentiles(during.iter().map(|r| r.0).collect());
    let (bq50, bq99) = percentiles(baseline.iter().map(|r| r.1).collect());
    let (dq50, dq99) = percentiles(during.iter().map(|r| r.1).collect());
    eprintln!(
        "noisy neighbour: {limited} pushes of the noisy tenant refused; quiet tenant push p50/p99 {bp50:.2}/{bp99:.2} ms alone, {dp50:.2}/{dp99:.2} ms beside it; query p50/p99 {bq50:.2}/{bq99:.2} ms alone, {dq50:.2}/{dq99:.2} ms beside it"
    );
    // The quiet tenant shares two cores with three busy clients and the server, so some
    // slowdown is CPU contention; what must not happen is queueing behind the noisy
    // tenant (seconds) or any refusal (asserted in b_round).
    assert!(
        dp50 < bp50 * 5.0 + 20.0,
        "push median {dp50:.2} ms beside the noisy tenant vs {bp50:.2} alone"
    );
    assert!(
        dq50 < bq50 * 5.0 + 20.0,
        "query median {dq50:.2} ms beside the noisy tenant vs {bq50:.2} alone"
    );
}

/// Over a series limit, new series are refused with the limit named, while existing
/// series keep flowing.
#[test]
fn series_limits_refuse_new_series_only() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let (status, body) = put_limits(
        &server,
        &platform,
        "default",
        json!({"max_global_series_per_user": 5, "max_global_series_per_metric": 3}),
    );
    assert_eq!(status, 200, "{body}");
    let t = now_ms() - 60_000;
    let push = |name: &str, i: usize, at: i64| {
        server.push(
            &token,
            &write_request(vec![series(
                &[("__name__", name), ("i", &i.to_string())],
                &[(at, 1.0)],
            )]),
        )
    };
    for i in 0..3 {
        assert_eq!(push("a", i, t).0, 204);
    }
    let (status, text) = push("a", 3, t);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("per-metric series limit of 3")
            && text.contains("max_global_series_per_metric"),
        "{text}"
    );
    for i in 0..2 {
        assert_eq!(push("b", i, t).0, 204);
    }
    let (status, text) = push("c", 0, t);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("per-user series limit of 5"), "{text}");
    // Existing series keep flowing.
    assert_eq!(push("a", 0, t + 1000).0, 204);
    assert_eq!(push("b", 1, t + 1000).0, 204);
    assert_eq!(server.export(&token, "{__name__=~\".+\"}").len(), 5);
    assert_eq!(
        server.metric(
            "pitot_discarded_samples_total{tenant=\"default\",reason=\"per_metric_series_limit\"}"
        ),
        Some(1.0)
    );
    // Raising the limit at run time lets the series in.
    put_limits(
        &server,
        &platform,
        "default",
        json!({"max_global_series_per_user": 10}),
    );
    assert_eq!(push("c", 0, t).0, 204);
}

/// Query limits apply per tenant: range length and log entries per answer.
#[test]
fn query_limits_apply_per_tenant() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let token_b = new_tenant(&server, "b");
    let (status, body) = put_limits(
        &server,
        &platform,
        "default",
        json!({"max_query_length": "1h", "max_entries_limit_per_query": 10}),
    );
    assert_eq!(status, 200, "{body}");
    let end = (now_ms() / 1000).to_string();
    let start = (now_ms() / 1000 - 7200).to_string();
    let range = |tok: &str| {
        server.get_json(
            tok,
            "/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", &start),
                ("end", &end),
                ("step", "60"),
            ],
        )
    };
    let (status, body) = range(&token);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("max_query_length"),
        "{body}"
    );
    assert_eq!(range(&token_b).0, 200, "b keeps the default 30d1h");
    let logs = |tok: &str| {
        server.loki_get(
            tok,
            "/loki/api/v1/query_range",
            &[("query", "{app=\"x\"}"), ("limit", "11")],
        )
    };
    let (status, text) = logs(&token);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("(11 > 10)"), "{text}");
    assert_eq!(logs(&token_b).0, 200);
}

/// Over the stream limit, new log streams are refused with the limit named while
/// existing streams keep flowing.
#[test]
fn stream_limit_refuses_new_log_streams_only() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let token = server.initial_token.clone();
    let (status, _) = put_limits(
        &server,
        &platform,
        "default",
        json!({"max_global_streams_per_user": 2}),
    );
    assert_eq!(status, 200);
    let push = |app: &str| {
        server.loki_push_json(
            &token,
            &json!({"streams": [{"stream": {"app": app}, "values": [[now_ns().to_string(), "line"]]}]}),
        )
    };
    assert_eq!(push("a").0, 204);
    assert_eq!(push("b").0, 204);
    let (status, text) = push("c");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("limit: 2 streams, max_global_streams_per_user"),
        "{text}"
    );
    assert_eq!(push("a").0, 204, "existing streams keep flowing");
    assert_eq!(
        server.metric(
            "pitot_logs_discarded_entries_total{tenant=\"default\",reason=\"stream_limit\"}"
        ),
        Some(1.0)
    );
}
