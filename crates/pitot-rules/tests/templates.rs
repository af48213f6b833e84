//! Alert template rendering, with outputs computed by hand from Go's and Prometheus'
//! documented behaviour.

use std::collections::BTreeMap;

use pitot_rules::template::{render, QuerySample, TemplateData};

fn data() -> TemplateData {
    let mut labels = BTreeMap::new();
    labels.insert("instance".to_string(), "db-1.example.com:9100".to_string());
    labels.insert("job".to_string(), "node".to_string());
    let mut ext = BTreeMap::new();
    ext.insert("cluster".to_string(), "eu1".to_string());
    TemplateData {
        labels,
        external_labels: ext,
        external_url: "https://prom.example.com/prometheus/".to_string(),
        value: 1234567.0,
    }
}

fn r(text: &str) -> String {
    render("t", text, &data(), None).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn variables_and_fields() {
    assert_eq!(
        r("{{ $labels.instance }} of {{ .Labels.job }}"),
        "db-1.example.com:9100 of node"
    );
    assert_eq!(r("{{ $value }}"), "1.234567e+06");
    assert_eq!(r("{{ .Value }}"), "1.234567e+06");
    assert_eq!(r("{{ $externalLabels.cluster }}"), "eu1");
    assert_eq!(r("[{{ $labels.missing }}]"), "[]");
    assert_eq!(r("{{ $x := \"a\" }}{{ $x }}{{ $x = \"b\" }}{{ $x }}"), "ab");
}

#[test]
fn humanize_family() {
    assert_eq!(r("{{ humanize $value }}"), "1.235M");
    assert_eq!(r("{{ humanize 0.0012 }}"), "1.2m");
    assert_eq!(r("{{ humanize 0 }}"), "0");
    assert_eq!(r("{{ humanize1024 2048 }}"), "2ki");
    assert_eq!(r("{{ humanize1024 1 }}"), "1");
    assert_eq!(r("{{ humanizeDuration 90061 }}"), "1d 1h 1m 1s");
    assert_eq!(r("{{ humanizeDuration 3661 }}"), "1h 1m 1s");
    assert_eq!(r("{{ humanizeDuration 1.5 }}"), "1.5s");
    assert_eq!(r("{{ humanizeDuration 0.0015 }}"), "1.5ms");
    assert_eq!(r("{{ humanizeDuration 0 }}"), "0s");
    assert_eq!(r("{{ humanizePercentage 0.1234 }}"), "12.34%");
    assert_eq!(
        r("{{ humanizeTimestamp 1435065584.128 }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(r("{{ \"1234\" | humanize }}"), "1.234k");
}

#[test]
fn control_flow_and_comparisons() {
    assert_eq!(
        r("{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}"),
        "big"
    );
    assert_eq!(
        r("{{ if lt $value 10.0 }}a{{ else if eq .Labels.job \"node\" }}b{{ else }}c{{ end }}"),
        "b"
    );
    assert_eq!(
        r("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
        "instance=db-1.example.com:9100;job=node;"
    );
    assert_eq!(r("{{ with $labels.job }}job {{ . }}{{ end }}"), "job node");
    assert_eq!(r("{{ with $labels.nope }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        r("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}"),
        "0 x false"
    );
    assert_eq!(r("{{ len $labels }} {{ index $labels \"job\" }}"), "2 node");
    assert_eq!(r("a  {{- \" b \" -}}  c"), "a b c");
    assert_eq!(r("{{/* comment */}}x"), "x");
    assert_eq!(r("{{ ne 1 2 }}{{ le 2 2 }}{{ ge 1 2 }}"), "truetruefalse");
}

#[test]
fn string_functions() {
    assert_eq!(r("{{ printf \"%.2f%%\" 12.3456 }}"), "12.35%");
    assert_eq!(r("{{ printf \"%s=%d\" \"n\" 3 }}"), "n=3");
    assert_eq!(r("{{ title \"hello world-wide\" }}"), "Hello World-Wide");
    assert_eq!(r("{{ toUpper \"ab\" }}{{ toLower \"CD\" }}"), "ABcd");
    assert_eq!(r("{{ match \"^db-\" $labels.instance }}"), "true");
    assert_eq!(
        r("{{ reReplaceAll \"(.*):(.*)\" \"$2\" $labels.instance }}"),
        "9100"
    );
    assert_eq!(r("{{ stripPort $labels.instance }}"), "db-1.example.com");
    assert_eq!(r("{{ stripDomain $labels.instance }}"), "db-1:9100");
    assert_eq!(r("{{ stripDomain \"10.0.0.1:80\" }}"), "10.0.0.1:80");
    assert_eq!(r("{{ stripPort \"[::1]:80\" }}"), "::1");
    assert_eq!(
        r("{{ pathPrefix }} {{ externalURL }}"),
        "/prometheus https://prom.example.com/prometheus/"
    );
    assert_eq!(
        r("{{ with args 1 \"x\" }}{{ .arg0 }}{{ .arg1 }}{{ end }}"),
        "1x"
    );
    assert_eq!(r("{{ safeHtml \"<b>\" }}"), "<b>");
    assert_eq!(r("{{ $labels.job | toUpper | printf \"%s!\" }}"), "NODE!");
}

#[test]
fn query_function_calls_back() {
    let q = |expr: &str| -> Result<Vec<QuerySample>, String> {
        assert_eq!(expr, "up{job=\"node\"}");
        let mk = |inst: &str, v: f64| QuerySample {
            labels: [("instance".to_string(), inst.to_string())]
                .into_iter()
                .collect(),
            value: v,
        };
        Ok(vec![mk("b", 0.0), mk("a", 1.0)])
    };
    let text = "{{ range query (printf \"up{job=%q}\" $labels.job) | sortByLabel \"instance\" }}{{ .Labels.instance }}:{{ .Value }} {{ end }}|{{ with query \"up{job=\\\"node\\\"}\" }}{{ . | first | value }} {{ . | first | label \"instance\" }}{{ end }}";
    let out = render("t", text, &data(), Some(&q)).unwrap();
    assert_eq!(out, "a:1 b:0 |0 b");
}

#[test]
fn errors_are_reported() {
    assert!(
        pitot_rules::template::Template::parse("t", "{{ nosuchfunc 1 }}")
            .unwrap_err()
            .to_string()
            .contains("function \"nosuchfunc\" not defined")
    );
    assert!(pitot_rules::template::Template::parse("t", "{{ if 1 }}").is_err());
    assert!(pitot_rules::template::Template::parse("t", "{{ .Labels").is_err());
    assert!(render(
        "t",
        "{{ first (query \"x\") }}",
        &data(),
        Some(&|_: &str| Ok(vec![]))
    )
    .is_err());
}
