//! How failures print: Go's duration and float notation, label sets, alert lists, as
//! promtool prints them, so users can compare reports across tools.

use std::collections::BTreeMap;

use pitot_core::Labels;

/// Go's `time.Duration.String()` of a millisecond duration (`0s`, `5m0s`, `2m59.999s`).
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, (ms / 60_000) % 60);
    let s = (ms / 1000) % 60;
    let frac = ms % 1000;
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)` (`1E+00`, `9.21888E+09`).
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{:E}", v);
    let (mant, exp) = s.split_once('E').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}E{sign}{:02}", exp.unsigned_abs())
}

/// `{a="b", c="d"}`, as Prometheus' `labels.Labels.String()`.
pub fn labels(l: &Labels) -> String {
    let inner: Vec<String> = l
        .iter()
        .map(|x| format!("{}={:?}", x.name, x.value))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn map(m: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// An alert list as promtool prints expected and got alerts.
pub fn alerts(list: &[(Labels, BTreeMap<String, String>)]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[\n");
    for (i, (l, a)) in list.iter().enumerate() {
        s.push_str(&format!(
            "            {i}:\n              Labels:{}\n              Annotations:{}\n",
            labels(l),
            map(a)
        ));
    }
    s.push_str("            ]");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_notations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(86_400_000), "24h0m0s");
        assert_eq!(go_duration(179_999), "2m59.999s");
        assert_eq!(go_duration(10_000), "10s");
        assert_eq!(go_float_e(1.0), "1E+00");
        assert_eq!(go_float_e(9_218_880_000.0), "9.21888E+09");
        assert_eq!(go_float_e(0.5), "5E-01");
    }
}
