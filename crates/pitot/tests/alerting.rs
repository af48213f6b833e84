//! Alerting end to end: a rule group and an Alertmanager configuration uploaded through
//! the Mimir APIs; pushed metrics cross a threshold; the alert fires and a local webhook
//! receives exactly one firing notification, then one resolved; the API v2 lists alerts
//! and manages silences; another tenant sees none of it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{now_ms, series, webhook_sink, write_request, Received, TestServer};
use serde_json::{json, Value};

/// The JSON bodies a [`webhook_sink`] received so far, in order.
fn bodies(got: &Received) -> Vec<Value> {
    got.lock().unwrap().iter().map(|(_, v)| v.clone()).collect()
}

/// A minimal SMTP sink on a free port; returns its `host:port` and the messages (DATA)
/// it received.
fn smtp_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 sink ESMTP\r\n");
                let mut data = String::new();
                let mut in_data = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            sink.lock().unwrap().push(std::mem::take(&mut data));
                            let _ = stream.write_all(b"250 queued\r\n");
                        } else {
                            data.push_str(&line);
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = stream.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = stream.write_all(reply);
                }
            });
        }
    });
    (addr, got)
}

fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn push_value(server: &TestServer, token: &str, v: f64) {
    let t = now_ms();
    let request = write_request(vec![series(
        &[("__name__", "queue_depth"), ("instance", "a")],
        &[(t, v)],
    )]);
    assert_eq!(server.push(token, &request).0, 204);
}

#[test]
fn a_rule_fires_notifies_once_then_resolves() {
    let server = TestServer::start(&["--egress-allow", "127.0.0.1/32"]);
    let token = server.initial_token.clone();
    let platform = server.platform_token.clone();
    let (url, got) = webhook_sink();
    let (smtp, mails) = smtp_sink();

    let config = format!(
        "alertmanager_config: |\n  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 1s\n    group_interval: 1s\n    repeat_interval: 1h\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: {url}\n      email_configs:\n        - to: oncall@example.com\n          from: pitot@example.com\n          smarthost: {smtp}\n          require_tls: false\n          send_resolved: true\n"
    );
    let response = server
        .post("/api/v1/alerts")
        .bearer_auth(&token)
        .body(config.clone())
        .send()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        201,
        "{}",
        response.text().unwrap()
    );
    let response = server
        .get("/api/v1/alerts")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().unwrap().contains("webhook_configs"));
    let bad = server
        .post("/api/v1/alerts")
        .bearer_auth(&token)
        .body("alertmanager_config: |\n  route: {}\n")
        .send()
        .unwrap();
    assert_eq!(
        bad.status().as_u16(),
        400,
        "a route without a receiver is refused"
    );

    let group = "name: queue\ninterval: 1s\nrules:\n  - alert: QueueTooDeep\n    expr: queue_depth > 100\n    labels:\n      severity: page\n    annotations:\n      summary: \"depth {{ $value }}\"\n";
    let response = server
        .post("/prometheus/config/v1/rules/ops")
        .bearer_auth(&token)
        .body(group)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    push_value(&server, &token, 500.0);
    wait_for("the firing notification", 20, || !bodies(&got).is_empty());
    let first = bodies(&got)[0].clone();
    assert_eq!(first["status"], "firing", "{first}");
    assert_eq!(first["version"], "4");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "QueueTooDeep");
    assert_eq!(first["alerts"][0]["annotations"]["summary"], "depth 500");

    // The API v2 lists the alert; a silence can be created, listed and expired.
    let alerts: Value = server
        .get("/alertmanager/api/v2/alerts")
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    let silence = json!({
        "matchers": [{"name": "alertname", "value": "Other", "isRegex": false, "isEqual": true}],
        "startsAt": chrono_now(0), "endsAt": chrono_now(3600), "createdBy": "test", "comment": "maintenance"
    });
    let created: Value = server
        .post("/alertmanager/api/v2/silences")
        .bearer_auth(&token)
        .json(&silence)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["silenceID"].as_str().unwrap().to_string();
    let silences: Value = server
        .get("/alertmanager/api/v2/silences")
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(silences.as_array().unwrap().len(), 1);

    // Another tenant sees nothing.
    server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    let (_, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "b", "scopes": ["alerts:read", "alerts:write"]}),
    );
    let token_b = body["token"].as_str().unwrap().to_string();
    let alerts_b: Value = server
        .get("/alertmanager/api/v2/alerts")
        .bearer_auth(&token_b)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(alerts_b, json!([]));
    let silences_b: Value = server
        .get("/alertmanager/api/v2/silences")
        .bearer_auth(&token_b)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(silences_b, json!([]));
    assert_eq!(
        server
            .delete(&format!("/alertmanager/api/v2/silence/{id}"))
            .bearer_auth(&token_b)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        server
            .get("/api/v1/alerts")
            .bearer_auth(&token_b)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        server
            .delete(&format!("/alertmanager/api/v2/silence/{id}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // Back under the threshold: exactly one resolved notification follows.
    std::thread::sleep(Duration::from_secs(2));
    push_value(&server, &token, 1.0);
    wait_for("the resolved notification", 30, || {
        bodies(&got).iter().any(|n| n["status"] == "resolved")
    });
    std::thread::sleep(Duration::from_secs(2));
    let all = bodies(&got);
    let firing = all.iter().filter(|n| n["status"] == "firing").count();
    let resolved = all.iter().filter(|n| n["status"] == "resolved").count();
    assert_eq!((firing, resolved), (1, 1), "{all:?}");
    wait_for("the resolved email", 20, || {
        mails.lock().unwrap().len() >= 2
    });
    let mails = mails.lock().unwrap().clone();
    assert_eq!(
        mails.len(),
        2,
        "one firing and one resolved email: {mails:?}"
    );
    assert!(
        mails.iter().all(|m| m.contains("QueueTooDeep")),
        "{mails:?}"
    );
    assert!(
        mails[0]
            .to_ascii_lowercase()
            .contains("to: oncall@example.com"),
        "{}",
        mails[0]
    );
}

/// RFC 3339 `secs` from now.
fn chrono_now(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// Contact points: a webhook added through the management API gets a test notification
/// on request, and alerts of a tenant without its own configuration are routed to it.
#[test]
fn contact_points_route_alerts_and_test_send() {
    let server = TestServer::start(&["--egress-allow", "127.0.0.1/32"]);
    let token = server.initial_token.clone();
    let (url, got) = webhook_sink();
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/contact-points",
        None,
        &json!({"name": "ops-hook", "type": "webhook", "url": url}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/contact-points",
        None,
        &json!({"name": "bad", "type": "pager"}),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/contact-points/ops-hook/test",
        None,
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the test notification", 10, || !bodies(&got).is_empty());
    assert_eq!(
        bodies(&got)[0]["alerts"][0]["labels"]["alertname"],
        "PitotTestNotification"
    );

    let group = "name: cp\ninterval: 1s\nrules:\n  - alert: AlwaysOn\n    expr: vector(1)\n";
    let response = server
        .post("/prometheus/config/v1/rules/cp")
        .bearer_auth(&token)
        .body(group)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    wait_for("the routed alert", 60, || {
        bodies(&got)
            .iter()
            .any(|n| n["alerts"][0]["labels"]["alertname"] == "AlwaysOn")
    });
    let (_, listed) = server.get_json(&token, "/api/pitot/v1/contact-points", &[]);
    assert_eq!(listed["contact_points"][0]["name"], "ops-hook", "{listed}");
}

/// Ready-made alerts: one call turns the bundled group on or off; the self-metrics it
/// reads appear in the tenant's own metrics.
#[test]
fn ready_made_alerts_toggle_and_self_metrics() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let put = |enabled: bool| {
        server
            .client()
            .put(format!(
                "{}/api/pitot/v1/ready-made-alerts",
                server.base_url()
            ))
            .bearer_auth(&token)
            .json(&json!({ "enabled": enabled }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(put(true), 200);
    let (_, status) = server.get_json(&token, "/api/pitot/v1/ready-made-alerts", &[]);
    assert_eq!(status["enabled"], true);
    let rules = server.get_data(&token, "/api/v1/rules", &[]);
    let group = &rules["groups"][0];
    assert_eq!(group["name"], "pitot-tenant-health", "{rules}");
    assert_eq!(group["rules"].as_array().unwrap().len(), 4);

    push_value(&server, &token, 1.0);
    // Self-metrics live in the tenant's managed data source, which rules also read.
    wait_for("the tenant's self-metrics", 25, || {
        let body: serde_json::Value = server
            .get("/api/v1/query")
            .bearer_auth(&token)
            .header("X-Pitot-Datasource", "pitot")
            .query(&[("query", "pitot_tenant_ingested_samples_total")])
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });
    let own = server.get_data(
        &token,
        "/api/v1/query",
        &[("query", "pitot_tenant_ingested_samples_total")],
    );
    assert_eq!(own["result"], json!([]), "not in the billed data source");

    assert_eq!(put(false), 200);
    let rules = server.get_data(&token, "/api/v1/rules", &[]);
    assert_eq!(rules["groups"], json!([]));
}
