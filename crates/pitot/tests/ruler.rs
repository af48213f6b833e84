//! The ruler end to end: rule groups uploaded through the Mimir configuration API are
//! validated, stored, evaluated on schedule (recording results written back, alerts
//! pending then firing with rendered annotations), listed by Prometheus' rules and
//! alerts APIs, kept across restarts, deleted, and kept apart per tenant.

mod common;

use std::time::{Duration, Instant};

use common::{now_ms, series, write_request, TestServer};
use serde_json::{json, Value};

const GROUP: &str = r#"name: g1
interval: 1s
rules:
  - record: job:test_metric:sum
    expr: sum(test_metric)
  - alert: HighValue
    expr: test_metric > 5
    for: 2s
    labels:
      severity: page
    annotations:
      summary: "value {{ $value }} on {{ $labels.instance }}"
"#;

fn post_group(server: &TestServer, token: &str, namespace: &str, body: &str) -> (u16, String) {
    let response = server
        .post(&format!("/prometheus/config/v1/rules/{namespace}"))
        .bearer_auth(token)
        .header("Content-Type", "application/yaml")
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn get_text(server: &TestServer, token: &str, path: &str) -> (u16, String) {
    let response = server.get(path).bearer_auth(token).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn alerts(server: &TestServer, token: &str) -> Vec<Value> {
    let (status, text) = get_text(server, token, "/prometheus/api/v1/alerts");
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["data"]["alerts"].as_array().unwrap().clone()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rule_groups_are_validated_evaluated_listed_and_isolated() {
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
        &json!({"tenant": "b", "scopes": ["rules:read", "rules:write", "metrics:read"]}),
    );
    let token_b = body["token"].as_str().unwrap().to_string();

    // Validation names the rule.
    let (status, text) = post_group(
        &server,
        &token,
        "ns1",
        "name: bad\nrules:\n  - alert: Broken\n    expr: sum(\n",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Broken"), "{text}");
    assert!(
        text.contains("line 3, column 5"),
        "where the rule is: {text}"
    );
    let (status, text) = post_group(
        &server,
        &token,
        "ns1",
        "name: bad\nrules:\n  - record: \"not a name\"\n    expr: up\n",
    );
    assert_eq!(status, 400, "{text}");
    let (status, text) = post_group(&server, &token, "ns1", "not: [yaml");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("line 1 column"),
        "where the YAML breaks: {text}"
    );

    let (status, text) = post_group(&server, &token, "ns1", GROUP);
    assert_eq!(status, 202, "{text}");
    let t = now_ms();
    let request = write_request(vec![series(
        &[("__name__", "test_metric"), ("instance", "a")],
        &[(t - 1000, 10.0), (t, 10.0)],
    )]);
    assert_eq!(server.push(&token, &request).0, 204);

    wait_for("the alert to fire", || {
        alerts(&server, &token)
            .iter()
            .any(|a| a["state"] == "firing" && a["labels"]["alertname"] == "HighValue")
    });
    let firing = alerts(&server, &token);
    assert_eq!(firing[0]["labels"]["severity"], "page");
    assert_eq!(firing[0]["annotations"]["summary"], "value 10 on a");
    wait_for("the recording rule's output", || {
        let data = server.get_data(&token, "/api/v1/query", &[("query", "job:test_metric:sum")]);
        data["result"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["value"][1] == "10")
    });

    // The rules API, with the type filter.
    let data = server.get_data(&token, "/api/v1/rules", &[]);
    let rules = data["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(data["groups"][0]["name"], "g1");
    assert_eq!(data["groups"][0]["file"], "ns1");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["type"], "recording");
    assert_eq!(rules[0]["health"], "ok");
    assert_eq!(rules[1]["state"], "firing");
    let only_alerts = server.get_data(&token, "/prometheus/api/v1/rules", &[("type", "alert")]);
    assert_eq!(
        only_alerts["groups"][0]["rules"].as_array().unwrap().len(),
        1
    );

    // The configuration API gives the YAML back.
    let (status, text) = get_text(&server, &token, "/prometheus/config/v1/rules");
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("ns1:") && text.contains("HighValue"),
        "{text}"
    );
    let (status, text) = get_text(&server, &token, "/prometheus/config/v1/rules/ns1/g1");
    assert_eq!(status, 200);
    assert!(text.contains("job:test_metric:sum"), "{text}");

    // Tenant b sees none of it.
    assert_eq!(
        get_text(&server, &token_b, "/prometheus/config/v1/rules").0,
        404
    );
    assert_eq!(
        get_text(&server, &token_b, "/prometheus/config/v1/rules/ns1/g1").0,
        404
    );
    assert!(alerts(&server, &token_b).is_empty());
    let data = server.get_data(&token_b, "/api/v1/rules", &[]);
    assert_eq!(data["groups"], json!([]));
    let response = server
        .delete("/prometheus/config/v1/rules/ns1/g1")
        .bearer_auth(&token_b)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404, "b cannot delete a's group");

    // Stored groups survive a restart and are evaluated again.
    server.restart();
    wait_for("the group to run after restart", || {
        let data = server.get_data(&token, "/api/v1/rules", &[]);
        data["groups"][0]["rules"][1]["health"] == "ok"
    });

    let response = server
        .delete("/prometheus/config/v1/rules/ns1/g1")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        get_text(&server, &token, "/prometheus/config/v1/rules").0,
        404
    );
    assert_eq!(
        server.get_data(&token, "/api/v1/rules", &[])["groups"],
        json!([])
    );
}

/// `pitot rules sync|list|delete` against a running server, as mimirtool.
#[test]
fn rules_cli_syncs_lists_and_deletes() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team-a.yml");
    std::fs::write(
        &file,
        format!(
            "groups:\n  - {}\n  - name: g2\n    rules:\n      - record: x:up\n        expr: up\n",
            GROUP.replace('\n', "\n    ").trim_end()
        ),
    )
    .unwrap();
    let pitot = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
            .arg("rules")
            .args(["--address", server.base_url(), "--token", &token])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = pitot(&["sync", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("2 rule groups uploaded"), "{out}");
    let (ok, out) = pitot(&["list"]);
    assert!(ok && out.contains("team-a:") && out.contains("g2"), "{out}");
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: b\n    rules:\n      - alert: Broken\n        expr: sum(\n",
    )
    .unwrap();
    let (ok, out) = pitot(&["sync", bad.to_str().unwrap()]);
    assert!(
        !ok && out.contains("Broken"),
        "checked locally before upload: {out}"
    );
    let (ok, out) = pitot(&["delete", "team-a", "g2"]);
    assert!(ok, "{out}");
    let (_, out) = pitot(&["list"]);
    assert!(out.contains("g1") && !out.contains("g2"), "{out}");

    // Sync makes the server what the files say, as mimirtool's: unchanged groups are
    // left alone, groups in no file any more are deleted, Pitot's own ready-made alerts
    // are kept.
    let response = server
        .put("/api/pitot/v1/ready-made-alerts")
        .bearer_auth(&token)
        .body(r#"{"enabled": true}"#)
        .send()
        .unwrap();
    assert!(response.status().is_success());
    let (ok, out) = pitot(&["sync", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 rule groups uploaded (1 new, 0 changed), 1 unchanged, 0 deleted"),
        "{out}"
    );
    let other = dir.path().join("team-b.yml");
    std::fs::write(
        &other,
        "groups:\n  - name: g3\n    rules:\n      - record: y:up\n        expr: up\n",
    )
    .unwrap();
    let (ok, out) = pitot(&["sync", other.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("deleted team-a/g1") && out.contains("deleted team-a/g2"),
        "{out}"
    );
    assert!(
        out.contains("1 rule groups uploaded (1 new, 0 changed), 0 unchanged, 2 deleted"),
        "{out}"
    );
    let (_, out) = pitot(&["list"]);
    assert!(!out.contains("team-a:") && out.contains("team-b:"), "{out}");
    assert!(out.contains("pitot-ready-made:"), "{out}");
}

/// LogQL rules through Loki's ruler API: recording results land in the tenant's
/// metrics and alerts fire on log lines.
#[test]
fn logql_rules_record_and_alert_on_logs() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let group = "name: logs\ninterval: 1s\nrules:\n  - record: app:lines:5m\n    expr: sum by (app) (count_over_time({app=\"x\"}[5m]))\n  - alert: ErrorsLogged\n    expr: sum(count_over_time({app=\"x\"} |= \"error\" [5m])) > 0\n";
    let response = server
        .post("/loki/api/v1/rules/logs-ns")
        .bearer_auth(&token)
        .header("Content-Type", "application/yaml")
        .body(group)
        .send()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        202,
        "{}",
        response.text().unwrap()
    );
    let bad = server
        .post("/loki/api/v1/rules/logs-ns")
        .bearer_auth(&token)
        .body("name: b\nrules:\n  - alert: Log\n    expr: '{app=\"x\"}'\n")
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400, "a log query is not a rule");
    let ns = common::now_ns();
    let (status, text) = server.loki_push_json(
        &token,
        &json!({"streams": [{"stream": {"app": "x"}, "values": [[ns.to_string(), "all good"], [(ns + 1).to_string(), "an error happened"]]}]}),
    );
    assert_eq!(status, 204, "{text}");
    wait_for("the LogQL alert", || {
        alerts(&server, &token)
            .iter()
            .any(|a| a["labels"]["alertname"] == "ErrorsLogged" && a["state"] == "firing")
    });
    wait_for("the LogQL recording rule's output", || {
        let data = server.get_data(&token, "/api/v1/query", &[("query", "app:lines:5m")]);
        data["result"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["value"][1] == "2")
    });
    let (status, text) = get_text(&server, &token, "/loki/api/v1/rules");
    assert_eq!(status, 200);
    assert!(text.contains("logs-ns:"), "{text}");
    assert_eq!(
        get_text(&server, &token, "/prometheus/config/v1/rules").0,
        404,
        "Prometheus' API lists PromQL groups only"
    );
}
