use std::collections::BTreeMap;

use serde_json::json;

use super::Templates;

fn data() -> serde_json::Value {
    json!({
        "Status": "firing",
        "Receiver": "team",
        "GroupLabels": {"alertname": "HighCPU", "job": "api"},
        "CommonLabels": {"alertname": "HighCPU", "job": "api"},
        "CommonAnnotations": {},
        "ExternalURL": "http://am",
        "Alerts": [
            {"Status": "firing", "Labels": {"alertname": "HighCPU", "instance": "a"}, "Annotations": {"summary": "cpu a"}, "GeneratorURL": "http://g"},
            {"Status": "resolved", "Labels": {"alertname": "HighCPU", "instance": "b"}, "Annotations": {"summary": "cpu b"}, "GeneratorURL": "http://g"}
        ]
    })
}

#[test]
fn renders_fields_functions_and_range() {
    let t = Templates::new(&BTreeMap::new()).unwrap();
    let out = t
        .render(
            "{{ .Status | toUpper }} {{ .CommonLabels.alertname }} {{ len .Alerts }}:{{ range .Alerts }} {{ .Labels.instance }}={{ .Annotations.summary }}{{ end }}",
            &data(),
        )
        .unwrap();
    assert_eq!(out, "FIRING HighCPU 2: a=cpu a b=cpu b");
}

#[test]
fn default_subject_counts_firing_alerts() {
    let t = Templates::new(&BTreeMap::new()).unwrap();
    let out = t
        .render(r#"{{ template "__subject" . }}"#, &data())
        .unwrap();
    assert_eq!(out, "[FIRING:1] HighCPU api");
}

#[test]
fn define_in_template_files_and_trim_markers() {
    let mut files = BTreeMap::new();
    files.insert(
        "t.tmpl".to_string(),
        r#"{{ define "my.title" -}}  {{ .GroupLabels.Names | join "," }} {{- end }}"#.to_string(),
    );
    let t = Templates::new(&files).unwrap();
    let out = t
        .render(r#"{{ template "my.title" . }}!"#, &data())
        .unwrap();
    assert_eq!(out, "alertname,job!");
    let out = t
        .render(
            r#"{{ if eq .Status "resolved" }}ok{{ else }}no{{ end }}"#,
            &data(),
        )
        .unwrap();
    assert_eq!(out, "no");
}

#[test]
fn rejects_unsupported_constructs() {
    let t = Templates::new(&BTreeMap::new()).unwrap();
    assert!(t.check("{{ $x := 1 }}").is_err());
    assert!(t.check("{{ printf \"%s\" .Status }}").is_err());
    assert!(t.check("{{ if .Status }}").is_err());
    assert!(t.render(r#"{{ template "nope" . }}"#, &data()).is_err());
}

/// A template file whose `l{n}` expands to `l{n-1}` twice: 1000 * 2^levels bytes.
fn doubling(levels: usize) -> BTreeMap<String, String> {
    let mut text = format!(r#"{{{{ define "l0" }}}}{}{{{{ end }}}}"#, "x".repeat(1000));
    for i in 1..=levels {
        let p = i - 1;
        text.push_str(&format!(
            r#"{{{{ define "l{i}" }}}}{{{{ template "l{p}" . }}}}{{{{ template "l{p}" . }}}}{{{{ end }}}}"#
        ));
    }
    BTreeMap::from([("bomb.tmpl".to_string(), text)])
}

#[test]
fn exponential_templates_stop_at_the_budget() {
    let t = Templates::new(&doubling(30)).unwrap();
    let e = t.render(r#"{{ template "l30" . }}"#, &data()).unwrap_err();
    assert!(e.to_string().contains("template-output-too-large"), "{e}");
    assert!(t.check(r#"{{ template "l30" . }}"#).is_err());
    // Small expansions still render, and the same budget caps several fields together.
    let small = t.render(r#"{{ template "l3" . }}"#, &data()).unwrap();
    assert_eq!(small.len(), 8000);
    let mut budget = pitot_core::TemplateBudget::new(pitot_core::TemplateLimits {
        max_output_bytes: 10_000,
        ..pitot_core::TemplateLimits::ALERTMANAGER
    });
    t.render_with_budget(r#"{{ template "l3" . }}"#, &data(), &mut budget)
        .unwrap();
    assert!(t
        .render_with_budget(r#"{{ template "l3" . }}"#, &data(), &mut budget)
        .is_err());
}

#[test]
fn recursion_is_capped_at_depth_32() {
    let files = BTreeMap::from([(
        "r.tmpl".to_string(),
        r#"{{ define "r" }}x{{ template "r" . }}{{ end }}"#.to_string(),
    )]);
    let t = Templates::new(&files).unwrap();
    let e = t.render(r#"{{ template "r" . }}"#, &data()).unwrap_err();
    assert!(e.to_string().contains("template-too-deep"), "{e}");
}

#[test]
fn check_runs_the_text_but_leaves_data_errors_to_notification_time() {
    let t = Templates::new(&BTreeMap::new()).unwrap();
    t.check(r#"{{ template "slack.default.text" . }}"#).unwrap();
    // Ranging over a string fails on the data, not on the budget.
    t.check("{{ range .Receiver }}x{{ end }}").unwrap();
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    let t = Templates::new(&BTreeMap::new()).unwrap();
    let parens = format!(
        "{{{{ {}.Status{} }}}}",
        "(".repeat(50_000),
        ")".repeat(50_000)
    );
    assert!(t.check(&parens).unwrap_err().to_string().contains("nested"));
    let ifs = format!(
        "{}x{}",
        "{{ if .Status }}".repeat(50_000),
        "{{ end }}".repeat(50_000)
    );
    assert!(t.check(&ifs).unwrap_err().to_string().contains("nested"));
}
