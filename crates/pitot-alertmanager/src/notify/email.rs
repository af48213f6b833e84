//! The email integration over SMTP (lettre): plain, STARTTLS (`require_tls`), or implicit TLS on
//! port 465, with templated subject and bodies.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Notification;
use crate::config::EmailConfig;
use crate::error::AmError;
use crate::template::Templates;

fn fail(reason: impl std::fmt::Display) -> AmError {
    AmError::Notify {
        integration: "email".to_string(),
        reason: reason.to_string(),
    }
}

/// Builds the message, so tests can check it without a server.
pub fn message(
    n: &Notification,
    c: &EmailConfig,
    templates: &Templates,
) -> Result<Message, AmError> {
    let data = n.template_data();
    let subject_tpl = c
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| v.as_str())
        .unwrap_or(r#"{{ template "email.default.subject" . }}"#);
    let subject = templates.render(subject_tpl, &data)?;
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|e| fail(format!("from {:?}: {e}", c.from)))?;
    let mut builder = Message::builder().from(from).subject(subject);
    for to in c.to.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        builder = builder.to(to.parse().map_err(|e| fail(format!("to {to:?}: {e}")))?);
    }
    for (k, v) in &c.headers {
        if ["subject", "to", "from"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        let name = HeaderName::new_from_ascii(k.clone())
            .map_err(|e| fail(format!("header {k:?}: {e}")))?;
        builder = builder.raw_header(HeaderValue::new(name, templates.render(v, &data)?));
    }
    let html = templates.render(
        c.html
            .as_deref()
            .unwrap_or(r#"{{ template "email.default.html" . }}"#),
        &data,
    )?;
    let text = match &c.text {
        Some(t) => Some(templates.render(t, &data)?),
        None => None,
    };
    let built = match text {
        Some(text) => builder.multipart(MultiPart::alternative_plain_html(text, html)),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        ),
    };
    built.map_err(fail)
}

pub async fn send(n: &Notification, c: &EmailConfig, templates: &Templates) -> Result<(), AmError> {
    let msg = message(n, c, templates)?;
    let (host, port) = c
        .smarthost
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| fail(format!("smarthost {:?} is not host:port", c.smarthost)))?;
    let mut builder = if port == 465 {
        AsyncSmtpTransport::<Tokio1Executor>::relay(&host).map_err(fail)?
    } else if c.require_tls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host).map_err(fail)?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
    };
    builder = builder
        .port(port)
        .hello_name(ClientId::Domain(c.hello.clone()));
    if let (Some(user), Some(pass)) = (&c.auth_username, &c.auth_password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    let transport = builder.build();
    transport.send(msg).await.map_err(fail)?;
    Ok(())
}
