//! A small, honest subset of Go's `text/template`, enough for Alertmanager's notification
//! templates: `{{ .Field.path }}`, pipelines with `toUpper`, `toLower`, `title`, `join`, `len`,
//! `eq`, `ne`, `not`, `and`, `or`, `trimSpace`, `safeHtml`, `if`/`else`, `range`, `define`,
//! `template`, and the `{{-`/`-}}` trims. Data is JSON; `.Alerts.Firing`/`.Alerts.Resolved` and
//! `.SortedPairs`/`.Names`/`.Values` mirror Alertmanager's helper methods. Anything else (variables,
//! `with`, `printf`) is rejected at parse time rather than rendered wrongly.
//!
//! Every rendering is metered by a [`TemplateBudget`] ([`TemplateLimits::ALERTMANAGER`]:
//! 1 MiB of output, 200,000 calls, templates nested 32 deep), and configuration
//! validation ([`Templates::check`]) runs each notification text once against sample
//! data, so a template that expands exponentially is refused at upload.

mod eval;
mod parse;

use std::collections::{BTreeMap, HashMap};

use pitot_core::{TemplateBudget, TemplateLimits};
use serde_json::{json, Value};

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

    /// Checks a notification text for configuration validation: it must parse, and
    /// rendering it once against [`sample_data`] must stay within
    /// [`TemplateLimits::ALERTMANAGER`]. Other rendering errors depend on the alerts
    /// and are left to notification time.
    pub fn check(&self, text: &str) -> Result<(), AmError> {
        let nodes = parse::parse(text)?;
        let mut budget = TemplateBudget::new(TemplateLimits::ALERTMANAGER);
        let mut out = String::new();
        let rendered = eval::Evaluator {
            defines: &self.defines,
            budget: &mut budget,
        }
        .run(&nodes, &sample_data(), &mut out);
        match rendered {
            Err(AmError::Template(m)) if is_budget_error(&m) => Err(AmError::Template(m)),
            _ => Ok(()),
        }
    }

    /// Renders a notification text against the notification data under a fresh budget
    /// of [`TemplateLimits::ALERTMANAGER`].
    pub fn render(&self, text: &str, data: &Value) -> Result<String, AmError> {
        self.render_with_budget(
            text,
            data,
            &mut TemplateBudget::new(TemplateLimits::ALERTMANAGER),
        )
    }

    /// Renders a notification text, charging `budget`: a notifier that renders several
    /// fields of one notification passes the same budget to cap the notification as a
    /// whole.
    pub fn render_with_budget(
        &self,
        text: &str,
        data: &Value,
        budget: &mut TemplateBudget,
    ) -> Result<String, AmError> {
        let nodes = parse::parse(text)?;
        let mut out = String::new();
        eval::Evaluator {
            defines: &self.defines,
            budget,
        }
        .run(&nodes, data, &mut out)?;
        Ok(out)
    }
}

/// Whether a template error message is a budget refusal (it starts with the reason ID).
fn is_budget_error(message: &str) -> bool {
    [
        "template-output-too-large",
        "template-too-many-calls",
        "template-too-deep",
        "template-too-many-queries",
    ]
    .iter()
    .any(|r| message.contains(r))
}

/// The notification templates are tried with at upload: one firing and one resolved
/// alert of a group, in the shape the notifiers pass (see `notify::payload`).
pub fn sample_data() -> Value {
    let alert = |status: &str, instance: &str| {
        json!({
            "Status": status,
            "Labels": {"alertname": "Sample", "instance": instance, "severity": "critical"},
            "Annotations": {"summary": "sample summary", "description": "sample description"},
            "StartsAt": "2024-01-01T00:00:00Z",
            "EndsAt": "0001-01-01T00:00:00Z",
            "GeneratorURL": "http://localhost:9090/graph",
            "Fingerprint": "0000000000000000",
        })
    };
    json!({
        "Receiver": "sample",
        "Status": "firing",
        "Alerts": [alert("firing", "a"), alert("resolved", "b")],
        "GroupLabels": {"alertname": "Sample"},
        "CommonLabels": {"alertname": "Sample", "severity": "critical"},
        "CommonAnnotations": {"summary": "sample summary"},
        "ExternalURL": "http://localhost:9093",
        "GroupKey": "{}:{alertname=\"Sample\"}",
    })
}

#[cfg(test)]
mod tests;
