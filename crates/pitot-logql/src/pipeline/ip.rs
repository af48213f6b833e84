//! `ip("...")` patterns: a single address, a range `a-b`, or a CIDR, for IPv4 and IPv6,
//! and a scanner that finds addresses inside a longer string.

use std::net::IpAddr;

/// A parsed `ip()` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPattern {
    /// One address.
    Single(IpAddr),
    /// An inclusive range (same family).
    Range(IpAddr, IpAddr),
    /// A network and prefix length.
    Cidr(IpAddr, u8),
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (true, u32::from(v) as u128),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

impl IpPattern {
    /// Parses a pattern; the error is Loki's `ip: invalid pattern`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let invalid = || format!("ip: invalid pattern: {s:?}");
        let s = s.trim();
        if let Some((a, b)) = s.split_once('-') {
            let a: IpAddr = a.trim().parse().map_err(|_| invalid())?;
            let b: IpAddr = b.trim().parse().map_err(|_| invalid())?;
            if a.is_ipv4() != b.is_ipv4() || to_u128(a).1 > to_u128(b).1 {
                return Err(invalid());
            }
            return Ok(IpPattern::Range(a, b));
        }
        if let Some((a, bits)) = s.split_once('/') {
            let a: IpAddr = a.parse().map_err(|_| invalid())?;
            let bits: u8 = bits.parse().map_err(|_| invalid())?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(invalid());
            }
            return Ok(IpPattern::Cidr(a, bits));
        }
        s.parse().map(IpPattern::Single).map_err(|_| invalid())
    }

    /// Whether `ip` is covered by the pattern.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            IpPattern::Single(a) => a == ip,
            IpPattern::Range(a, b) => {
                let (v4, x) = to_u128(ip);
                v4 == a.is_ipv4() && x >= to_u128(a).1 && x <= to_u128(b).1
            }
            IpPattern::Cidr(net, bits) => {
                let (v4, x) = to_u128(ip);
                if v4 != net.is_ipv4() {
                    return false;
                }
                let width = if v4 { 32 } else { 128 };
                if bits == 0 {
                    return true;
                }
                let shift = width - bits as u32;
                (x >> shift) == (to_u128(net).1 >> shift)
            }
        }
    }

    /// Whether any address found in `s` is covered.
    pub fn matches_in(&self, s: &str) -> bool {
        let mut found = false;
        scan_ips(s, |ip| {
            if self.contains(ip) {
                found = true;
                return false;
            }
            true
        });
        found
    }
}

fn is_ip_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b'.' || b == b':'
}

/// Calls `f` with every address found in `s` until it returns false.
pub fn scan_ips(s: &str, mut f: impl FnMut(IpAddr) -> bool) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ip_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ip_byte(bytes[i]) {
            i += 1;
        }
        let run = &s[start..i];
        if run.len() < 2 || !(run.contains('.') || run.contains(':')) {
            continue;
        }
        // Longest prefix that parses (drops a trailing `:port`, a sentence dot, ...).
        let mut end = run.len();
        while end >= 2 {
            if let Ok(ip) = run[..end].parse::<IpAddr>() {
                if !f(ip) {
                    return;
                }
                break;
            }
            end -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = IpPattern::parse("192.168.1.0/24").unwrap();
        assert!(p.matches_in("src 192.168.1.10 ok"));
        assert!(!p.matches_in("src 10.0.0.9 ok"));
        let r = IpPattern::parse("192.168.1.1-192.168.1.9").unwrap();
        assert!(r.matches_in("192.168.1.5"));
        let v6 = IpPattern::parse("2001:db8::/32").unwrap();
        assert!(v6.matches_in("2001:db8::1"));
        assert!(IpPattern::parse("10.0.0.0/8")
            .unwrap()
            .matches_in("client 10.0.0.7:80"));
        assert!(IpPattern::parse("bogus").is_err());
        assert!(IpPattern::parse("").is_err());
    }
}
