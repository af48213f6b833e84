//! Conversions of label values and query literals with Go's exact rules and error
//! messages (`time.ParseDuration`, `strconv.ParseFloat`, go-humanize's `ParseBytes`),
//! because Loki's users match on those messages in `__error_details__`.

/// Nanoseconds per unit, longest names first so `ms` wins over `m`.
const GO_UNITS: &[(&str, f64)] = &[
    ("ns", 1.0),
    ("us", 1e3),
    ("\u{b5}s", 1e3),
    ("\u{3bc}s", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Units a query literal accepts on top of Go's: days, weeks, years.
const EXTRA_UNITS: &[(&str, f64)] = &[("d", 86400e9), ("w", 7.0 * 86400e9), ("y", 365.0 * 86400e9)];

fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Parses a duration as Go's `time.ParseDuration` does, into nanoseconds, with Go's
/// error messages.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    parse_duration_with(s, false)
}

/// Parses a duration literal of a query: Go's syntax plus `d`, `w` and `y`.
pub fn parse_query_duration(s: &str) -> Result<i64, String> {
    parse_duration_with(s, true)
}

fn parse_duration_with(orig: &str, extra: bool) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let bytes = s.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let mut i = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &s[..i];
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            let start = i + 1;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &s[start..i];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let num: f64 = format!(
            "{}.{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac_part.is_empty() { "0" } else { frac_part }
        )
        .parse()
        .map_err(|_| invalid())?;
        s = &s[i..];
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit = &s[..unit_len];
        let mult = GO_UNITS
            .iter()
            .chain(if extra { EXTRA_UNITS.iter() } else { [].iter() })
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(orig)
                )
            })?;
        total += num * mult;
        s = &s[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Parses a float as Go's `strconv.ParseFloat` does for the forms logs use, with its
/// error message.
pub fn parse_go_float(s: &str) -> Result<f64, String> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let lower = t.trim_start_matches('-').to_ascii_lowercase();
    let ok_chars = lower == "inf"
        || lower == "infinity"
        || lower == "nan"
        || (!lower.is_empty()
            && lower
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'-' | b'+')));
    if ok_chars {
        if let Ok(v) = t.parse::<f64>() {
            return Ok(v);
        }
    }
    Err(format!(
        "strconv.ParseFloat: parsing {}: invalid syntax",
        go_quote(s)
    ))
}

/// Parses a byte size as go-humanize's `ParseBytes` does (units case-insensitive,
/// commas ignored, the result truncated to an integer).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let mut last = 0;
    let mut has_comma = false;
    for c in s.chars() {
        if !(c.is_ascii_digit() || c == '.' || c == ',') {
            break;
        }
        if c == ',' {
            has_comma = true;
        }
        last += c.len_utf8();
    }
    let mut num = s[..last].to_string();
    if has_comma {
        num = num.replace(',', "");
    }
    let f = parse_go_float(&num)?;
    let extra = s[last..].trim().to_ascii_lowercase();
    let mult: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        other => return Err(format!("unhandled size name: {other}")),
    };
    let v = f * mult;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(v as u64)
}

/// Byte units a query literal may carry, case-sensitive, longest first.
pub const BYTES_LITERAL_UNITS: &[&str] = &[
    "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "kB", "KB", "MB", "GB", "TB", "PB", "EB", "B",
];

/// Formats nanoseconds the way Prometheus prints durations (`5m`, `1h30m`, `500ms`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ns;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    if rest % 1_000_000 != 0 {
        // Sub-millisecond precision: print as Go would, in the largest exact unit.
        if rest % 1000 == 0 {
            return format!("{out}{}us", rest / 1000);
        }
        return format!("{out}{rest}ns");
    }
    let mut ms = rest / 1_000_000;
    for (unit, size) in [
        ("y", 365 * 86_400_000i64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("-5s"), Ok(-5_000_000_000));
        assert_eq!(
            parse_go_duration("3600000000\u{b5}s"),
            Ok(3_600_000_000_000)
        );
        assert_eq!(
            parse_go_duration("2").unwrap_err(),
            "time: missing unit in duration \"2\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_go_duration("oops").unwrap_err(),
            "time: invalid duration \"oops\""
        );
        assert_eq!(parse_query_duration("1d"), Ok(86_400_000_000_000));
    }

    #[test]
    fn humanize_bytes() {
        assert_eq!(parse_bytes("1KB"), Ok(1000));
        assert_eq!(parse_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_bytes("2Kb"), Ok(2000));
        assert_eq!(parse_bytes("2,048"), Ok(2048));
        assert_eq!(parse_bytes("1.5B"), Ok(1));
        assert_eq!(parse_bytes("3mb"), Ok(3_000_000));
        assert_eq!(
            parse_bytes("oops").unwrap_err(),
            "strconv.ParseFloat: parsing \"\": invalid syntax"
        );
        assert!(parse_bytes("1XB").is_err());
    }

    #[test]
    fn floats_and_formatting() {
        assert_eq!(parse_go_float("1e3"), Ok(1000.0));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_float("+Inf"), Ok(f64::INFINITY));
        assert!(parse_go_float("0x10").is_err());
        assert_eq!(format_duration(5_400_000_000_000), "1h30m");
        assert_eq!(format_duration(500_000_000), "500ms");
    }
}
