use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::matcher::LabelSet;

const FULL: &str = r#"
global:
  resolve_timeout: 1m
  smtp_smarthost: 'localhost:2525'
  smtp_from: 'am@example.org'
  smtp_require_tls: false
  slack_api_url: 'https://hooks.slack.example/x'
route:
  receiver: default
  group_by: ['alertname', 'cluster']
  group_wait: 10s
  routes:
    - matchers: ['team="db"', 'severity=~"critical|page"']
      receiver: db-pager
      group_interval: 1m
      continue: true
      mute_time_intervals: [weekends]
    - match: {team: db}
      receiver: db-mail
      routes:
        - match_re: {service: "mysql|pg"}
          receiver: db-slack
          group_by: ['...']
    - matchers: ['team!="db"']
      receiver: web
      active_time_intervals: [office]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: ['alertname']
  - source_match: {severity: page}
    target_match_re: {severity: 'info|warning'}
receivers:
  - name: default
  - name: db-pager
    webhook_configs:
      - url: 'http://hook.example/db'
        max_alerts: 3
        http_config:
          bearer_token: s3cret
  - name: db-mail
    email_configs:
      - to: 'db@example.org'
        headers: {Subject: '{{ .CommonLabels.alertname }}'}
  - name: db-slack
    slack_configs:
      - channel: '#db'
        title: '{{ template "slack.default.title" . }}'
  - name: web
    webhook_configs:
      - url: 'http://hook.example/web'
        send_resolved: false
time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: ['saturday', 'sunday']
  - name: office
    time_intervals:
      - times: [{start_time: '09:00', end_time: '17:00'}]
        weekdays: ['monday:friday']
"#;

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(yaml: &str) -> Result<AlertmanagerConfig, AmError> {
    AlertmanagerConfig::parse(yaml, BTreeMap::new())
}

fn err(yaml: &str) -> String {
    parse(yaml).unwrap_err().to_string()
}

#[test]
fn parses_the_full_document_with_defaults_and_inheritance() {
    let cfg = parse(FULL).unwrap();
    assert_eq!(cfg.resolve_timeout, Duration::from_secs(60));
    let root = &cfg.route;
    assert_eq!(root.group_wait, Duration::from_secs(10));
    assert_eq!(root.group_interval, Duration::from_secs(300));
    assert_eq!(root.repeat_interval, Duration::from_secs(4 * 3600));
    let pager = &root.routes[0];
    assert_eq!(pager.group_wait, Duration::from_secs(10), "inherited");
    assert_eq!(pager.group_interval, Duration::from_secs(60));
    assert_eq!(
        pager.group_by,
        GroupBy::Labels(vec!["alertname".into(), "cluster".into()])
    );
    assert_eq!(root.routes[1].routes[0].group_by, GroupBy::All);
    assert_eq!(pager.key, r#"{}/{team="db",severity=~"critical|page"}"#);
    let Integration::Webhook(w) = &cfg.receiver("db-pager").unwrap().integrations[0] else {
        panic!("webhook expected")
    };
    assert_eq!(w.max_alerts, 3);
    assert!(w.send_resolved);
    assert_eq!(
        w.auth,
        HttpAuth::Authorization {
            scheme: "Bearer".into(),
            credentials: "s3cret".into()
        }
    );
    let Integration::Email(e) = &cfg.receiver("db-mail").unwrap().integrations[0] else {
        panic!("email expected")
    };
    assert_eq!(e.smarthost, "localhost:2525");
    assert!(!e.require_tls, "global smtp_require_tls applies");
    assert!(!e.send_resolved);
    let Integration::Slack(s) = &cfg.receiver("db-slack").unwrap().integrations[0] else {
        panic!("slack expected")
    };
    assert_eq!(s.api_url, "https://hooks.slack.example/x");
    assert_eq!(cfg.inhibit_rules.len(), 2);
    assert_eq!(
        cfg.inhibit_rules[1].target_matchers[0].value,
        "info|warning"
    );
    assert_eq!(cfg.time_intervals.len(), 2);
}

#[test]
fn routing_follows_nesting_continue_and_matchers() {
    let cfg = parse(FULL).unwrap();
    let names = |l: LabelSet| -> Vec<String> {
        cfg.route
            .match_labels(&l)
            .iter()
            .map(|r| r.receiver.clone())
            .collect()
    };
    // continue on the first route lets the second one match too; the nested route wins there.
    assert_eq!(
        names(labels(&[
            ("team", "db"),
            ("severity", "critical"),
            ("service", "pg")
        ])),
        vec!["db-pager", "db-slack"]
    );
    // No nested match: the parent route itself.
    assert_eq!(
        names(labels(&[("team", "db"), ("severity", "info")])),
        vec!["db-mail"]
    );
    // Missing label counts as empty, so team!="db" matches.
    assert_eq!(names(labels(&[("alertname", "x")])), vec!["web"]);
}

#[test]
fn time_intervals_mute_and_activate_routes() {
    let cfg = parse(FULL).unwrap();
    let saturday = chrono::DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
        .unwrap()
        .to_utc();
    let monday_10 = chrono::DateTime::parse_from_rfc3339("2024-06-03T10:00:00Z")
        .unwrap()
        .to_utc();
    let monday_20 = chrono::DateTime::parse_from_rfc3339("2024-06-03T20:00:00Z")
        .unwrap()
        .to_utc();
    let pager = &cfg.route.routes[0];
    let web = &cfg.route.routes[2];
    assert!(cfg.is_muted(pager, saturday));
    assert!(!cfg.is_muted(pager, monday_10));
    assert!(!cfg.is_muted(web, monday_10));
    assert!(cfg.is_muted(web, monday_20));
    assert!(cfg.is_muted(web, saturday));
}

#[test]
fn errors_name_the_field() {
    let base = "receivers: [{name: a}]\n";
    assert!(err(base).contains("route: missing"));
    assert!(err(&format!("{base}route: {{receiver: b}}")).contains("receiver \"b\" is not defined"));
    assert!(
        err(&format!("{base}route: {{receiver: a, group_wait: 5x}}")).contains("route.group_wait")
    );
    assert!(err(&format!(
        "{base}route: {{receiver: a, routes: [{{repeat_interval: 0s}}]}}"
    ))
    .contains("route.routes[0].repeat_interval: must be greater than 0"));
    assert!(err(&format!(
        "{base}route: {{receiver: a, routes: [{{matchers: ['a=~\"(\"']}}]}}"
    ))
    .contains("route.routes[0].matchers"));
    assert!(err(&format!(
        "{base}route: {{receiver: a, group_by: ['...', 'x']}}"
    ))
    .contains("route.group_by"));
    assert!(
        err(&format!("{base}route: {{receiver: a, matchers: ['a=b']}}"))
            .contains("root route must not have any matchers")
    );
    assert!(err(&format!(
        "{base}route: {{receiver: a, routes: [{{mute_time_intervals: [nope]}}]}}"
    ))
    .contains("time interval \"nope\" is not defined"));
    assert!(
        err("route: {receiver: a}\nreceivers: [{name: a}, {name: a}]").contains("defined twice")
    );
    assert!(
        err("route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{}]}]")
            .contains("receivers[0] (\"a\").webhook_configs[0].url: missing")
    );
    assert!(err(
        "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'ftp://x'}]}]"
    )
    .contains("not an http(s) URL"));
    assert!(
        err("route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y}]}]")
            .contains("email_configs[0].from: missing")
    );
    assert!(
        err("route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{channel: x}]}]")
            .contains("slack_configs[0].api_url: missing")
    );
    assert!(err("route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y, from: a@b, smarthost: nohost}]}]")
        .contains("is not host:port"));
    assert!(err("route: {receiver: a}\nrecievers: []").contains("recievers"));
    assert!(err(
        "route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules: [{equal: ['bad-label']}]"
    )
    .contains("inhibit_rules[0].equal"));
    assert!(err("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]")
        .contains("time_intervals[0].time_intervals[0].weekdays"));
    assert!(err("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{location: 'Europe/Paris'}]}]")
        .contains("not supported"));
    assert!(err("route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{api_url: 'http://x', title: '{{ if .X }}'}]}]")
        .contains("slack_configs[0]"));
}

#[test]
fn unknown_receiver_types_are_rejected_clearly() {
    let e =
        err("route: {receiver: a}\nreceivers: [{name: a, pagerduty_configs: [{routing_key: x}]}]");
    assert!(
        e.contains("receiver type \"pagerduty_configs\" is not supported"),
        "{e}"
    );
    let e = err("route: {receiver: a}\nreceivers: [{name: a, colour: red}]");
    assert!(e.contains("unknown field \"colour\""), "{e}");
}

#[test]
fn mimir_document_carries_templates() {
    let doc = "alertmanager_config: |\n  route: {receiver: a}\n  receivers: [{name: a}]\ntemplate_files:\n  t.tmpl: '{{ define \"x\" }}hi{{ end }}'\n";
    let cfg = AlertmanagerConfig::parse_document(doc).unwrap();
    assert_eq!(cfg.template_files.len(), 1);
    assert_eq!(
        cfg.document().template_files["t.tmpl"],
        "{{ define \"x\" }}hi{{ end }}"
    );
    let bad = "alertmanager_config: |\n  route: {receiver: a}\n  receivers: [{name: a}]\ntemplate_files:\n  t.tmpl: '{{ define \"x\" }}'\n";
    assert!(AlertmanagerConfig::parse_document(bad)
        .unwrap_err()
        .to_string()
        .contains("template_files"));
    assert!(AlertmanagerConfig::parse_document("template_files: {}").is_err());
}

#[test]
fn fallback_config_is_valid() {
    let cfg = AlertmanagerConfig::fallback();
    assert_eq!(cfg.route.receiver, "empty-receiver");
}
