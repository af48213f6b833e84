//! OTLP metric and attribute names turned into Prometheus names, as the OpenTelemetry
//! "Prometheus and OpenMetrics compatibility" specification describes and Prometheus
//! and Mimir do by default (underscore escaping, with unit and type suffixes).

/// What kind of Prometheus metric a name is built for: counters get `_total`, gauges
/// with the dimensionless unit `1` get `_ratio`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A monotonic cumulative sum.
    Counter,
    /// A gauge.
    Gauge,
    /// A non-monotonic sum: a gauge in Prometheus, but without the `_ratio` suffix
    /// (Prometheus adds it to OTLP gauges only).
    UpDownSum,
    /// A histogram or summary (its series get `_bucket`, `_sum`, `_count` after this).
    Other,
}

/// The full English word of an abbreviated UCUM unit, where one is defined.
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

/// The singular word of a unit after `/` (`m/s` is `meters_per_second`).
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Splits `text` into the words a Prometheus name is made of: runs of ASCII letters and
/// digits (every other character separates words).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The Prometheus unit of an OTLP unit: annotations in braces dropped, abbreviations
/// spelt out, `a/b` as `a_per_b`; `1` is `ratio` for gauges and nothing otherwise.
pub fn prometheus_unit(unit: &str, kind: NameKind) -> String {
    let unit = strip_annotations(unit);
    let unit = unit.trim();
    if unit == "1" {
        return if kind == NameKind::Gauge {
            "ratio".to_string()
        } else {
            String::new()
        };
    }
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (unit, None),
    };
    let main =
        unit_word(main).map_or_else(|| words(main).collect::<Vec<_>>().join("_"), str::to_string);
    let per = per
        .map(|p| {
            per_unit_word(p).map_or_else(|| words(p).collect::<Vec<_>>().join("_"), str::to_string)
        })
        .filter(|p| !p.is_empty());
    match (main.is_empty(), per) {
        (_, None) => main,
        (true, Some(per)) => format!("per_{per}"),
        (false, Some(per)) => format!("{main}_per_{per}"),
    }
}

/// `unit` without its `{annotation}` parts (`{requests}/s` is `/s`).
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The Prometheus metric name of an OTLP metric: its words joined by `_`, the unit's
/// words appended unless the name already holds them, `_total` last for counters, and
/// a leading `_` when the name would start with a digit.
pub fn metric_name(name: &str, unit: &str, kind: NameKind) -> String {
    let mut parts: Vec<&str> = words(name).collect();
    if kind == NameKind::Counter {
        parts.retain(|w| *w != "total");
    }
    let unit = prometheus_unit(unit, kind);
    for word in words(&unit) {
        if !parts.contains(&word) {
            parts.push(word);
        }
    }
    if kind == NameKind::Counter {
        parts.push("total");
    }
    let mut out = parts.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name of an OTLP attribute key: every character other than an
/// ASCII letter, digit or `_` becomes `_`; a name starting with a digit gets `key_` in
/// front, and one starting with `__` (reserved for Prometheus) gets `key`.
pub fn label_name(key: &str) -> String {
    label_name_cow(key).into_owned()
}

/// [`label_name`], borrowing `key` when it is already a valid label name.
pub fn label_name_cow(key: &str) -> std::borrow::Cow<'_, str> {
    let plain = key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && !key.starts_with("__");
    if plain {
        return std::borrow::Cow::Borrowed(key);
    }
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with("__") {
        out.insert_str(0, "key");
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_compatibility_specification() {
        use NameKind::*;
        assert_eq!(
            metric_name("http.server.duration", "ms", Other),
            "http_server_duration_milliseconds"
        );
        assert_eq!(
            metric_name("http.server.requests", "{request}", Counter),
            "http_server_requests_total"
        );
        assert_eq!(
            metric_name("requests.total", "1", Counter),
            "requests_total"
        );
        assert_eq!(
            metric_name("memory.usage", "By", Gauge),
            "memory_usage_bytes"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("speed", "m/s", Gauge),
            "speed_meters_per_second"
        );
        assert_eq!(
            metric_name("throughput", "{packets}/s", Gauge),
            "throughput_per_second"
        );
        assert_eq!(
            metric_name("latency_seconds", "s", Other),
            "latency_seconds"
        );
        assert_eq!(metric_name("2xx.count", "", Counter), "_2xx_count_total");
        assert_eq!(
            metric_name("odd unit", "foo bar", Gauge),
            "odd_unit_foo_bar"
        );
    }

    #[test]
    fn label_names_are_escaped() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("k8s.pod.name"), "k8s_pod_name");
        assert_eq!(label_name("0day"), "key_0day");
        assert_eq!(label_name("__secret"), "key__secret");
        assert_eq!(label_name("_private"), "_private");
        assert_eq!(label_name("ünï"), "_n_");
    }
}
