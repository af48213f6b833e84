//! Receivers and their integrations, with global defaults already applied.

use std::collections::BTreeMap;
use std::time::Duration;

use super::duration::parse_duration;
use super::raw::{RawEmail, RawGlobal, RawHttpConfig, RawReceiver, RawSlack, RawWebhook};

/// A named set of integrations that notifications are routed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// The receiver name that routes refer to.
    pub name: String,
    /// Every integration is notified for each group routed here.
    pub integrations: Vec<Integration>,
}

/// One way of delivering a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Integration {
    /// Alertmanager's generic webhook (payload version 4).
    Webhook(WebhookConfig),
    /// SMTP email.
    Email(EmailConfig),
    /// Slack incoming webhook.
    Slack(SlackConfig),
}

impl Integration {
    /// Whether resolved notifications are sent, which the notification log needs.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved,
            Integration::Email(c) => c.send_resolved,
            Integration::Slack(c) => c.send_resolved,
        }
    }

    /// The integration type name as Alertmanager spells it (`webhook`, `email`, `slack`).
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::Slack(_) => "slack",
        }
    }
}

/// How outgoing HTTP requests authenticate.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum HttpAuth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: <scheme> <credentials>` (bearer_token is scheme `Bearer`).
    Authorization {
        /// The scheme, such as `Bearer`.
        scheme: String,
        /// The secret.
        credentials: String,
    },
    /// HTTP basic auth.
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
}

impl HttpAuth {
    fn from_raw(raw: Option<&RawHttpConfig>) -> HttpAuth {
        let Some(raw) = raw else {
            return HttpAuth::None;
        };
        if let Some(token) = &raw.bearer_token {
            return HttpAuth::Authorization {
                scheme: "Bearer".to_string(),
                credentials: token.clone(),
            };
        }
        if let Some(a) = &raw.authorization {
            return HttpAuth::Authorization {
                scheme: a.type_.clone().unwrap_or_else(|| "Bearer".to_string()),
                credentials: a.credentials.clone().unwrap_or_default(),
            };
        }
        if let Some(b) = &raw.basic_auth {
            return HttpAuth::Basic {
                username: b.username.clone().unwrap_or_default(),
                password: b.password.clone().unwrap_or_default(),
            };
        }
        HttpAuth::None
    }
}

/// `webhook_configs[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Where the JSON payload is POSTed.
    pub url: String,
    /// Whether resolved notifications are sent (default true).
    pub send_resolved: bool,
    /// At most this many alerts per payload; 0 means all.
    pub max_alerts: u64,
    /// Credentials for the request.
    pub auth: HttpAuth,
    /// Per-attempt timeout, if set.
    pub timeout: Option<Duration>,
}

/// `email_configs[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// Recipients, comma separated.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// The name sent in EHLO.
    pub hello: String,
    /// `host:port` of the SMTP server.
    pub smarthost: String,
    /// SMTP AUTH user, if any.
    pub auth_username: Option<String>,
    /// SMTP AUTH password.
    pub auth_password: Option<String>,
    /// Require STARTTLS (default true, as in Alertmanager).
    pub require_tls: bool,
    /// Extra headers; `Subject` is a template.
    pub headers: BTreeMap<String, String>,
    /// HTML body template.
    pub html: Option<String>,
    /// Text body template.
    pub text: Option<String>,
    /// Whether resolved notifications are sent (default false).
    pub send_resolved: bool,
}

/// `slack_configs[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// The incoming webhook URL.
    pub api_url: String,
    /// Channel override.
    pub channel: Option<String>,
    /// Username override.
    pub username: Option<String>,
    /// Title template.
    pub title: Option<String>,
    /// Text template.
    pub text: Option<String>,
    /// Whether resolved notifications are sent (default false).
    pub send_resolved: bool,
    /// Credentials for the request.
    pub auth: HttpAuth,
}

/// Supported receiver keys; anything else ending in `_configs` is an unsupported integration.
const KNOWN_TYPES: [&str; 3] = ["webhook_configs", "email_configs", "slack_configs"];

pub(crate) fn receiver_from_raw(
    raw: &RawReceiver,
    global: &RawGlobal,
    field: &str,
) -> Result<Receiver, String> {
    let name = raw
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{field}.name: missing receiver name"))?;
    let field = format!("{field} ({name:?})");
    if let Some(key) = raw.other.keys().next() {
        if key.ends_with("_configs") {
            return Err(format!(
                "{field}: receiver type {key:?} is not supported (supported: {})",
                KNOWN_TYPES.join(", ")
            ));
        }
        return Err(format!("{field}: unknown field {key:?}"));
    }
    let mut integrations = Vec::new();
    for (i, w) in raw.webhook_configs.iter().enumerate() {
        integrations.push(Integration::Webhook(webhook(
            w,
            global,
            &format!("{field}.webhook_configs[{i}]"),
        )?));
    }
    for (i, e) in raw.email_configs.iter().enumerate() {
        integrations.push(Integration::Email(email(
            e,
            global,
            &format!("{field}.email_configs[{i}]"),
        )?));
    }
    for (i, s) in raw.slack_configs.iter().enumerate() {
        integrations.push(Integration::Slack(slack(
            s,
            global,
            &format!("{field}.slack_configs[{i}]"),
        )?));
    }
    Ok(Receiver { name, integrations })
}

fn check_url(url: &str, field: &str) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{field}: {url:?} is not an http(s) URL"));
    }
    Ok(())
}

fn webhook(raw: &RawWebhook, global: &RawGlobal, field: &str) -> Result<WebhookConfig, String> {
    let url = raw
        .url
        .clone()
        .ok_or_else(|| format!("{field}.url: missing"))?;
    check_url(&url, &format!("{field}.url"))?;
    let timeout = match &raw.timeout {
        Some(t) => Some(parse_duration(t).map_err(|e| format!("{field}.timeout: {e}"))?),
        None => None,
    };
    Ok(WebhookConfig {
        url,
        send_resolved: raw.send_resolved.unwrap_or(true),
        max_alerts: raw.max_alerts.unwrap_or(0),
        auth: HttpAuth::from_raw(raw.http_config.as_ref().or(global.http_config.as_ref())),
        timeout,
    })
}

fn email(raw: &RawEmail, global: &RawGlobal, field: &str) -> Result<EmailConfig, String> {
    let to = raw
        .to
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{field}.to: missing"))?;
    let from = raw
        .from
        .clone()
        .or_else(|| global.smtp_from.clone())
        .ok_or_else(|| format!("{field}.from: missing (and no global.smtp_from)"))?;
    let smarthost = raw
        .smarthost
        .clone()
        .or_else(|| global.smtp_smarthost.clone())
        .ok_or_else(|| format!("{field}.smarthost: missing (and no global.smtp_smarthost)"))?;
    super::smtp::parse_smarthost(&smarthost).map_err(|e| format!("{field}.smarthost: {e}"))?;
    let hello = raw
        .hello
        .clone()
        .or_else(|| global.smtp_hello.clone())
        .unwrap_or_else(|| "localhost".to_string());
    super::smtp::parse_hello(&hello).map_err(|e| format!("{field}.hello: {e}"))?;
    check_addresses(&from, &format!("{field}.from"))?;
    check_addresses(&to, &format!("{field}.to"))?;
    for (name, value) in &raw.headers {
        super::smtp::check_header_name(name).map_err(|e| format!("{field}.headers: {e}"))?;
        super::smtp::check_no_control(&format!("{field}.headers.{name}:"), value)?;
    }
    let auth_username = raw
        .auth_username
        .clone()
        .or_else(|| global.smtp_auth_username.clone());
    let auth_password = raw
        .auth_password
        .clone()
        .or_else(|| global.smtp_auth_password.clone());
    if let Some(u) = &auth_username {
        super::smtp::check_no_control(&format!("{field}.auth_username:"), u)?;
    }
    if auth_password
        .as_deref()
        .is_some_and(|p| p.chars().any(char::is_control))
    {
        return Err(format!(
            "{field}.auth_password: contains a line break or control character"
        ));
    }
    Ok(EmailConfig {
        to,
        from,
        hello,
        smarthost,
        auth_username,
        auth_password,
        require_tls: raw.require_tls.or(global.smtp_require_tls).unwrap_or(true),
        headers: raw.headers.clone(),
        html: raw.html.clone(),
        text: raw.text.clone(),
        send_resolved: raw.send_resolved.unwrap_or(false),
    })
}

/// Checks a comma-separated address list: no control characters, each a valid mailbox.
fn check_addresses(list: &str, field: &str) -> Result<(), String> {
    super::smtp::check_no_control(&format!("{field}:"), list)?;
    for addr in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        addr.parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("{field}: {addr:?} is not an email address: {e}"))?;
    }
    Ok(())
}

fn slack(raw: &RawSlack, global: &RawGlobal, field: &str) -> Result<SlackConfig, String> {
    let api_url = raw
        .api_url
        .clone()
        .or_else(|| global.slack_api_url.clone())
        .ok_or_else(|| format!("{field}.api_url: missing (and no global.slack_api_url)"))?;
    check_url(&api_url, &format!("{field}.api_url"))?;
    Ok(SlackConfig {
        api_url,
        channel: raw.channel.clone(),
        username: raw.username.clone(),
        title: raw.title.clone(),
        text: raw.text.clone(),
        send_resolved: raw.send_resolved.unwrap_or(false),
        auth: HttpAuth::from_raw(raw.http_config.as_ref().or(global.http_config.as_ref())),
    })
}
