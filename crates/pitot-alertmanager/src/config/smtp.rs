//! Validation of the SMTP fields a tenant sets (`smarthost`, `hello`, addresses, headers).
//!
//! Every one of them ends up on an SMTP command line or in a message header. A CR or LF in
//! any of them starts a new command (`hello: "x\r\nSET pwned 1"` reached a Redis-like server as
//! its own line), so they are checked when the configuration is uploaded, naming the field.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The `hello` name as lettre sends it: a domain, or an address literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloName {
    /// A host name (`mail.example.com`, `localhost`).
    Domain(String),
    /// `[192.0.2.1]`.
    V4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`.
    V6(Ipv6Addr),
}

/// Splits and checks `host:port` (`[v6]:port` for IPv6 literals): the host is a domain name
/// or an IP address, the port a number; no whitespace or control characters anywhere.
pub fn parse_smarthost(smarthost: &str) -> Result<(String, u16), String> {
    if smarthost
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{smarthost:?} contains whitespace or control characters; write host:port"
        ));
    }
    let (host, port) = smarthost
        .rsplit_once(':')
        .ok_or_else(|| format!("{smarthost:?} is not host:port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{smarthost:?} has no valid port (1-65535)"))?;
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| format!("{smarthost:?}: {host} is not an IPv6 address"))?;
        return Ok((ip.to_string(), port));
    }
    if host.parse::<IpAddr>().is_ok() || is_domain(host) {
        return Ok((host.to_string(), port));
    }
    Err(format!(
        "{smarthost:?}: {host:?} is not a host name or IP address"
    ))
}

/// Checks the EHLO name: a domain name or an address literal (`[192.0.2.1]`, `[IPv6:::1]`).
pub fn parse_hello(hello: &str) -> Result<HelloName, String> {
    if let Some(inner) = hello.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if let Some(v6) = inner.strip_prefix("IPv6:") {
            if let Ok(ip) = v6.parse() {
                return Ok(HelloName::V6(ip));
            }
        } else if let Ok(ip) = inner.parse() {
            return Ok(HelloName::V4(ip));
        }
        return Err(format!("{hello:?} is not a valid address literal"));
    }
    if is_domain(hello) {
        return Ok(HelloName::Domain(hello.to_string()));
    }
    Err(format!(
        "{hello:?} is not a domain name or address literal (letters, digits, '-' and '.', no spaces or line breaks)"
    ))
}

/// A DNS name: dot-separated labels of letters, digits and '-' (1 to 63 each, no leading or
/// trailing '-'), at most 253 characters in all.
pub fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks an email header name: printable ASCII without ':' or spaces (RFC 5322 field name).
pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(format!(
            "header name {name:?} must be printable ASCII without ':' or spaces"
        ));
    }
    Ok(())
}

/// Checks a value that ends up in a header or on a command line: no CR, LF or other control
/// characters.
pub fn check_no_control(what: &str, value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{what} {value:?} contains a line break or control character"
        ));
    }
    Ok(())
}

/// A rendered header value made safe: control characters (a template can put line breaks in
/// from alert labels) become spaces.
pub fn sanitize_header_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smarthost_needs_a_host_and_a_port_and_nothing_else() {
        assert_eq!(
            parse_smarthost("smtp.example.com:587").unwrap(),
            ("smtp.example.com".to_string(), 587)
        );
        assert_eq!(
            parse_smarthost("192.0.2.1:25").unwrap(),
            ("192.0.2.1".to_string(), 25)
        );
        assert_eq!(
            parse_smarthost("[::1]:25").unwrap(),
            ("::1".to_string(), 25)
        );
        for bad in [
            "smtp.example.com",
            "smtp.example.com:0",
            "smtp.example.com:99999",
            ":25",
            "smtp example.com:25",
            "smtp.example.com\r\nQUIT:25",
            "a_b.example.com:25",
            "[nope]:25",
            "x/y:25",
        ] {
            assert!(parse_smarthost(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hello_is_a_domain_or_address_literal() {
        assert_eq!(
            parse_hello("mail.example.com").unwrap(),
            HelloName::Domain("mail.example.com".into())
        );
        assert_eq!(
            parse_hello("[192.0.2.1]").unwrap(),
            HelloName::V4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            parse_hello("[IPv6:::1]").unwrap(),
            HelloName::V6(Ipv6Addr::LOCALHOST)
        );
        for bad in [
            "x\r\nSET pwned 1\r\nQUIT",
            "x\nQUIT",
            "two words",
            "",
            "-lead.example",
            "[999.1.1.1]",
            "a..b",
        ] {
            let e = parse_hello(bad).unwrap_err();
            assert!(e.contains("not"), "{bad}: {e}");
        }
    }

    #[test]
    fn headers_refuse_line_breaks() {
        assert!(check_header_name("X-Team").is_ok());
        assert!(check_header_name("X Team").is_err());
        assert!(check_header_name("X-Team:").is_err());
        assert!(check_header_name("X-Team\r\nBcc").is_err());
        assert!(check_no_control("headers.X-Team", "db").is_ok());
        assert!(check_no_control("headers.X-Team", "db\r\nBcc: x@y").is_err());
        assert_eq!(sanitize_header_value("a\r\nb\tc"), "a  b c");
    }
}
