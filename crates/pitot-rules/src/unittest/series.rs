//! The series notation of test files: `metric{a="b"}` label sets and the expanding
//! value notation (`a+bxn`, `axn`, `_`, `_xn`, `stale`, `{{…}}` native histograms).

use pitot_core::{Label, Labels, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

use super::histogram::Histogram;

/// One slot of an expanded series.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// A float sample (possibly the staleness marker).
    Float(f64),
    /// A native histogram sample.
    Histogram(Histogram),
    /// No sample (`_`).
    Missing,
}

/// Parses `metric{a="b"}` (or `{…}`, or the empty string) into labels.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let t = text.trim();
    if t.is_empty() || t == "{}" {
        return Ok(Labels::default());
    }
    let bad = |why: String| format!("bad series {t:?}: {why}");
    let expr = pitot_promql::parse_guarded(t).map_err(|e| bad(e.to_string()))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(bad("not a series description".into()));
    };
    if vs.offset.is_some() || vs.at.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Err(bad("not a series description".into()));
    }
    let mut labels: Vec<Label> = Vec::new();
    if let Some(name) = vs.name {
        labels.push(Label::new(METRIC_NAME, name));
    }
    for m in vs.matchers.matchers {
        if !matches!(m.op, MatchOp::Equal) {
            return Err(bad(format!("matcher {} is not an equality", m.name)));
        }
        if m.name == METRIC_NAME && labels.iter().any(|l| l.name == METRIC_NAME) {
            continue;
        }
        if !m.value.is_empty() {
            labels.push(Label::new(m.name, m.value));
        }
    }
    Ok(Labels::from_unsorted(labels))
}

/// Expands a values string into slots.
pub fn parse_values(text: &str) -> Result<Vec<Slot>, String> {
    let mut out = Vec::new();
    for item in split_items(text) {
        expand(&item, &mut out).map_err(|e| format!("bad values {text:?}: {e}"))?;
    }
    Ok(out)
}

/// Splits on whitespace, keeping `{{…}}` (which contain spaces) together.
fn split_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                items.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        items.push(cur);
    }
    items
}

fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t {
        "Inf" | "+Inf" | "inf" | "+inf" => f64::INFINITY,
        "-Inf" | "-inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => t
            .parse::<f64>()
            .map_err(|_| format!("invalid number {t:?}"))?,
    };
    Ok(v)
}

fn expand(item: &str, out: &mut Vec<Slot>) -> Result<(), String> {
    if item.starts_with("{{") {
        return expand_histogram(item, out);
    }
    match item {
        "_" => {
            out.push(Slot::Missing);
            return Ok(());
        }
        "stale" => {
            out.push(Slot::Float(f64::from_bits(pitot_core::STALE_NAN)));
            return Ok(());
        }
        _ => {}
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n
            .parse()
            .map_err(|_| format!("invalid repetition {item:?}"))?;
        out.extend(std::iter::repeat_n(Slot::Missing, n));
        return Ok(());
    }
    let Some(x) = item.rfind('x').filter(|&x| x > 0) else {
        out.push(Slot::Float(parse_float(item)?));
        return Ok(());
    };
    let times: usize = item[x + 1..]
        .parse()
        .map_err(|_| format!("invalid repetition in {item:?}"))?;
    let head = &item[..x];
    let hb = head.as_bytes();
    let split = (1..hb.len())
        .rev()
        .find(|&i| (hb[i] == b'+' || hb[i] == b'-') && !matches!(hb[i - 1], b'e' | b'E'));
    let (base, delta) = match split {
        Some(i) => {
            let d = parse_float(&head[i + 1..])?;
            (parse_float(&head[..i])?, if hb[i] == b'-' { -d } else { d })
        }
        None => (parse_float(head)?, 0.0),
    };
    for k in 0..=times {
        out.push(Slot::Float(base + delta * k as f64));
    }
    Ok(())
}

fn expand_histogram(item: &str, out: &mut Vec<Slot>) -> Result<(), String> {
    let first_end = item
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram {item:?}"))?
        + 2;
    let base = Histogram::parse(&item[..first_end])?;
    let rest = &item[first_end..];
    if rest.is_empty() {
        out.push(Slot::Histogram(base));
        return Ok(());
    }
    let (delta, times_text, sign) = if let Some(r) = rest.strip_prefix('x') {
        (None, r, 1.0)
    } else if rest.starts_with("+{{") || rest.starts_with("-{{") {
        let sign = if rest.starts_with('-') { -1.0 } else { 1.0 };
        let end = rest
            .find("}}")
            .ok_or_else(|| format!("unterminated histogram {item:?}"))?
            + 2;
        let d = Histogram::parse(&rest[1..end])?;
        let times = rest[end..]
            .strip_prefix('x')
            .ok_or_else(|| format!("expected x after histogram delta in {item:?}"))?;
        (Some(d), times, sign)
    } else {
        return Err(format!("invalid histogram expansion {item:?}"));
    };
    let times: usize = times_text
        .parse()
        .map_err(|_| format!("invalid repetition in {item:?}"))?;
    for k in 0..=times {
        let mut h = match &delta {
            Some(d) => base.add_scaled(d, sign * k as f64),
            None => base.clone(),
        };
        if k > 0 && h.counter_reset_hint != "gauge" {
            h.counter_reset_hint = "not_reset".into();
        }
        out.push(Slot::Histogram(h));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<Option<f64>> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Slot::Float(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expanding_notation_follows_the_docs() {
        assert_eq!(floats("-2+4x3"), [-2.0, 2.0, 6.0, 10.0].map(Some));
        assert_eq!(floats(" 1-2x4"), [1.0, -1.0, -3.0, -5.0, -7.0].map(Some));
        assert_eq!(floats(" 1x4"), [1.0; 5].map(Some));
        let v = floats(" 1 _x3 stale");
        assert_eq!(v.len(), 5);
        assert_eq!(&v[..4], &[Some(1.0), None, None, None]);
        assert!(pitot_core::is_stale_nan(v[4].unwrap()));
        assert_eq!(floats("1e3 0+1e1x1"), [1000.0, 0.0, 10.0].map(Some));
        assert!(parse_values("1+x").is_err());
    }

    #[test]
    fn labels_in_series_notation() {
        let l = parse_labels(r#"up{job="a", instance="b:1"}"#).unwrap();
        assert_eq!(l.to_string(), r#"up{instance="b:1", job="a"}"#);
        assert!(parse_labels(r#"up{job="a""#).is_err());
        assert!(parse_labels("").unwrap().is_empty());
        assert_eq!(parse_labels(r#"{a="1"}"#).unwrap().len(), 1);
    }

    #[test]
    fn histogram_expansions_mark_not_reset() {
        let v = parse_values("{{sum:3 count:2 buckets:[2]}}+{{sum:1.3 count:1 buckets:[1]}}x2")
            .unwrap();
        let Slot::Histogram(h) = &v[2] else { panic!() };
        assert_eq!(h.count, 4.0);
        assert_eq!(h.buckets, vec![4.0]);
        assert_eq!(h.counter_reset_hint, "not_reset");
        let Slot::Histogram(h0) = &v[0] else { panic!() };
        assert_eq!(h0.counter_reset_hint, "unknown");
    }
}
