//! The Slack incoming-webhook integration: one attachment with a templated title and text.

use pitot_core::{TemplateBudget, TemplateLimits};
use serde_json::json;

use super::http::HttpSender;
use super::Notification;
use crate::config::SlackConfig;
use crate::error::AmError;
use crate::template::Templates;

/// Builds the Slack message body, so tests can check it without a network.
pub fn body(
    n: &Notification,
    c: &SlackConfig,
    templates: &Templates,
) -> Result<serde_json::Value, AmError> {
    let data = n.template_data();
    // One budget for the whole message: every field together is capped, not each alone.
    let mut budget = TemplateBudget::new(TemplateLimits::ALERTMANAGER);
    let title = templates.render_with_budget(
        c.title
            .as_deref()
            .unwrap_or(r#"{{ template "slack.default.title" . }}"#),
        &data,
        &mut budget,
    )?;
    let text = templates.render_with_budget(
        c.text
            .as_deref()
            .unwrap_or(r#"{{ template "slack.default.text" . }}"#),
        &data,
        &mut budget,
    )?;
    let color = if n.status() == "firing" {
        "danger"
    } else {
        "good"
    };
    let mut body = json!({
        "attachments": [{"title": title, "text": text, "fallback": title, "color": color}],
    });
    if let Some(ch) = &c.channel {
        body["channel"] = json!(ch);
    }
    if let Some(u) = &c.username {
        body["username"] = json!(u);
    }
    Ok(body)
}

/// POSTs the templated message to the Slack webhook URL.
pub async fn send(
    http: &HttpSender<'_>,
    n: &Notification,
    c: &SlackConfig,
    templates: &Templates,
) -> Result<(), AmError> {
    let body = body(n, c, templates)?;
    http.post_json("slack", &c.api_url, &c.auth, None, &body)
        .await
}
