//! Loki's parameter dialect: timestamps in nanoseconds (or seconds, or RFC 3339),
//! durations as `5m`/`1h30m` or float seconds, `since`, `limit`, `direction`.

use crate::params::Params;

use super::LokiError;

/// Nanoseconds per second.
pub const NS: i64 = 1_000_000_000;

/// Parses a Loki timestamp into Unix nanoseconds: an integer of 10 digits or fewer is
/// seconds, a longer one nanoseconds, a number with a fraction seconds, otherwise
/// RFC 3339.
pub fn parse_time_ns(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i64>() {
        let digits = raw.trim_start_matches('-').len();
        return if digits <= 10 {
            n.checked_mul(NS)
        } else {
            Some(n)
        };
    }
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 9.2e9 {
            return None;
        }
        return Some((secs * 1e9).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// Parses a duration (`250ms`, `5m`, `1h30m`, `2d`, `1w`, `1y`, or float seconds) into
/// nanoseconds.
pub fn parse_duration_ns(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() || !(0.0..=9.2e9).contains(&secs) {
            return None;
        }
        return Some((secs * 1e9).round() as i64);
    }
    let mut total: i128 = 0;
    let mut rest = raw;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "w" => 7.0 * 86400e9,
            "y" => 365.0 * 86400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += (value * unit) as i128;
        if total > i64::MAX as i128 {
            return None;
        }
    }
    Some(total as i64)
}

/// Reads a timestamp parameter, with a default.
pub fn time_param(params: &Params, key: &str, default: i64) -> Result<i64, LokiError> {
    match params.get(key) {
        None | Some("") => Ok(default),
        Some(raw) => parse_time_ns(raw).ok_or_else(|| {
            LokiError::bad_request(format!(
                "invalid parameter {key:?}: cannot parse {raw:?} to a valid timestamp (use Unix nanoseconds, Unix seconds or RFC 3339)"
            ))
        }),
    }
}

/// Reads an optional duration parameter.
pub fn duration_param(params: &Params, key: &str) -> Result<Option<i64>, LokiError> {
    match params.get(key) {
        None | Some("") => Ok(None),
        Some(raw) => parse_duration_ns(raw).map(Some).ok_or_else(|| {
            LokiError::bad_request(format!(
                "invalid parameter {key:?}: cannot parse {raw:?} to a valid duration (use 5m, 1h30m or seconds)"
            ))
        }),
    }
}

/// Reads `start`/`end`/`since` as Loki does: `end` defaults to now, `start` to
/// `end - since`, `since` to `default_since`; `end` before `start` is an error.
pub fn range_params(
    params: &Params,
    now: i64,
    default_since: i64,
) -> Result<(i64, i64), LokiError> {
    let end = time_param(params, "end", now)?;
    let since = duration_param(params, "since")?.unwrap_or(default_since);
    let start = time_param(params, "start", end.min(now).saturating_sub(since))?;
    if end < start {
        return Err(LokiError::bad_request(
            "invalid parameters: the end timestamp must not be before the start time",
        ));
    }
    Ok((start, end))
}

/// Reads `limit` (default 100) and checks it against the per-query maximum.
pub fn limit_param(params: &Params, max_entries: usize) -> Result<usize, LokiError> {
    let limit = match params.get("limit") {
        None | Some("") => 100,
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            LokiError::bad_request(format!(
                "invalid parameter \"limit\": {raw:?} is not a non-negative integer"
            ))
        })?,
    };
    if max_entries > 0 && limit > max_entries {
        return Err(LokiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {max_entries})"
        )));
    }
    Ok(limit)
}

/// Reads `direction` (default backward).
pub fn direction_param(params: &Params) -> Result<pitot_logql::Direction, LokiError> {
    match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("backward") => Ok(pitot_logql::Direction::Backward),
        Some("forward") => Ok(pitot_logql::Direction::Forward),
        Some(other) => Err(LokiError::bad_request(format!(
            "invalid parameter \"direction\": {other:?}, use forward or backward"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_time_ns("1700000000"), Some(1_700_000_000 * NS));
        assert_eq!(
            parse_time_ns("1700000000123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(
            parse_time_ns("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_time_ns("2023-11-14T22:13:20.000000001Z"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(parse_time_ns("yesterday"), None);
        assert_eq!(parse_time_ns("NaN"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("5m"), Some(300 * NS));
        assert_eq!(parse_duration_ns("1h30m"), Some(5400 * NS));
        assert_eq!(parse_duration_ns("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_ns("15"), Some(15 * NS));
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("5x"), None);
        assert_eq!(parse_duration_ns("m"), None);
        assert_eq!(parse_duration_ns("-5"), None);
        assert_eq!(parse_duration_ns("99999999999999y"), None);
    }
}
