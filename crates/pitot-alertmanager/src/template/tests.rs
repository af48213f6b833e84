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
