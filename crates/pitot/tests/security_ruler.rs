//! Regression tests of issue 16's ruler findings, each an attack that now fails
//! harmlessly: the server stays up, the other tenant is unaffected, and the refusal is
//! named (status and reason ID).
//!
//! - Finding 7: one tenant's slow group no longer delays another tenant's groups (each
//!   group runs in its own task, time-boxed by its tenant's query timeout, under its
//!   tenant's query slots); intervals below `ruler_min_evaluation_interval` are refused
//!   at upload (both rules APIs) and clamped at evaluation.
//! - Finding 9: a token restricted to a data source cannot read another data source's
//!   series through a rule, a template's `query`, or the rules and alerts APIs.
//! - Finding 11: concurrent uploads never take a tenant past
//!   `ruler_max_rule_groups_per_tenant`.

mod common;

use std::time::{Duration, Instant};

use common::{now_ms, series, write_request, TestServer};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

const DS: &str = "X-Pitot-Datasource";

fn send(req: RequestBuilder) -> (u16, String) {
    let response = req.send().expect("request");
    (
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    )
}

/// Uploads one group's YAML to `path` (a rules configuration namespace URL).
fn upload(
    server: &TestServer,
    token: &str,
    path: &str,
    ds: Option<&str>,
    yaml: &str,
) -> (u16, String) {
    let mut req = server
        .post(path)
        .bearer_auth(token)
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string());
    if let Some(ds) = ds {
        req = req.header(DS, ds);
    }
    send(req)
}

fn put_limits(server: &TestServer, tenant: &str, body: Value) {
    let (status, text) = send(
        server
            .client()
            .put(format!(
                "{}/api/pitot/v1/tenants/{tenant}/limits",
                server.base_url()
            ))
            .bearer_auth(&server.platform_token)
            .json(&body),
    );
    assert_eq!(status, 200, "limits of {tenant}: {text}");
}

/// Creates tenant `name` with a token of `scopes`.
fn tenant_with_token(server: &TestServer, name: &str, scopes: &[&str]) -> String {
    server.create_tenant(name, scopes)
}

fn push_to(
    server: &TestServer,
    token: &str,
    ds: Option<&str>,
    series_list: Vec<pitot_proto::remote_write::TimeSeries>,
) {
    let mut req = server
        .post("/api/v1/push")
        .bearer_auth(token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(common::encode_exact(&write_request(series_list)));
    if let Some(ds) = ds {
        req = req.header(DS, ds);
    }
    let (status, text) = send(req);
    assert_eq!(status, 204, "push: {text}");
}

fn json_of(status_text: (u16, String)) -> (u16, Value) {
    let (status, text) = status_text;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text)),
    )
}

fn get(server: &TestServer, token: &str, path: &str, ds: Option<&str>) -> (u16, Value) {
    let mut req = server.get(path).bearer_auth(token);
    if let Some(ds) = ds {
        req = req.header(DS, ds);
    }
    json_of(send(req))
}

fn alert_names(server: &TestServer, token: &str) -> Vec<String> {
    let (status, body) = get(server, token, "/prometheus/api/v1/alerts", None);
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn group_json(server: &TestServer, token: &str, name: &str) -> Option<Value> {
    let (status, body) = get(server, token, "/prometheus/api/v1/rules", None);
    assert_eq!(status, 200, "{body}");
    body["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .cloned()
}

fn assert_alive(server: &TestServer) {
    let (status, _) = send(server.get("/ready"));
    assert_eq!(
        status,
        200,
        "server not ready; stderr:\n{}",
        server.stderr()
    );
}

/// Finding 7: tenant A runs a group whose every evaluation is slow (an alert per series
/// of 1,000, each annotation running PromQL queries over all of them) at a 1 s interval.
/// Tenant B's 1 s recording rule keeps every slot: its recorded series has no gap
/// longer than one interval over 10 s, while A's group is time-boxed by A's query
/// timeout and counts its missed iterations.
#[test]
fn a_slow_group_of_one_tenant_does_not_delay_another_tenants_rules() {
    let server = TestServer::start(&[]);
    let a = server.initial_token.clone();
    put_limits(
        &server,
        "default",
        json!({"query_timeout": "2s", "max_concurrent_queries": 1}),
    );
    let t = now_ms() - 1_000;
    push_to(
        &server,
        &a,
        None,
        (0..1_000)
            .map(|i| {
                series(
                    &[("__name__", "heavy"), ("instance", &format!("i{i:04}"))],
                    &[(t, 1.0)],
                )
            })
            .collect(),
    );
    let slow = r#"name: slow
interval: 1s
rules:
  - alert: Heavy
    expr: heavy > 0
    annotations:
      summary: '{{ range query "heavy" }}{{ range query "heavy" }}{{ end }}{{ end }}'
"#;
    let (status, text) = upload(
        &server,
        &a,
        "/prometheus/config/v1/rules/attack",
        None,
        slow,
    );
    assert_eq!(status, 202, "{text}");
    // The attack is real: A's evaluations take long enough to miss their slots.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = group_json(&server, &a, "slow").expect("A's group listed");
        if g["iterationsMissed"].as_u64().unwrap_or(0) > 0
            && g["evaluationTime"].as_f64().unwrap_or(0.0) > 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "A's group never got slow: {g}");
        std::thread::sleep(Duration::from_millis(250));
    }

    let b = tenant_with_token(&server, "b", &["metrics:read", "rules:read", "rules:write"]);
    let tick = "name: tick\ninterval: 1s\nrules:\n  - record: b_tick\n    expr: vector(1)\n";
    let (status, text) = upload(&server, &b, "/prometheus/config/v1/rules/b", None, tick);
    assert_eq!(status, 202, "{text}");
    let from = now_ms() + 1_500;
    std::thread::sleep(Duration::from_millis(12_500));
    let to = now_ms() - 500;

    let mut stamps: Vec<i64> = server
        .export(&b, "b_tick")
        .iter()
        .flat_map(|e| e.samples())
        .map(|(ts, _)| ts)
        .filter(|ts| (from..=to).contains(ts))
        .collect();
    stamps.sort_unstable();
    assert!(
        stamps.len() >= 9,
        "B's rule ran {} times in ~10 s: {stamps:?}",
        stamps.len()
    );
    for pair in stamps.windows(2) {
        assert!(
            pair[1] - pair[0] <= 2_000,
            "B's 1 s rule skipped slots ({} ms gap) while A's group was slow: {stamps:?}",
            pair[1] - pair[0]
        );
    }
    let bg = group_json(&server, &b, "tick").expect("B's group listed");
    assert_eq!(bg["iterationsMissed"], 0, "{bg}");
    assert_eq!(bg["rules"][0]["health"], "ok", "{bg}");

    // A's group was time-boxed by A's 2 s query timeout, not left to run on.
    let g = group_json(&server, &a, "slow").unwrap();
    assert!(g["evaluationTime"].as_f64().unwrap() < 6.0, "{g}");
    assert!(
        server
            .metric("prometheus_rule_group_iterations_missed_total")
            .unwrap_or(0.0)
            > 0.0,
        "missed iterations counted"
    );
    // B's data is not A's: A's token sees no b_tick.
    assert!(server.export(&a, "b_tick").is_empty());
    assert_alive(&server);
}

/// Finding 7: a group asking for a 1 ms interval is refused by both rules APIs with the
/// limit named; a group stored before the tenant's minimum was raised runs at the
/// minimum, not at its own interval.
#[test]
fn intervals_below_the_tenants_minimum_are_refused_and_clamped() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let fast = "name: spin\ninterval: 1ms\nrules:\n  - record: spin\n    expr: vector(1)\n";
    for path in ["/prometheus/config/v1/rules/ns", "/loki/api/v1/rules/ns"] {
        let body = fast.replace("vector(1)", "sum(count_over_time({a=\"b\"}[1m]))");
        let yaml = if path.starts_with("/loki") {
            body.as_str()
        } else {
            fast
        };
        let (status, text) = upload(&server, &token, path, None, yaml);
        assert_eq!(status, 400, "{path}: {text}");
        assert!(
            text.contains("ruler-evaluation-interval-too-short"),
            "{text}"
        );
        assert!(text.contains("ruler_min_evaluation_interval"), "{text}");
    }
    let (status, _) = get(&server, &token, "/prometheus/config/v1/rules", None);
    assert_eq!(status, 404, "nothing was stored");

    // Stored at 1 s, then the operator raises the tenant's minimum to 3 s: new 1 s
    // uploads are refused and the stored group runs every 3 s.
    let ok = "name: clamped\ninterval: 1s\nrules:\n  - record: clamped\n    expr: vector(1)\n";
    let (status, text) = upload(&server, &token, "/prometheus/config/v1/rules/ns", None, ok);
    assert_eq!(status, 202, "{text}");
    put_limits(
        &server,
        "default",
        json!({"ruler_min_evaluation_interval": "3s"}),
    );
    let other = ok.replace("name: clamped", "name: other");
    let (status, text) = upload(
        &server,
        &token,
        "/prometheus/config/v1/rules/ns",
        None,
        &other,
    );
    assert_eq!(status, 400, "a new 1 s upload is refused now: {text}");
    std::thread::sleep(Duration::from_millis(3_500));
    let from = now_ms() + 1_000;
    std::thread::sleep(Duration::from_millis(10_000));
    let mut stamps: Vec<i64> = server
        .export(&token, "clamped")
        .iter()
        .flat_map(|e| e.samples())
        .map(|(ts, _)| ts)
        .filter(|ts| *ts >= from)
        .collect();
    stamps.sort_unstable();
    assert!(!stamps.is_empty(), "the clamped group still runs");
    assert!(
        stamps.len() <= 4,
        "a 1 s group ran {} times in 9 s under a 3 s minimum: {stamps:?}",
        stamps.len()
    );
    for pair in stamps.windows(2) {
        assert!(pair[1] - pair[0] >= 3_000, "{stamps:?}");
    }
    assert_alive(&server);
}

/// Finding 9: a token restricted to data source `prod` can neither bind a rule to
/// another data source, nor read another data source through a rule's expression or a
/// template's `query`, nor see, replace or delete the groups and alerts of rules that
/// read other data sources. Unrestricted tokens keep seeing everything.
#[test]
fn a_data_source_restricted_token_cannot_read_other_data_sources_through_rules() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    for name in ["prod", "staging"] {
        let (status, body) = server.post_json(
            &token,
            "/api/pitot/v1/datasources",
            None,
            &json!({"name": name, "type": "metrics"}),
        );
        assert_eq!(status, 201, "{body}");
    }
    let t = now_ms() - 2_000;
    push_to(
        &server,
        &token,
        Some("staging"),
        vec![series(&[("__name__", "secret_metric")], &[(t, 42.0)])],
    );
    push_to(
        &server,
        &token,
        Some("prod"),
        vec![series(&[("__name__", "prod_metric")], &[(t, 1.0)])],
    );
    let (status, created) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["rules:read", "rules:write", "metrics:read", "alerts:read"], "datasources": ["prod"]}),
    );
    assert_eq!(status, 201, "{created}");
    let limited = created["token"].as_str().unwrap().to_string();

    // The operator's own unbound group over staging: it fires, the limited token must
    // not see it.
    let spy =
        "name: spy\ninterval: 1s\nrules:\n  - alert: SecretHigh\n    expr: secret_metric > 0\n";
    let (status, text) = upload(
        &server,
        &token,
        "/prometheus/config/v1/rules/ops",
        None,
        spy,
    );
    assert_eq!(status, 202, "{text}");

    // Binding to a data source the token may not use, or to none, is refused.
    let leak = "name: leak\ninterval: 1s\nrules:\n  - alert: Leak\n    expr: secret_metric > 0\n";
    let (status, text) = upload(
        &server,
        &limited,
        "/prometheus/config/v1/rules/mine",
        None,
        leak,
    );
    assert_eq!(status, 403, "unbound upload by a restricted token: {text}");
    let (status, text) = upload(
        &server,
        &limited,
        "/ds/staging/prometheus/config/v1/rules/mine",
        None,
        leak,
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("staging"), "{text}");

    // Bound to prod, the same expressions and a template query read prod alone.
    let mine = r#"name: mine
interval: 1s
rules:
  - alert: Leak
    expr: secret_metric > 0
  - alert: ProdUp
    expr: prod_metric > 0
    annotations:
      leak: 'x{{ range query "secret_metric" }}{{ .Value }}{{ end }}x'
"#;
    let (status, text) = upload(
        &server,
        &limited,
        "/prometheus/config/v1/rules/mine",
        Some("prod"),
        mine,
    );
    assert_eq!(status, 202, "{text}");

    assert!(
        common::wait_until(Duration::from_secs(20), || {
            alert_names(&server, &token) == ["ProdUp", "SecretHigh"]
        }),
        "both groups evaluate: {:?}",
        alert_names(&server, &token)
    );
    // A few more evaluations of `mine`, so Leak would have fired if it could.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(alert_names(&server, &limited), ["ProdUp"]);
    let (_, body) = get(&server, &limited, "/prometheus/api/v1/alerts", None);
    let alert = &body["data"]["alerts"][0];
    assert_eq!(
        alert["annotations"]["leak"], "xx",
        "the template query read prod only: {alert}"
    );
    assert_eq!(alert["value"], "1e0");

    // The rules API and the configuration API show the limited token its group only.
    let (_, rules) = get(&server, &limited, "/prometheus/api/v1/rules", None);
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine"], "{rules}");
    let mine_json = group_json(&server, &limited, "mine").unwrap();
    assert_eq!(mine_json["datasource"], "prod");
    assert_eq!(mine_json["rules"][0]["health"], "ok", "{mine_json}");
    let (status, yaml) = send(
        server
            .get("/prometheus/config/v1/rules")
            .bearer_auth(&limited),
    );
    assert_eq!(status, 200);
    assert!(yaml.contains("mine") && !yaml.contains("spy"), "{yaml}");
    let (status, _) = send(
        server
            .get("/prometheus/config/v1/rules/ops/spy")
            .bearer_auth(&limited),
    );
    assert_eq!(status, 404);

    // Nor can it replace or delete the operator's group, or name staging to read.
    let (status, text) = upload(
        &server,
        &limited,
        "/prometheus/config/v1/rules/ops",
        Some("prod"),
        spy,
    );
    assert_eq!(status, 409, "{text}");
    let (status, _) = send(
        server
            .delete("/prometheus/config/v1/rules/ops/spy")
            .bearer_auth(&limited),
    );
    assert_eq!(status, 404);
    let (status, body) = get(
        &server,
        &limited,
        "/prometheus/api/v1/alerts",
        Some("staging"),
    );
    assert_eq!(status, 403, "{body}");
    // The tenant's Alertmanager holds the alerts of every data source: closed to it.
    let (status, body) = get(&server, &limited, "/alertmanager/api/v2/alerts", None);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string()
            .contains("alertmanager-needs-unrestricted-token"),
        "{body}"
    );
    let (status, body) = get(&server, &token, "/alertmanager/api/v2/alerts", None);
    assert_eq!(status, 200, "{body}");

    // The unrestricted token still sees everything, the operator's group intact.
    let (_, all) = get(&server, &token, "/prometheus/api/v1/rules", None);
    assert_eq!(all["data"]["groups"].as_array().unwrap().len(), 2, "{all}");
    assert_eq!(alert_names(&server, &token), ["ProdUp", "SecretHigh"]);
    assert_alive(&server);
}

/// Finding 11: twelve uploads of distinct groups at the same moment against a limit
/// of 3 store exactly 3; the others are refused with the limit's reason ID.
#[test]
fn concurrent_uploads_never_pass_the_rule_group_limit() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    put_limits(
        &server,
        "default",
        json!({"ruler_max_rule_groups_per_tenant": 3}),
    );
    let b = tenant_with_token(&server, "b", &["rules:read", "rules:write"]);
    let barrier = std::sync::Barrier::new(12);
    let results: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (server, token, barrier) = (&server, &token, &barrier);
                scope.spawn(move || {
                    let yaml = format!(
                        "name: g{i}\ninterval: 1m\nrules:\n  - record: r{i}\n    expr: vector({i})\n"
                    );
                    barrier.wait();
                    upload(server, token, &format!("/prometheus/config/v1/rules/ns{i}"), None, &yaml)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted = results.iter().filter(|(s, _)| *s == 202).count();
    assert_eq!(accepted, 3, "{results:?}");
    for (status, text) in results.iter().filter(|(s, _)| *s != 202) {
        assert_eq!(*status, 400, "{text}");
        assert!(text.contains("per-tenant-rule-groups-limit"), "{text}");
        assert!(text.contains("ruler_max_rule_groups_per_tenant"), "{text}");
    }
    let (status, yaml) = send(
        server
            .get("/prometheus/config/v1/rules")
            .bearer_auth(&token),
    );
    assert_eq!(status, 200);
    let stored: std::collections::BTreeMap<String, Vec<Value>> =
        serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(stored.values().map(Vec::len).sum::<usize>(), 3, "{yaml}");
    // Tenant b is not held to a's limit.
    for i in 0..4 {
        let yaml = format!("name: b{i}\nrules:\n  - record: r\n    expr: vector(1)\n");
        let (status, text) = upload(&server, &b, "/prometheus/config/v1/rules/b", None, &yaml);
        assert_eq!(status, 202, "{text}");
    }
    assert_alive(&server);
}
