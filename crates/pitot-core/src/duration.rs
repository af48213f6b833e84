//! Prometheus durations (`30s`, `1h30m`, `721h`, `30d1h`, `250ms`), the one format of
//! every duration in Pitot's configuration, limits, rule and Alertmanager files and
//! PromQL test scripts.
//!
//! The grammar is Prometheus' `model.ParseDuration`: whole numbers, each followed by one
//! of the units `y`, `w`, `d`, `h`, `m`, `s`, `ms`, from the largest to the smallest and
//! each at most once, or a bare `0`. Years are 365 days and weeks 7 days. Negative and
//! fractional values are not durations here; query APIs that take float seconds parse
//! those themselves before falling back to this.

use std::time::Duration;

/// Units from the largest to the smallest, in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Why a text is not a Prometheus duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration (examples: 90s, 10m, 1h30m, 30d)")]
    Empty,
    /// A part is not a number followed by a known unit.
    #[error("invalid duration {0:?}: expected numbers each followed by y, w, d, h, m, s or ms (examples: 90s, 10m, 1h30m, 30d)")]
    Syntax(String),
    /// Units are out of order or repeated (`30m1h`, `1m1m`).
    #[error("invalid duration {0:?}: units must go from the largest to the smallest, each once (1h30m, not 30m1h)")]
    Order(String),
    /// More than fits in 64-bit milliseconds.
    #[error("invalid duration {0:?}: too large")]
    TooLarge(String),
}

/// Parses a Prometheus duration.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse_duration_ms(text).map(Duration::from_millis)
}

/// Parses a Prometheus duration into whole milliseconds, the resolution of the format.
pub fn parse_duration_ms(text: &str) -> Result<u64, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(0);
    }
    let syntax = || DurationError::Syntax(text.to_string());
    let mut rest = text;
    let mut total: u64 = 0;
    // Index in UNITS of the next unit allowed: each later part must use a smaller unit.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let letters = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let (number, unit) = (&rest[..digits], &rest[digits..digits + letters]);
        let index = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(syntax)?;
        if index < next_unit {
            return Err(DurationError::Order(text.to_string()));
        }
        next_unit = index + 1;
        let too_large = || DurationError::TooLarge(text.to_string());
        let n: u64 = number.parse().map_err(|_| too_large())?;
        total = n
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .filter(|&ms| ms <= i64::MAX as u64)
            .ok_or_else(too_large)?;
        rest = &rest[digits + letters..];
    }
    Ok(total)
}

/// Formats a duration as Prometheus prints one: the largest units that divide it
/// (`30d1h`, `1h30m`, `250ms`, `0s`); [`parse_duration`] reads it back exactly (to the
/// millisecond). Weeks and years are left out, as Prometheus does for days and below.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis().min(u128::from(u64::MAX)) as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, len) in &UNITS[2..] {
        if ms >= *len {
            out.push_str(&(ms / len).to_string());
            out.push_str(unit);
            ms %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_in_order() {
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("0ms", 0),
            ("250ms", 250),
            ("90s", 90_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("721h", 721 * 3_600_000),
            ("30d1h", 30 * 86_400_000 + 3_600_000),
            ("2w", 14 * 86_400_000),
            (
                "1y2w3d4h5m6s7ms",
                ((((365 + 17) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7,
            ),
        ] {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        for bad in ["5", "m", "5x", "1.5h", "-1m", " 1m", "1m ", "1h-", "soon"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Syntax(_))),
                "{bad}"
            );
        }
        for bad in ["30m1h", "1m1m", "1s1h"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Order(_))),
                "{bad}"
            );
        }
        for bad in ["99999999999999999999s", "300000000y"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::TooLarge(_))),
                "{bad}"
            );
        }
        let message = parse_duration("30m1h").unwrap_err().to_string();
        assert!(message.contains("1h30m, not 30m1h"), "{message}");
    }

    #[test]
    fn formats_what_it_parses() {
        for (ms, text) in [
            (0, "0s"),
            (250, "250ms"),
            (90_000, "1m30s"),
            (5_400_000, "1h30m"),
            (721 * 3_600_000, "30d1h"),
            (86_400_000 + 1, "1d1ms"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }
}
