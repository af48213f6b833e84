//! Real integrations against local servers: webhook retries with backoff, email to an SMTP sink,
//! the Slack body, and the egress policy, timeout cap and body hiding around all of them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use pitot_alertmanager::alert::Alert;
use pitot_alertmanager::config::Integration;
use pitot_alertmanager::template::Templates;
use pitot_alertmanager::{
    AlertmanagerConfig, EgressPolicy, IntegrationNotifier, Notification, Notifier, RetryPolicy,
};
use pitot_core::TenantId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-03T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn notification() -> Notification {
    let alert = |instance: &str, ends_in_secs: i64| Alert {
        labels: BTreeMap::from([
            ("alertname".to_string(), "HighCPU".to_string()),
            ("instance".to_string(), instance.to_string()),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), format!("cpu on {instance}"))]),
        starts_at: now() - chrono::Duration::minutes(10),
        ends_at: now() + chrono::Duration::seconds(ends_in_secs),
        generator_url: "http://prom/graph".to_string(),
        updated_at: now(),
        timeout: false,
    };
    Notification {
        tenant: TenantId::new("acme").unwrap(),
        receiver: "team".to_string(),
        group_key: "{}:{alertname=\"HighCPU\"}".to_string(),
        group_labels: BTreeMap::from([("alertname".to_string(), "HighCPU".to_string())]),
        alerts: vec![alert("a", 3600), alert("b", -60), alert("c", 3600)],
        now: now(),
        external_url: "http://pitot/alertmanager".to_string(),
    }
}

fn integration(yaml_receiver: &str) -> (Integration, Templates) {
    let yaml = format!("route: {{receiver: r}}\nreceivers:\n  - name: r\n{yaml_receiver}");
    let cfg = AlertmanagerConfig::parse(&yaml, BTreeMap::new()).unwrap();
    let templates = Templates::new(&cfg.template_files).unwrap();
    (cfg.receivers[0].integrations[0].clone(), templates)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(5),
        max_attempt_timeout: Duration::from_secs(5),
    }
}

/// The local test servers listen on loopback, which the default egress policy denies.
fn loopback_notifier(retry: RetryPolicy) -> IntegrationNotifier {
    IntegrationNotifier::with_egress(
        retry,
        Arc::new(EgressPolicy::new(
            vec!["127.0.0.0/8".parse().unwrap()],
            Vec::new(),
        )),
    )
}

#[derive(Default)]
struct Hook {
    calls: AtomicUsize,
    fail_first: usize,
    fail_status: u16,
    times: Mutex<Vec<Instant>>,
    bodies: Mutex<Vec<(HeaderMap, serde_json::Value)>>,
}

async fn serve_hook(hook: Arc<Hook>) -> String {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let hook = Arc::clone(&hook);
            async move {
                let n = hook.calls.fetch_add(1, Ordering::SeqCst);
                hook.times.lock().push(Instant::now());
                if n < hook.fail_first {
                    return StatusCode::from_u16(hook.fail_status).unwrap();
                }
                hook.bodies
                    .lock()
                    .push((headers, serde_json::from_str(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

#[tokio::test]
async fn webhook_retries_with_backoff_then_succeeds() {
    let hook = Arc::new(Hook {
        fail_first: 2,
        fail_status: 503,
        ..Default::default()
    });
    let url = serve_hook(Arc::clone(&hook)).await;
    let (integ, templates) = integration(&format!(
        "    webhook_configs: [{{url: '{url}', max_alerts: 2, http_config: {{bearer_token: tok}}}}]\n"
    ));
    let notifier = loopback_notifier(fast_retry());
    notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap();
    assert_eq!(
        hook.calls.load(Ordering::SeqCst),
        3,
        "failed twice, then succeeded"
    );
    let times = hook.times.lock().clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(50),
        "first backoff"
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(100),
        "backoff doubles"
    );
    let bodies = hook.bodies.lock();
    let (headers, body) = &bodies[0];
    assert_eq!(headers["authorization"], "Bearer tok");
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "team");
    assert_eq!(body["groupKey"], "{}:{alertname=\"HighCPU\"}");
    assert_eq!(body["truncatedAlerts"], 1);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(body["alerts"][1]["status"], "resolved");
    assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        body["commonLabels"],
        serde_json::json!({"alertname": "HighCPU"})
    );
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "HighCPU"})
    );
    assert_eq!(body["externalURL"], "http://pitot/alertmanager");
}

#[tokio::test]
async fn webhook_does_not_retry_client_errors_and_gives_up_eventually() {
    let hook = Arc::new(Hook {
        fail_first: 100,
        fail_status: 400,
        ..Default::default()
    });
    let url = serve_hook(Arc::clone(&hook)).await;
    let (integ, templates) = integration(&format!("    webhook_configs: [{{url: '{url}'}}]\n"));
    let notifier = loopback_notifier(fast_retry());
    let err = notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    assert_eq!(hook.calls.load(Ordering::SeqCst), 1);

    // Connection refused is retried until attempts run out.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let (integ, templates) = integration(&format!(
        "    webhook_configs: [{{url: 'http://{addr}/x'}}]\n"
    ));
    let notifier = loopback_notifier(RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    });
    let err = notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
}

/// A minimal SMTP server that accepts one message and hands back the DATA section.
async fn smtp_sink() -> (u16, tokio::sync::oneshot::Receiver<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut commands = Vec::new();
        let mut data = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            commands.push(line.clone());
            if upper.starts_with("EHLO") {
                w.write_all(b"250-sink\r\n250 8BITMIME\r\n").await.unwrap();
            } else if upper.starts_with("DATA") {
                w.write_all(b"354 go ahead\r\n").await.unwrap();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                w.write_all(b"250 queued\r\n").await.unwrap();
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                w.write_all(b"250 ok\r\n").await.unwrap();
            }
        }
        let _ = tx.send((commands, data));
    });
    (port, rx)
}

#[tokio::test]
async fn email_is_delivered_to_an_smtp_sink() {
    let (port, rx) = smtp_sink().await;
    let (integ, templates) = integration(&format!(
        "    email_configs:\n      - to: 'oncall@example.org, db@example.org'\n        from: 'am@example.org'\n        smarthost: '127.0.0.1:{port}'\n        require_tls: false\n        headers: {{Subject: 'Alert {{{{ .CommonLabels.alertname }}}} is {{{{ .Status | toUpper }}}}', X-Team: db}}\n        text: '{{{{ range .Alerts.Firing }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}'\n"
    ));
    loopback_notifier(fast_retry())
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap();
    let (commands, data) = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<am@example.org>")),
        "{commands:?}"
    );
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("RCPT TO:"))
            .count(),
        2
    );
    assert!(data.contains("Subject: Alert HighCPU is FIRING"), "{data}");
    assert!(data.contains("X-Team: db"), "{data}");
    assert!(
        data.contains("a c "),
        "text body lists firing alerts: {data}"
    );
    assert!(data.contains("text/html"), "{data}");
}

#[tokio::test]
async fn slack_body_uses_templates() {
    let hook = Arc::new(Hook::default());
    let url = serve_hook(Arc::clone(&hook)).await;
    let (integ, templates) = integration(&format!(
        "    slack_configs: [{{api_url: '{url}', channel: '#ops', text: '{{{{ len .Alerts }}}} alerts'}}]\n"
    ));
    loopback_notifier(fast_retry())
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap();
    let bodies = hook.bodies.lock();
    let body = &bodies[0].1;
    assert_eq!(body["channel"], "#ops");
    assert_eq!(body["attachments"][0]["title"], "[FIRING:2] HighCPU");
    assert_eq!(body["attachments"][0]["text"], "3 alerts");
    assert_eq!(body["attachments"][0]["color"], "danger");
}

/// Serves `/secret` (a 200 with a secret body), `/refuse` (a 400 with the secret body) and
/// `/moved` (a 302 to `/secret`), counting requests to `/secret`.
async fn serve_secret(hits: Arc<AtomicUsize>) -> String {
    use axum::routing::any;
    let app = Router::new()
        .route(
            "/secret",
            any(move || {
                let hits = Arc::clone(&hits);
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    "TOPSECRET-metadata-credentials"
                }
            }),
        )
        .route(
            "/refuse",
            any(|| async { (StatusCode::BAD_REQUEST, "TOPSECRET-in-error-body") }),
        )
        .route(
            "/moved",
            any(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "/secret")],
                    "TOPSECRET-redirect",
                )
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn loopback_is_denied_by_default_and_never_contacted() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve_secret(Arc::clone(&hits)).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    for url in [
        format!("{base}/secret"),
        format!("http://localhost:{port}/secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret"),
    ] {
        let (integ, templates) = integration(&format!("    webhook_configs: [{{url: '{url}'}}]\n"));
        let err = IntegrationNotifier::new(fast_retry())
            .notify(&notification(), &integ, &templates)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("egress-denied"), "{url}: {msg}");
        assert!(msg.contains("egress.allow"), "{msg}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no request reached the server"
    );
}

#[tokio::test]
async fn bodies_are_never_echoed_and_redirects_not_followed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = serve_secret(Arc::clone(&hits)).await;
    let notifier = loopback_notifier(fast_retry());
    let (integ, templates) = integration(&format!(
        "    webhook_configs: [{{url: '{base}/refuse'}}]\n"
    ));
    let err = notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    assert!(!err.to_string().contains("TOPSECRET"), "{err}");

    let (integ, templates) =
        integration(&format!("    webhook_configs: [{{url: '{base}/moved'}}]\n"));
    let err = notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("notify-redirect-refused") && msg.contains("302"),
        "{msg}"
    );
    assert!(!msg.contains("TOPSECRET"), "{msg}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn the_operator_cap_bounds_a_tenant_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let (integ, templates) = integration(&format!(
        "    webhook_configs: [{{url: 'http://{addr}/hang', timeout: 1h}}]\n"
    ));
    let notifier = loopback_notifier(RetryPolicy {
        max_attempts: 2,
        max_attempt_timeout: Duration::from_millis(300),
        ..fast_retry()
    });
    let started = Instant::now();
    let err = notifier
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("notify-timeout"), "{err}");
    assert!(
        took < Duration::from_secs(3),
        "two capped attempts, took {took:?}"
    );
}

#[tokio::test]
async fn smtp_to_a_denied_smarthost_is_refused_before_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (integ, templates) = integration(&format!(
        "    email_configs: [{{to: a@example.org, from: b@example.org, smarthost: 'localhost:{port}', require_tls: false}}]\n"
    ));
    let err = IntegrationNotifier::new(fast_retry())
        .notify(&notification(), &integ, &templates)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("egress-denied"), "{err}");
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "nothing connected to the SMTP port");
}

#[test]
fn smtp_line_injection_is_refused_at_upload() {
    let base = "route: {receiver: r}\nreceivers:\n  - name: r\n    email_configs:\n      - to: a@example.org\n        from: b@example.org\n";
    let cases = [
        ("        smarthost: 'mx.example.org:25'\n        hello: \"x\\r\\nSET pwned 1\\r\\nQUIT\"\n", "hello"),
        ("        smarthost: \"mx.example.org\\r\\nQUIT:25\"\n", "smarthost"),
        ("        smarthost: 'mx.example.org:25'\n        headers: {X-Team: \"db\\r\\nBcc: x@evil.example\"}\n", "headers"),
        ("        smarthost: 'mx.example.org:25'\n        headers: {\"X Bad\": v}\n", "headers"),
    ];
    for (extra, field) in cases {
        let yaml = format!("{base}{extra}");
        let err = AlertmanagerConfig::parse(&yaml, BTreeMap::new()).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    let bad_from = base.replace(
        "from: b@example.org",
        "from: \"b@example.org\\r\\nRCPT TO:<x@y>\"",
    );
    let err = AlertmanagerConfig::parse(
        &format!("{bad_from}        smarthost: 'mx.example.org:25'\n"),
        BTreeMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains(".from"), "{err}");
}

/// Each field of a notification stays under the template budget, but together they
/// pass it: the notification fails with the budget's reason instead of being sent, and
/// the same template in one field alone is sent.
#[tokio::test]
async fn one_budget_caps_all_fields_of_a_notification() {
    let hook = Arc::new(Hook::default());
    let url = serve_hook(Arc::clone(&hook)).await;
    let line = "x".repeat(100);
    let tens = |name: &str, inner: &str| {
        format!(
            "{{{{ define \"{name}\" }}}}{}{{{{ end }}}}",
            format!("{{{{ template \"{inner}\" . }}}}").repeat(10)
        )
    };
    let defines = format!(
        "{{{{ define \"d0\" }}}}{line}{{{{ end }}}}{}{}{}",
        tens("d1", "d0"),
        tens("d2", "d1"),
        tens("d3", "d2")
    );
    // 600 KB per field: under the 1 MiB budget alone, over it together.
    let six = r#"{{ template "d3" . }}"#.repeat(6);
    let files = BTreeMap::from([("big.tmpl".to_string(), defines)]);
    let build = |receiver: String| {
        let yaml = format!("route: {{receiver: r}}\nreceivers:\n  - name: r\n{receiver}");
        let cfg = AlertmanagerConfig::parse(&yaml, files.clone()).unwrap();
        let templates = Templates::new(&cfg.template_files).unwrap();
        (cfg.receivers[0].integrations[0].clone(), templates)
    };
    let (both, templates) = build(format!(
        "    slack_configs: [{{api_url: '{url}', title: '{six}', text: '{six}'}}]\n"
    ));
    let err = loopback_notifier(fast_retry())
        .notify(&notification(), &both, &templates)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("template-output-too-large"),
        "{err}"
    );
    assert!(hook.bodies.lock().is_empty(), "nothing was sent");

    let (one, templates) = build(format!(
        "    slack_configs: [{{api_url: '{url}', title: 'short', text: '{six}'}}]\n"
    ));
    loopback_notifier(fast_retry())
        .notify(&notification(), &one, &templates)
        .await
        .unwrap();
    let bodies = hook.bodies.lock();
    assert_eq!(
        bodies[0].1["attachments"][0]["text"].as_str().map(str::len),
        Some(600_000)
    );
}
