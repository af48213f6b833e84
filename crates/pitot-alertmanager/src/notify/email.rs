//! The email integration over SMTP (lettre): plain, STARTTLS (`require_tls`), or implicit TLS on
//! port 465, with templated subject and bodies.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pitot_core::{TemplateBudget, TemplateLimits};

use super::{Notification, RetryPolicy};
use crate::config::smtp::{parse_hello, parse_smarthost, sanitize_header_value, HelloName};
use crate::config::EmailConfig;
use crate::egress::EgressPolicy;
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
    // One budget for the whole message: every field together is capped, not each alone.
    let mut budget = TemplateBudget::new(TemplateLimits::ALERTMANAGER);
    let mut render = |text: &str| templates.render_with_budget(text, &data, &mut budget);
    let subject_tpl = c
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| v.as_str())
        .unwrap_or(r#"{{ template "email.default.subject" . }}"#);
    let subject = sanitize_header_value(&render(subject_tpl)?);
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
        let value = sanitize_header_value(&render(v)?);
        builder = builder.raw_header(HeaderValue::new(name, value));
    }
    let html = render(
        c.html
            .as_deref()
            .unwrap_or(r#"{{ template "email.default.html" . }}"#),
    )?;
    let text = match &c.text {
        Some(t) => Some(render(t)?),
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

/// Why an SMTP exchange failed, in Pitot's words: the server's reply text is not passed on.
fn describe_smtp_error(e: &lettre::transport::smtp::Error) -> String {
    if e.is_timeout() {
        return "smtp-timeout: the SMTP server did not answer in time".to_string();
    }
    if e.is_tls() {
        return "smtp-tls-failed: the TLS handshake with the SMTP server failed (the certificate must match the smarthost's host name)".to_string();
    }
    match e.status() {
        Some(code) => format!("smtp-rejected: the SMTP server answered {code}"),
        None => "smtp-failed: cannot talk to the SMTP server".to_string(),
    }
}

/// Sends the email through the configured smarthost, connecting only to an address the egress
/// policy allows (TLS still verifies the smarthost's host name).
pub async fn send(
    n: &Notification,
    c: &EmailConfig,
    templates: &Templates,
    egress: &EgressPolicy,
    retry: &RetryPolicy,
) -> Result<(), AmError> {
    let msg = message(n, c, templates)?;
    let (host, port) = parse_smarthost(&c.smarthost).map_err(fail)?;
    let addrs = egress.resolve(&host, port).await.map_err(fail)?;
    let addr = addrs
        .first()
        .ok_or_else(|| fail(format!("egress-unresolved: {host} has no address")))?;
    let tls_parameters =
        || TlsParameters::new(host.clone()).map_err(|e| fail(format!("smtp-tls-failed: {e}")));
    let tls = if port == 465 {
        Tls::Wrapper(tls_parameters()?)
    } else if c.require_tls {
        Tls::Required(tls_parameters()?)
    } else {
        Tls::None
    };
    let hello = match parse_hello(&c.hello).map_err(|e| fail(format!("hello: {e}")))? {
        HelloName::Domain(d) => ClientId::Domain(d),
        HelloName::V4(ip) => ClientId::Ipv4(ip),
        HelloName::V6(ip) => ClientId::Ipv6(ip),
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(port)
            .tls(tls)
            .hello_name(hello)
            .timeout(Some(retry.attempt_timeout(None)));
    if let (Some(user), Some(pass)) = (&c.auth_username, &c.auth_password) {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    let transport = builder.build();
    transport
        .send(msg)
        .await
        .map_err(|e| fail(describe_smtp_error(&e)))?;
    Ok(())
}
