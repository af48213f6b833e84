//! The egress policy: which addresses a tenant-configured notification may connect to.
//!
//! A tenant chooses webhook, Slack and SMTP destinations, but the connection leaves from the
//! provider's network. Without a policy a tenant reads `http://127.0.0.1:<port>/secret`, the
//! cloud metadata service or anything on the private network through Pitot. So every
//! connection a tenant configures is checked here: the host is resolved first, each address is
//! checked, and only a checked address is connected to (resolve-then-connect, so a DNS answer
//! that changes between check and connect cannot slip through).
//!
//! By default loopback, link-local, private (RFC 1918, ULA, CGNAT), unspecified, multicast,
//! broadcast, documentation/reserved ranges and the cloud metadata addresses are denied, as
//! Mimir's `-alertmanager.receivers-firewall-block-private-addresses` and Grafana's outbound
//! denylists do. The operator opens ranges with `egress.allow` and closes more with
//! `egress.deny`. Order of decision: an explicit `deny` entry wins, then an `allow` entry, then
//! the default denials; anything else is allowed. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
//! are judged as the IPv4 address they carry.
//!
//! Operator-configured URLs (such as the ruler's external Alertmanagers) do not go through this.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR that could not be parsed; the message names the text and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {text:?}: {reason}; write an address or address/prefix such as 10.0.0.0/8 or fd00::/8")]
pub struct CidrError {
    /// The text that was rejected.
    pub text: String,
    /// Why.
    pub reason: &'static str,
}

impl Cidr {
    /// Whether `ip` lies in this network (a mapped IPv6 address matches IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                // An IPv6 network that covers the mapped form (such as ::/0 or ::ffff:0:0/96).
                let mapped = u128::from(ip.to_ipv6_mapped());
                let mask = mask128(self.prefix);
                u128::from(net) & mask == mapped & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// The address a connection really reaches: `::ffff:a.b.c.d` is `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason| CidrError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let (addr, prefix) = match trimmed.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (trimmed, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the prefix length is not a number"));
                }
                let p: u8 = p
                    .parse()
                    .map_err(|_| bad("the prefix length is too long"))?;
                if p > max {
                    return Err(bad("the prefix length is longer than the address"));
                }
                p
            }
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Ranges denied unless the operator allows them: where a tenant must not reach by default.
pub const DEFAULT_DENIED: &[&str] = &[
    "0.0.0.0/8",       // "this network", unspecified
    "10.0.0.0/8",      // RFC 1918
    "100.64.0.0/10",   // CGNAT (RFC 6598); 100.100.100.200 is Alibaba's metadata service
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local; 169.254.169.254 is the AWS/GCP/Azure metadata service
    "172.16.0.0/12",   // RFC 1918
    "192.0.0.0/24",    // IETF protocol assignments (192.0.0.192 is Oracle's metadata)
    "192.0.2.0/24",    // documentation
    "192.88.99.0/24",  // 6to4 relay anycast
    "192.168.0.0/16",  // RFC 1918
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24",  // documentation
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
    "::/128",          // unspecified
    "::1/128",         // loopback
    "64:ff9b::/96",    // NAT64: reaches IPv4 addresses, including the ones above
    "64:ff9b:1::/48",  // local-use NAT64
    "100::/64",        // discard-only
    "2001:db8::/32",   // documentation
    "2002::/16",       // 6to4: embeds IPv4 addresses
    "fc00::/7",        // unique local (ULA); fd00:ec2::254 is AWS's IPv6 metadata service
    "fe80::/10",       // link-local
    "fec0::/10",       // deprecated site-local
    "ff00::/8",        // multicast
];

/// Which addresses tenant-configured connections may reach.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    defaults: Vec<Cidr>,
}

impl Default for EgressPolicy {
    /// The default denials only.
    fn default() -> Self {
        EgressPolicy::new(Vec::new(), Vec::new())
    }
}

/// Why a connection was refused; the message starts with the stable reason ID `egress-denied`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The address is denied by the policy.
    #[error("egress-denied: {host} resolves to {ip}, which is {why}; the operator can allow it with egress.allow (--egress-allow)")]
    Denied {
        /// The host as configured.
        host: String,
        /// The denied address.
        ip: IpAddr,
        /// Which rule denied it.
        why: String,
    },
    /// The host name did not resolve to any address.
    #[error("egress-unresolved: {host} does not resolve: {reason}; check the host name")]
    Unresolved {
        /// The host as configured.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The URL has no host or is malformed.
    #[error("egress-bad-url: {0}; use an http(s) URL with a host")]
    BadUrl(String),
}

impl EgressError {
    /// The stable reason ID (`egress-denied`, `egress-unresolved`, `egress-bad-url`).
    pub fn reason(&self) -> &'static str {
        match self {
            EgressError::Denied { .. } => "egress-denied",
            EgressError::Unresolved { .. } => "egress-unresolved",
            EgressError::BadUrl(_) => "egress-bad-url",
        }
    }
}

impl EgressPolicy {
    /// The default denials plus the operator's `allow` and `deny` networks.
    pub fn new(allow: Vec<Cidr>, deny: Vec<Cidr>) -> Self {
        let defaults = DEFAULT_DENIED
            .iter()
            .map(|c| c.parse().expect("the default denials are valid CIDRs"))
            .collect();
        EgressPolicy {
            allow,
            deny,
            defaults,
        }
    }

    /// Parses the operator's lists (each entry may itself be comma-separated, as flags are).
    pub fn from_lists(allow: &[String], deny: &[String]) -> Result<Self, CidrError> {
        Ok(EgressPolicy::new(parse_list(allow)?, parse_list(deny)?))
    }

    /// A policy that allows everything (for tests of the integrations themselves).
    pub fn allow_all() -> Self {
        EgressPolicy::new(
            vec![
                "0.0.0.0/0".parse().expect("valid"),
                "::/0".parse().expect("valid"),
            ],
            Vec::new(),
        )
    }

    /// Why `ip` is denied, or `None` when a connection to it is allowed.
    pub fn denial(&self, ip: IpAddr) -> Option<String> {
        if let Some(c) = self.deny.iter().find(|c| c.contains(ip)) {
            return Some(format!("in {c} of egress.deny"));
        }
        if self.allow.iter().any(|c| c.contains(ip)) {
            return None;
        }
        self.defaults
            .iter()
            .find(|c| c.contains(ip))
            .map(|c| format!("in the default-denied range {c}"))
    }

    /// Checks one address of `host`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        match self.denial(ip) {
            None => Ok(()),
            Some(why) => Err(EgressError::Denied {
                host: host.to_string(),
                ip,
                why,
            }),
        }
    }

    /// Resolves `host` and keeps the allowed addresses; refuses when none is allowed (naming
    /// the first denied one). A literal IP is checked without resolving.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check(host, ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| EgressError::Unresolved {
                host: host.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        let mut first_denial = None;
        let mut allowed = Vec::new();
        for addr in found {
            match self.check(host, addr.ip()) {
                Ok(()) => allowed.push(addr),
                Err(e) => {
                    first_denial.get_or_insert(e);
                }
            }
        }
        if !allowed.is_empty() {
            return Ok(allowed);
        }
        Err(first_denial.unwrap_or_else(|| EgressError::Unresolved {
            host: host.to_string(),
            reason: "no addresses".to_string(),
        }))
    }

    /// Checks a URL whose host is a literal IP (reqwest does not resolve those, so the
    /// resolver never sees them); host names are checked by [`EgressResolver`].
    pub fn check_url(&self, url: &str) -> Result<(), EgressError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| EgressError::BadUrl(format!("{e}")))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| EgressError::BadUrl("the URL has no host".to_string()))?;
        // The URL parser normalises IPv4 forms (decimal, hex, short) to dotted quads, and
        // writes IPv6 hosts in brackets.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(host, ip),
            Err(_) => Ok(()),
        }
    }
}

/// Refuses, at upload, receivers whose URL or smarthost is a literal IP the policy denies
/// (host names are checked when they are resolved, at send time), naming the field.
pub fn check_receivers(
    policy: &EgressPolicy,
    config: &crate::config::AlertmanagerConfig,
) -> Result<(), crate::error::AmError> {
    use crate::config::Integration;
    for r in &config.receivers {
        for (i, integ) in r.integrations.iter().enumerate() {
            let (key, checked) = match integ {
                Integration::Webhook(c) => ("url", policy.check_url(&c.url)),
                Integration::Slack(c) => ("api_url", policy.check_url(&c.api_url)),
                Integration::Email(c) => (
                    "smarthost",
                    match crate::config::smtp::parse_smarthost(&c.smarthost) {
                        Ok((host, _)) => match host.parse::<IpAddr>() {
                            Ok(ip) => policy.check(&host, ip),
                            Err(_) => Ok(()),
                        },
                        Err(_) => Ok(()),
                    },
                ),
            };
            if let Err(e) = checked {
                return Err(crate::error::AmError::Config(format!(
                    "receivers ({:?}).{}_configs[{i}].{key}: {e}",
                    r.name,
                    integ.kind()
                )));
            }
        }
    }
    Ok(())
}

fn parse_list(entries: &[String]) -> Result<Vec<Cidr>, CidrError> {
    let mut out = Vec::new();
    for entry in entries {
        for part in entry.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(part.parse()?);
        }
    }
    Ok(out)
}

/// reqwest's resolver under the policy: resolves, drops denied addresses, and fails the
/// request with [`EgressError`] when none is left, so reqwest connects only to checked ones.
#[derive(Debug, Clone)]
pub struct EgressResolver {
    policy: Arc<EgressPolicy>,
}

impl EgressResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        EgressResolver { policy }
    }
}

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy.resolve(&host, 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client for tenant-configured destinations: the policy's resolver, no redirects
/// (a 302 to another address is an answer, not a hop), no proxy from the environment.
pub fn http_client(policy: Arc<EgressPolicy>) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(EgressResolver::new(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("a client without custom TLS settings builds")
}

/// The policy's refusal inside a reqwest error, if that is why the request failed.
pub fn egress_error_of(e: &reqwest::Error) -> Option<EgressError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<EgressError>() {
            return Some(found.clone());
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn cidr_parsing_accepts_addresses_and_prefixes() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!("fd00::/8".parse::<Cidr>().unwrap().to_string(), "fd00::/8");
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!(
            " 0.0.0.0/0 ".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/999",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.to_string().contains("invalid CIDR"), "{bad}: {e}");
        }
    }

    #[test]
    fn containment_respects_prefix_bits() {
        let c: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(c.contains(ip("172.16.0.1")));
        assert!(c.contains(ip("172.31.255.255")));
        assert!(!c.contains(ip("172.32.0.0")));
        assert!(!c.contains(ip("172.15.255.255")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(
            !all.contains(ip("2001:4860::8888")),
            "v4 networks hold no v6 address"
        );
        let v6: Cidr = "fc00::/7".parse().unwrap();
        assert!(v6.contains(ip("fd00:ec2::254")));
        assert!(!v6.contains(ip("fe00::1")));
    }

    #[test]
    fn default_policy_denies_internal_and_metadata_addresses() {
        let p = EgressPolicy::default();
        for denied in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "169.254.169.254",
            "192.0.0.192",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let e = p.check("h", ip(denied)).unwrap_err();
            assert_eq!(e.reason(), "egress-denied", "{denied}");
            assert!(e.to_string().contains("egress.allow"), "{e}");
        }
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(p.check("h", ip(allowed)).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn allow_opens_defaults_and_deny_wins_over_allow() {
        let p = EgressPolicy::new(
            cidrs(&["127.0.0.1/32", "10.0.0.0/8"]),
            cidrs(&["10.9.0.0/16", "8.8.8.8"]),
        );
        assert!(p.check("h", ip("127.0.0.1")).is_ok());
        assert!(
            p.check("h", ip("::ffff:127.0.0.1")).is_ok(),
            "mapped form of an allowed address"
        );
        assert!(
            p.check("h", ip("127.0.0.2")).is_err(),
            "only the allowed /32"
        );
        assert!(p.check("h", ip("10.1.0.1")).is_ok());
        let e = p.check("h", ip("10.9.1.1")).unwrap_err();
        assert!(e.to_string().contains("egress.deny"), "{e}");
        assert!(
            p.check("h", ip("8.8.8.8")).is_err(),
            "deny works on public addresses too"
        );
        assert!(
            p.check("h", ip("169.254.169.254")).is_err(),
            "other defaults stay"
        );
    }

    #[test]
    fn from_lists_splits_commas_and_reports_bad_entries() {
        let p =
            EgressPolicy::from_lists(&["127.0.0.1/32, ::1".to_string()], &["1.2.3.4".to_string()])
                .unwrap();
        assert!(p.check("h", ip("::1")).is_ok());
        assert!(p.check("h", ip("1.2.3.4")).is_err());
        let e = EgressPolicy::from_lists(&["nope".to_string()], &[]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn literal_ip_urls_are_checked_and_names_left_to_the_resolver() {
        let p = EgressPolicy::default();
        assert!(p.check_url("http://127.0.0.1:9/secret").is_err());
        assert!(p.check_url("http://[::1]:9/").is_err());
        assert!(p.check_url("http://[::ffff:a9fe:a9fe]/latest").is_err());
        assert!(
            p.check_url("http://2130706433/").is_err(),
            "decimal IPv4 form is normalised"
        );
        assert!(
            p.check_url("http://0x7f.1/").is_err(),
            "hex IPv4 form is normalised"
        );
        assert!(p.check_url("https://hooks.example.com/x").is_ok());
        assert_eq!(
            p.check_url("not a url").unwrap_err().reason(),
            "egress-bad-url"
        );
    }

    #[tokio::test]
    async fn resolve_drops_denied_addresses() {
        let p = EgressPolicy::default();
        let e = p.resolve("localhost", 80).await.unwrap_err();
        assert_eq!(e.reason(), "egress-denied", "{e}");
        let open = EgressPolicy::new(cidrs(&["127.0.0.0/8", "::1"]), Vec::new());
        let addrs = open.resolve("localhost", 80).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
        let lit = open.resolve("[::1]", 25).await.unwrap();
        assert_eq!(lit, vec![SocketAddr::new(ip("::1"), 25)]);
    }
}
