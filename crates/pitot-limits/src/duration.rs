//! Durations in limits are written as Prometheus durations (`10m`, `721h`, `30d1h`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses `0`, `0s`, `90s`, `1h30m`, `30d1h` (Pitot's one parser of Prometheus
/// durations).
pub fn parse(value: &str) -> Result<Duration, String> {
    pitot_core::parse_duration(value).map_err(|e| e.to_string())
}

/// Formats as the largest units that divide it, Prometheus style (`30d1h`, `10m`, `0s`).
pub fn format(d: Duration) -> String {
    pitot_core::format_duration(d)
}

/// A duration that reads and writes as a Prometheus duration string, for limit files
/// and the limits API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl serde::Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map(Dur).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (text, secs) in [
            ("30d1h", 30 * 86400 + 3600),
            ("10m", 600),
            ("0s", 0),
            ("1h30m", 5400),
        ] {
            assert_eq!(parse(text).unwrap(), Duration::from_secs(secs), "{text}");
            assert_eq!(
                parse(&format(Duration::from_secs(secs))).unwrap().as_secs(),
                secs
            );
        }
        assert_eq!(format(Duration::from_secs(721 * 3600)), "30d1h");
        assert!(parse("soon").is_err());
    }
}
