//! Issue 16, findings 1-3: template bombs. A tenant's LogQL `line_format`, rule
//! annotation or Alertmanager template that asks for unbounded output is stopped by the
//! template budget with a named reason; the server stays up and another tenant is not
//! affected.

mod common;

use common::{now_ns, TestServer};
use serde_json::json;

/// Creates tenant `b` and returns a token of it with `scopes`.
fn tenant_b(server: &TestServer, scopes: &[&str]) -> String {
    let platform = server.platform_token.clone();
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "b", "scopes": scopes}),
    );
    assert!(status == 200 || status == 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn push_line(server: &TestServer, token: &str, app: &str, line: &str) {
    let (status, body) = server.loki_push_json(
        token,
        &json!({"streams": [{"stream": {"app": app}, "values": [[now_ns().to_string(), line]]}]}),
    );
    assert_eq!(status, 204, "{body}");
}

fn assert_alive(server: &TestServer) {
    let response = server
        .get("/health")
        .send()
        .expect("server answers /health");
    assert_eq!(response.status().as_u16(), 200);
}

/// Finding 1: `repeat` and `printf` widths in `line_format` asked for 100 TB and aborted
/// the process; a precision above 65535 panicked. Now each line carries Loki's
/// `__error__="TemplateFormatErr"` with the budget's reason, and the query answers.
#[test]
fn logql_template_bombs_fail_per_line_and_spare_the_server() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let token_b = tenant_b(&server, &["logs:read", "logs:write"]);
    let start = now_ns() - 60_000_000_000;
    push_line(&server, &token, "api", "hello");
    push_line(&server, &token_b, "web", "fine");

    for bomb in [
        r#"{{ repeat 100000000000000 "x" }}"#,
        r#"{{ printf "%100000000000000d" 1 }}"#,
        r#"{{ printf "%.100000000000000f" 1.5 }}"#,
        r#"{{ indent 100000000000000 "x" }}"#,
    ] {
        let query = format!(r#"{{app="api"}} | line_format `{bomb}`"#);
        let lines = server.loki_lines(&token, &query, start, 100);
        assert_eq!(lines.len(), 1, "{bomb}: {lines:?}");
        let (labels, _, line) = &lines[0];
        assert_eq!(
            labels.get("__error__").map(String::as_str),
            Some("TemplateFormatErr"),
            "{bomb}: {labels:?}"
        );
        assert!(
            labels
                .get("__error_details__")
                .is_some_and(|d| d.contains("template-output-too-large")),
            "{bomb}: {labels:?}"
        );
        assert!(line.len() < 1000, "{bomb}: the line was not replaced");
        assert_alive(&server);
    }

    // A precision Rust's formatter panics on (above 65535) is formatted as Go does.
    let lines = server.loki_lines(
        &token,
        r#"{app="api"} | line_format `{{ printf "%.70000f" 1.5 }}`"#,
        start,
        100,
    );
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].0.contains_key("__error__"), "{:?}", lines[0].0);
    assert_eq!(lines[0].2.len(), 70_002);
    assert!(lines[0].2.starts_with("1.5000"));

    // The same bomb in label_format: the label is not set, the error is on the line.
    let lines = server.loki_lines(
        &token,
        r#"{app="api"} | label_format big=`{{ repeat 100000000000000 "x" }}`"#,
        start,
        100,
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0["__error__"], "TemplateFormatErr");
    assert!(!lines[0].0.contains_key("big"), "{:?}", lines[0].0);

    // The other tenant queries as before.
    let lines = server.loki_lines(
        &token_b,
        r#"{app="web"} | line_format `{{ .app }}: {{ __line__ }}`"#,
        start,
        100,
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].2, "web: fine");
    assert_alive(&server);
}

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

/// Finding 2: a summary of `printf "%100000000000000d"` was stored (validation only
/// parsed templates) and aborted the server about a second after every start. Upload
/// now runs every template on sample data under the budget and refuses the group.
#[test]
fn rule_template_bombs_are_refused_at_upload() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let token_b = tenant_b(&server, &["rules:read", "rules:write"]);

    for (template, reason) in [
        (
            r#"{{ printf "%100000000000000d" 1 }}"#,
            "template-output-too-large",
        ),
        (
            r#"{{ printf "%.70000f" 1.0 }}"#,
            "template-output-too-large",
        ),
        (
            r#"{{ range 100000000000000 }}{{ end }}"#,
            "template-too-many-calls",
        ),
        (
            r#"{{ range 1000000 }}{{ query "up" }}{{ end }}"#,
            "template-too-many-queries",
        ),
    ] {
        let group = format!(
            "name: bombs\nrules:\n  - alert: Bomb\n    expr: vector(1)\n    annotations:\n      summary: '{template}'\n"
        );
        let (status, text) = post_group(&server, &token, "ns", &group);
        assert_eq!(status, 400, "{template}: {text}");
        for needle in ["Bomb", "summary", reason] {
            assert!(
                text.contains(needle),
                "{template}: {needle} missing in {text}"
            );
        }
    }
    // A label template is run too.
    let group = "name: bombs\nrules:\n  - alert: Bomb\n    expr: vector(1)\n    labels:\n      sev: '{{ printf \"%900000s\" \"x\" }}'\n";
    let (status, text) = post_group(&server, &token, "ns", group);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("template-output-too-large"), "{text}");

    // Nothing was stored, so a restart does not evaluate anything hostile.
    let response = server
        .get("/prometheus/config/v1/rules")
        .bearer_auth(&token)
        .send()
        .unwrap();
    let listing = response.text().unwrap();
    assert!(!listing.contains("Bomb"), "{listing}");
    server.restart();
    assert_alive(&server);

    // Both tenants still upload ordinary groups.
    let ok = "name: fine\nrules:\n  - alert: Fine\n    expr: vector(1)\n    annotations:\n      summary: 'value {{ $value | humanize }} on {{ $labels.instance }}'\n";
    assert_eq!(post_group(&server, &token, "ns", ok).0, 202);
    assert_eq!(post_group(&server, &token_b, "ns", ok).0, 202);
}

/// Finding 3: templates that call each other twice per level expanded a 1.8 KB
/// configuration into a 10 MB Slack payload. Upload now renders every notification
/// text on sample data under the budget and refuses the configuration.
#[test]
fn alertmanager_template_bombs_are_refused_at_upload() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let token_b = tenant_b(&server, &["alerts:read", "alerts:write"]);

    // l0 is 100 bytes; l{n} calls l{n-1} twice: l30 would be 100 GiB.
    let mut bomb = format!(r#"{{{{ define "l0" }}}}{}{{{{ end }}}}"#, "x".repeat(100));
    for i in 1..=30 {
        let p = i - 1;
        bomb.push_str(&format!(
            r#"{{{{ define "l{i}" }}}}{{{{ template "l{p}" . }}}}{{{{ template "l{p}" . }}}}{{{{ end }}}}"#
        ));
    }
    let config = |text: &str| {
        json!({
            "alertmanager_config": "route:\n  receiver: chat\nreceivers:\n  - name: chat\n    slack_configs:\n      - api_url: https://hooks.slack.example/services/T/B/X\n        channel: '#alerts'\n        text: '".to_string() + text + "'\n",
            "template_files": {"bomb.tmpl": bomb},
        })
    };
    let upload = |token: &str, body: &serde_json::Value| {
        let response = server
            .post("/api/v1/alerts")
            .bearer_auth(token)
            // JSON is YAML.
            .body(body.to_string())
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };

    let (status, text) = upload(&token, &config(r#"{{ template "l30" . }}"#));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("template-output-too-large") || text.contains("template-too-many-calls"),
        "{text}"
    );
    assert!(text.contains("chat"), "the receiver is named: {text}");
    assert_alive(&server);

    let (status, text) = upload(&token, &config(r#"{{ template "l3" . }}"#));
    assert_eq!(status, 201, "a small expansion is fine: {text}");
    let (status, text) = upload(
        &token_b,
        &config(r#"{{ template "slack.default.text" . }}"#),
    );
    assert_eq!(status, 201, "{text}");
    assert_alive(&server);
}
