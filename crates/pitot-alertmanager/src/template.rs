//! A small, honest subset of Go's `text/template`, enough for Alertmanager's notification
//! templates: `{{ .Field.path }}`, pipelines with `toUpper`, `toLower`, `title`, `join`, `len`,
//! `eq`, `ne`, `not`, `and`, `or`, `trimSpace`, `safeHtml`, `if`/`else`, `range`, `define`,
//! `template`, and the `{{-`/`-}}` trims. Data is JSON; `.Alerts.Firing`/`.Alerts.Resolved` and
//! `.SortedPairs`/`.Names`/`.Values` mirror Alertmanager's helper methods. Anything else (variables,
//! `with`, `printf`) is rejected at parse time rather than rendered wrongly.

mod eval;
mod parse;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::error::AmError;
use parse::Node;

/// The default notification templates, written in the supported subset.
pub const DEFAULT_TEMPLATES: &str = r#"
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }}{{ end }}
{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Source: {{ .GeneratorURL }}
{{ end }}{{ end }}
{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "email.default.text" }}{{ if .Alerts.Firing }}Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}{{ end }}{{ if .Alerts.Resolved }}Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}{{ end }}{{ end }}
{{ define "email.default.html" }}<html><body><h2>{{ template "__subject" . }}</h2><pre>{{ template "email.default.text" . }}</pre></body></html>{{ end }}
{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.text" }}{{ range .Alerts }}{{ .Annotations.summary }}
{{ end }}{{ end }}
"#;

/// A set of named templates (`define` blocks) that notification texts can call.
#[derive(Debug, Clone)]
pub struct Templates {
    defines: HashMap<String, Vec<Node>>,
}

impl Templates {
    /// Parses the default templates plus the tenant's template files; later files override.
    pub fn new(files: &BTreeMap<String, String>) -> Result<Self, AmError> {
        let mut defines = HashMap::new();
        parse::collect_defines(&parse::parse(DEFAULT_TEMPLATES)?, &mut defines);
        for text in files.values() {
            parse::collect_defines(&parse::parse(text)?, &mut defines);
        }
        Ok(Templates { defines })
    }

    /// Checks that a template file parses, for configuration validation.
    pub fn parse_file(text: &str) -> Result<(), AmError> {
        parse::parse(text).map(|_| ())
    }

    /// Checks that a notification text parses.
    pub fn check(&self, text: &str) -> Result<(), AmError> {
        parse::parse(text).map(|_| ())
    }

    /// Renders a notification text against the notification data.
    pub fn render(&self, text: &str, data: &Value) -> Result<String, AmError> {
        let nodes = parse::parse(text)?;
        let mut out = String::new();
        eval::Evaluator {
            defines: &self.defines,
            depth: 0,
        }
        .run(&nodes, data, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
