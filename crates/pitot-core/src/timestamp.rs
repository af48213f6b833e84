//! One way to write a moment in Pitot's own JSON answers (`created_at` of tenants,
//! tokens and data sources, usage rows, cost events): RFC 3339 in UTC, as people and
//! Prometheus' APIs read it, instead of epoch milliseconds in some answers and text in
//! others.

/// `ms` (Unix milliseconds) as RFC 3339 in UTC with a `Z`, with milliseconds only when
/// there are some (`2026-12-07T00:00:00Z`, `2026-12-07T10:11:12.345Z`).
pub fn format_rfc3339_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

/// Serde for a Unix-milliseconds field written as [`format_rfc3339_ms`]; reads that
/// text or the plain number earlier versions wrote.
pub mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the moment as RFC 3339.
    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339_ms(*ms))
    }

    /// Reads RFC 3339 text or Unix milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Ms(i64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Ms(ms) => Ok(ms),
            Either::Text(text) => chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.timestamp_millis())
                .map_err(|e| serde::de::Error::custom(format!("{text:?} is not RFC 3339: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_rfc3339_and_back() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_ms(1_500), "1970-01-01T00:00:01.500Z");
        #[derive(serde::Serialize, serde::Deserialize)]
        struct T {
            #[serde(with = "rfc3339_ms")]
            at: i64,
        }
        let text = serde_json::to_string(&T {
            at: 1_765_100_000_123,
        })
        .unwrap();
        assert_eq!(text, r#"{"at":"2025-12-07T09:33:20.123Z"}"#);
        assert_eq!(
            serde_json::from_str::<T>(&text).unwrap().at,
            1_765_100_000_123
        );
        assert_eq!(serde_json::from_str::<T>(r#"{"at":42}"#).unwrap().at, 42);
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).is_err());
    }
}
