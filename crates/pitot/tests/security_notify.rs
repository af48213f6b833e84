//! Issue 16, findings 4, 5 and (Alertmanager part of) 11, reproduced against the real binary:
//! a tenant's hanging webhook must not delay another tenant's notification; tenant-configured
//! receivers must not reach internal addresses, follow redirects, echo bodies or inject SMTP
//! lines; and the Alertmanager's per-tenant objects are bounded, also under concurrent writes.
//! Each attack must fail harmlessly: named refusal, server alive, other tenant unaffected.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::{json, Value};

/// Reads one HTTP request; returns its request line and body.
fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut len = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    (first, body)
}

/// A listener that accepts connections and never answers: its `host:port` and how many
/// connections it accepted.
fn black_hole() -> (String, Arc<AtomicUsize>) {
    let (url, count) = common::hanging_endpoint();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/hang")
        .to_string();
    (addr, count)
}

/// An "internal service": `/secret` answers a secret, `/moved` redirects to it, `/refuse`
/// answers 400 with the secret in the body. Counts requests to `/secret`.
fn internal_service() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (line, _) = read_request(&mut stream);
            let answer = if line.contains(" /secret") {
                seen.fetch_add(1, Ordering::SeqCst);
                "HTTP/1.1 200 OK\r\ncontent-length: 14\r\nconnection: close\r\n\r\nTOPSECRET-1234"
            } else if line.contains(" /moved") {
                "HTTP/1.1 302 Found\r\nlocation: /secret\r\ncontent-length: 14\r\nconnection: close\r\n\r\nTOPSECRET-5678"
            } else {
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 14\r\nconnection: close\r\n\r\nTOPSECRET-9999"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (addr, hits)
}

fn upload_config(server: &TestServer, token: &str, alertmanager_yaml: &str) -> (u16, String) {
    let indented: String = alertmanager_yaml
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    let doc = format!("alertmanager_config: |\n{indented}");
    let response = server
        .post("/api/v1/alerts")
        .bearer_auth(token)
        .body(doc)
        .send()
        .unwrap();
    common::status_and_text(response)
}

fn webhook_config(url: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n        timeout: 1h\n"
    )
}

fn post_alerts(server: &TestServer, token: &str, names: &[String]) -> (u16, String) {
    let far = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let alerts: Vec<Value> = names
        .iter()
        .map(
            |n| json!({"labels": {"alertname": n}, "annotations": {"summary": "s"}, "endsAt": far}),
        )
        .collect();
    let response = server
        .post("/alertmanager/api/v2/alerts")
        .bearer_auth(token)
        .json(&alerts)
        .send()
        .unwrap();
    common::status_and_text(response)
}

fn post_silence(server: &TestServer, token: &str, value: &str) -> (u16, String) {
    let silence = json!({
        "matchers": [{"name": "alertname", "value": value, "isRegex": false, "isEqual": true}],
        "startsAt": chrono::Utc::now().to_rfc3339(),
        "endsAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test", "comment": "c",
    });
    let response = server
        .post("/alertmanager/api/v2/silences")
        .bearer_auth(token)
        .json(&silence)
        .send()
        .unwrap();
    common::status_and_text(response)
}

/// Creates tenant `name` and returns a token with every alerting scope.
fn tenant(server: &TestServer, name: &str) -> String {
    server.create_tenant(name, &["alerts:read", "alerts:write"])
}

fn set_limits(server: &TestServer, tenant: &str, limits: Value) {
    server.put_limits(tenant, &limits);
}

fn assert_alive(server: &TestServer) {
    let response = server.get("/health").send().unwrap();
    assert_eq!(response.status().as_u16(), 200, "server alive");
}

fn wait_for(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Finding 4: tenant A's webhook accepts connections and never answers (with a 1h timeout in
/// its config) for many groups at once; tenant B's alert still reaches B's webhook within a
/// few seconds of its group_wait.
#[test]
fn a_hanging_webhook_does_not_delay_another_tenant() {
    let server = TestServer::start(&["--egress-allow", "127.0.0.1/32"]);
    let token_a = server.initial_token.clone();
    let token_b = tenant(&server, "b");
    let (hole, connections) = black_hole();
    let (url_b, got_b) = common::webhook_sink();

    let (status, text) = upload_config(
        &server,
        &token_a,
        &webhook_config(&format!("http://{hole}/hook")),
    );
    assert_eq!(status, 201, "{text}");
    let (status, text) = upload_config(&server, &token_b, &webhook_config(&url_b));
    assert_eq!(status, 201, "{text}");

    // Thirty groups of A, more than A's send slots, all hanging.
    let names: Vec<String> = (0..30).map(|i| format!("Hang{i}")).collect();
    assert_eq!(post_alerts(&server, &token_a, &names).0, 200);
    assert!(
        wait_for(10, || connections.load(Ordering::SeqCst) >= 1),
        "A's sends reached the black hole"
    );
    std::thread::sleep(Duration::from_secs(1));

    let posted = Instant::now();
    assert_eq!(
        post_alerts(&server, &token_b, &["OnTime".to_string()]).0,
        200
    );
    assert!(
        wait_for(15, || !got_b.lock().unwrap().is_empty()),
        "B's notification never arrived"
    );
    let (arrived, body) = got_b.lock().unwrap()[0].clone();
    let delay = arrived - posted;
    // group_wait is 1s and the engine flushes every second.
    assert!(delay < Duration::from_secs(4), "B's alert took {delay:?}");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "OnTime");
    assert!(
        connections.load(Ordering::SeqCst) <= 8,
        "A holds at most its send slots: {} connections",
        connections.load(Ordering::SeqCst)
    );
    assert_alive(&server);
}

/// Finding 5: receivers cannot reach loopback by default (literal IPs refused at upload, host
/// names at send), the secret never appears in any answer, and nothing reaches the service.
#[test]
fn internal_addresses_are_refused_by_default() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let (addr, hits) = internal_service();
    let port = addr.rsplit(':').next().unwrap();

    // A literal loopback address is refused at upload, naming the policy.
    let (status, text) = upload_config(
        &server,
        &token,
        &webhook_config(&format!("http://{addr}/secret")),
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("egress-denied") && text.contains("egress.allow"),
        "{text}"
    );
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/contact-points",
        None,
        &json!({"name": "lit", "type": "webhook", "url": format!("http://{addr}/secret")}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("egress-denied"),
        "{body}"
    );

    // A host name resolving to loopback is refused when it is resolved, at send time.
    for (name, path) in [("named", "secret"), ("mapped", "secret")] {
        let url = if name == "named" {
            format!("http://localhost:{port}/{path}")
        } else {
            format!("http://[::ffff:127.0.0.1]:{port}/{path}")
        };
        let (status, body) = server.post_json(
            &token,
            "/api/pitot/v1/contact-points",
            None,
            &json!({"name": name, "type": "webhook", "url": url}),
        );
        if name == "mapped" {
            // A literal (mapped) address is refused at creation already.
            assert_eq!(status, 400, "{body}");
            assert!(body.to_string().contains("egress-denied"), "{body}");
            continue;
        }
        assert_eq!(status, 201, "{body}");
        let response = server
            .post(&format!("/api/pitot/v1/contact-points/{name}/test"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        let (status, text) = common::status_and_text(response);
        assert_eq!(status, 502, "{text}");
        assert!(text.contains("egress-denied"), "{text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal service was never reached"
    );
    assert!(!server.stderr().contains("TOPSECRET"));
    assert_alive(&server);
}

/// Finding 5, with loopback allowed by the operator: a 302 is not followed and neither the
/// redirect's nor an error's body is echoed; SMTP `hello`, smarthost and headers with line
/// breaks are refused at upload, naming the field.
#[test]
fn redirects_bodies_and_smtp_injection_are_refused() {
    let server = TestServer::start(&["--egress-allow", "127.0.0.1/32"]);
    let token = server.initial_token.clone();
    let (addr, hits) = internal_service();

    for (name, path, code) in [("moved", "moved", "302"), ("refuse", "refuse", "400")] {
        let (status, body) = server.post_json(
            &token,
            "/api/pitot/v1/contact-points",
            None,
            &json!({"name": name, "type": "webhook", "url": format!("http://{addr}/{path}")}),
        );
        assert_eq!(status, 201, "{body}");
        let response = server
            .post(&format!("/api/pitot/v1/contact-points/{name}/test"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        let (status, text) = common::status_and_text(response);
        assert_eq!(status, 502, "{text}");
        assert!(text.contains(code), "{text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );

    let (smtp, smtp_connections) = black_hole();
    let email = |extra: &str| {
        format!(
            "route:\n  receiver: mail\nreceivers:\n  - name: mail\n    email_configs:\n      - to: oncall@example.com\n        from: pitot@example.com\n        smarthost: '{smtp}'\n        require_tls: false\n{extra}"
        )
    };
    for (extra, field) in [
        ("        hello: \"x\\r\\nSET pwned 1\\r\\nQUIT\"\n", "hello"),
        (
            "        headers: {X-Team: \"db\\r\\nBcc: x@evil.example\"}\n",
            "headers",
        ),
        ("        text: ok\n        hello: \"two words\"\n", "hello"),
    ] {
        let (status, text) = upload_config(&server, &token, &email(extra));
        assert_eq!(status, 400, "{field}: {text}");
        assert!(text.contains(field), "{field}: {text}");
    }
    let (status, text) = upload_config(
        &server,
        &token,
        &email("").replace(&format!("'{smtp}'"), "\"mx.example.com\\r\\nQUIT:25\""),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("smarthost"), "{text}");
    // Email contact points need the tenant's own server: no default to the operator's MTA.
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/contact-points",
        None,
        &json!({"name": "mail", "type": "email", "addresses": ["a@example.com"], "from": "ceo@provider.example"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("contact-point-smarthost-required"),
        "{body}"
    );
    assert_eq!(smtp_connections.load(Ordering::SeqCst), 0);
    assert_alive(&server);
}

/// Finding 11: alerts, silences and contact points beyond the tenant's limits are refused,
/// naming the limit; concurrent creations cannot exceed a limit; another tenant is unaffected.
#[test]
fn alertmanager_objects_are_bounded_per_tenant() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let token_b = tenant(&server, "b");
    set_limits(
        &server,
        "default",
        json!({"alertmanager_max_alerts_count": 3, "alertmanager_max_silences_count": 4, "max_contact_points": 3, "alertmanager_max_config_size_bytes": 2000}),
    );

    let names = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    };
    assert_eq!(post_alerts(&server, &token, &names("A", 3)).0, 200);
    let (status, text) = post_alerts(&server, &token, &names("B", 1));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("alertmanager-max-alerts-count")
            && text.contains("alertmanager_max_alerts_count"),
        "{text}"
    );
    assert_eq!(
        post_alerts(&server, &token, &names("A", 2)).0,
        200,
        "updates are allowed"
    );
    let alerts: Value = server
        .get("/alertmanager/api/v2/alerts")
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 3);
    assert_eq!(
        post_alerts(&server, &token_b, &names("B", 10)).0,
        200,
        "b unaffected"
    );

    // Silences created concurrently never exceed the limit.
    let ok = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..12 {
            let (server, token, ok, refused) = (&server, &token, &ok, &refused);
            scope.spawn(move || {
                let (status, text) = post_silence(server, token, &format!("S{i}"));
                match status {
                    200 => ok.fetch_add(1, Ordering::SeqCst),
                    400 => {
                        assert!(text.contains("alertmanager-max-silences-count"), "{text}");
                        refused.fetch_add(1, Ordering::SeqCst)
                    }
                    other => panic!("{other}: {text}"),
                };
            });
        }
    });
    assert_eq!(ok.load(Ordering::SeqCst), 4);
    assert_eq!(refused.load(Ordering::SeqCst), 8);
    let silences: Value = server
        .get("/alertmanager/api/v2/silences")
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(silences.as_array().unwrap().len(), 4);
    assert_eq!(post_silence(&server, &token_b, "X").0, 200, "b unaffected");

    // Contact points created concurrently never exceed the limit either.
    let created = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let (server, token, created) = (&server, &token, &created);
            scope.spawn(move || {
                let (status, body) = server.post_json(
                    token,
                    "/api/pitot/v1/contact-points",
                    None,
                    &json!({"name": format!("cp{i}"), "type": "webhook", "url": "https://hooks.example.com/x"}),
                );
                match status {
                    201 => {
                        created.fetch_add(1, Ordering::SeqCst);
                    }
                    400 => assert!(body.to_string().contains("max-contact-points"), "{body}"),
                    other => panic!("{other}: {body}"),
                }
            });
        }
    });
    assert_eq!(created.load(Ordering::SeqCst), 3);
    let (_, listed) = server.get_json(&token, "/api/pitot/v1/contact-points", &[]);
    assert_eq!(listed["contact_points"].as_array().unwrap().len(), 3);

    // A configuration above the size limit is refused before it is parsed.
    let big = format!(
        "{}# {}\n",
        webhook_config("https://hooks.example.com/x"),
        "x".repeat(3000)
    );
    let (status, text) = upload_config(&server, &token, &big);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("alertmanager_max_config_size_bytes"),
        "{text}"
    );
    assert_alive(&server);
}
