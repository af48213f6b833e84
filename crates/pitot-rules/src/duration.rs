//! Prometheus durations (`1h30m`, `5m`, `100d`) as they appear in rule and test files.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Prometheus' notation, kept in milliseconds.
///
/// Rule files write durations as `5m` or `1h30m`; keeping our own type means files
/// round-trip through YAML in the same notation instead of `std::time::Duration`'s
/// struct form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub i64);

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    /// The duration in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses Prometheus' duration syntax: units `y w d h m s ms`, each at most once
    /// and from largest to smallest, or a plain `0`.
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        let bad = || format!("not a valid duration string: {s:?}");
        let t = s.trim();
        if t == "0" {
            return Ok(PromDuration(0));
        }
        if t.is_empty() {
            return Err(bad());
        }
        let b = t.as_bytes();
        let (mut pos, mut total, mut next_unit) = (0usize, 0i64, 0usize);
        while pos < b.len() {
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            if start == pos {
                return Err(bad());
            }
            let n: i64 = t[start..pos].parse().map_err(|_| bad())?;
            let ustart = pos;
            while pos < b.len() && b[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let unit = &t[ustart..pos];
            let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
            if idx < next_unit {
                return Err(bad());
            }
            next_unit = idx + 1;
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        Ok(PromDuration(total))
    }
}

/// Prints as Prometheus does: largest units first, `0s` for zero.
impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        if ms < 0 {
            f.write_str("-")?;
            ms = -ms;
        }
        for (unit, size) in UNITS {
            // Prometheus never prints weeks unless the duration is whole weeks.
            if unit == "w" && ms % size != 0 {
                continue;
            }
            if ms >= size {
                write!(f, "{}{}", ms / size, unit)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML may hand us `0` as an integer.
        let v = serde_yaml::Value::deserialize(d)?;
        let text = match v {
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "not a valid duration: {other:?}"
                )))
            }
        };
        PromDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(PromDuration::parse("1h30m").unwrap().0, 5_400_000);
        assert_eq!(PromDuration::parse("0").unwrap().0, 0);
        assert_eq!(PromDuration::parse("100d").unwrap().0, 8_640_000_000);
        assert!(PromDuration::parse("5x").is_err());
        assert!(PromDuration::parse("1m1h").is_err());
        assert!(PromDuration::parse("").is_err());
        assert_eq!(PromDuration(5_400_000).to_string(), "1h30m");
        assert_eq!(PromDuration(0).to_string(), "0s");
        assert_eq!(PromDuration(14 * 86_400_000).to_string(), "2w");
        assert_eq!(PromDuration(8 * 86_400_000).to_string(), "8d");
        assert_eq!(PromDuration(1_500).to_string(), "1s500ms");
    }
}
