//! Query results written as Prometheus' JSON straight into bytes.
//!
//! A range query returns up to 11,000 points per series; building a `serde_json::Value`
//! per point (an array, a string, a number) and then serializing the tree cost more than
//! evaluating a small query.

use pitot_core::{Labels, Sample};
use pitot_promql::{QueryResult, Value as PromValue};

/// The body of a successful query response.
pub(crate) fn query_result(result: &QueryResult) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"status\":\"success\",\"data\":{\"resultType\":");
    string(&mut out, result.value.type_name());
    out.extend_from_slice(b",\"result\":");
    match &result.value {
        PromValue::Vector(v) => list(&mut out, v, |out, (labels, sample)| {
            out.extend_from_slice(b"{\"metric\":");
            metric(out, labels);
            out.extend_from_slice(b",\"value\":");
            point(out, sample);
            out.push(b'}');
        }),
        PromValue::Matrix(m) => list(&mut out, m, |out, (labels, samples)| {
            out.extend_from_slice(b"{\"metric\":");
            metric(out, labels);
            out.extend_from_slice(b",\"values\":");
            list(out, samples, point);
            out.push(b'}');
        }),
        PromValue::Scalar(t, v) => point(&mut out, &Sample::new(*t, *v)),
        PromValue::String(t, s) => {
            out.push(b'[');
            timestamp(&mut out, *t);
            out.push(b',');
            string(&mut out, s);
            out.push(b']');
        }
    }
    out.push(b'}');
    for (key, notes) in [("warnings", &result.warnings), ("infos", &result.infos)] {
        if notes.is_empty() {
            continue;
        }
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        list(&mut out, notes, |out, note| string(out, note));
    }
    out.push(b'}');
    out
}

/// A JSON array of `items`, each written by `item`.
fn list<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// A JSON string, escaped.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serializing a `str` into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn metric(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, &l.name);
        out.push(b':');
        string(out, &l.value);
    }
    out.push(b'}');
}

/// `[seconds, "value"]`: whole seconds print as integers, as Prometheus writes them.
fn point(out: &mut Vec<u8>, s: &Sample) {
    out.push(b'[');
    timestamp(out, s.t);
    out.extend_from_slice(b",\"");
    value(out, s.v);
    out.extend_from_slice(b"\"]");
}

/// A sample value as the API writes it inside its quotes.
fn value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        float(out, v);
    }
}

/// A sample value as the API writes it, for answers built as JSON values.
pub(crate) fn format_value(v: f64) -> String {
    let mut out = Vec::new();
    value(&mut out, v);
    String::from_utf8(out).expect("ASCII")
}

fn timestamp(out: &mut Vec<u8>, t_ms: i64) {
    if t_ms % 1000 == 0 {
        out.extend_from_slice(itoa::Buffer::new().format(t_ms / 1000).as_bytes());
    } else {
        let _ = serde_json::to_writer(&mut *out, &(t_ms as f64 / 1000.0));
    }
}

/// A finite float as Prometheus writes it: Go's `'f'` format, or `'e'` (`1e+21`,
/// `5e-324`, two exponent digits at least) when its magnitude is below 1e-6 or at least
/// 1e21, with the shortest digits that read back to the same value. The digits are
/// ryu's, found in about half the time of `{}` (float formatting was a twentieth of a
/// small query); ties between two shortest candidates go to the even one, as in Go.
fn float(out: &mut Vec<u8>, v: f64) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(v);
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if negative {
        out.push(b'-');
    }
    // `d[.ddd][e±x]`: the significant digits, and where the decimal point falls among
    // them (value = 0.digits × 10^point).
    let (mantissa, exponent) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // ryu writes at most 17 significant digits, and at most 24 characters in all: the
    // digits fit a stack buffer, so formatting a value allocates nothing.
    let mut buf = [0u8; 32];
    let all = &mut buf[..int.len() + frac.len()];
    all[..int.len()].copy_from_slice(int.as_bytes());
    all[int.len()..].copy_from_slice(frac.as_bytes());
    let all = &*all;
    let leading = all.iter().take_while(|&&d| d == b'0').count();
    if leading == all.len() {
        out.push(b'0');
        return;
    }
    let mut digits = &all[leading..];
    while let [rest @ .., b'0'] = digits {
        digits = rest;
    }
    let point = int.len() as i32 - leading as i32 + exponent;
    let n = digits.len() as i32;
    let abs = v.abs();
    if !(1e-6..1e21).contains(&abs) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = point - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        if e.abs() < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(e.abs()).as_bytes());
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(digits);
    } else if point >= n {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (point - n) as usize));
    } else {
        out.extend_from_slice(&digits[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn formatted(v: f64) -> String {
        let mut out = Vec::new();
        float(&mut out, v);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn floats_print_as_prometheus_prints_them() {
        // Between 1e-6 and 1e21: Display's digits, without exponent.
        for v in [
            0.0,
            1.0,
            -1.0,
            0.5,
            1e16,
            1.5e16,
            1e-6,
            -0.0000015,
            123456.789,
            0.1 + 0.2,
            1e15,
            9007199254740993.0,
            999999999999999900000.0,
        ] {
            assert_eq!(formatted(v), format!("{v}"), "{v:e}");
        }
        assert_eq!(formatted(-0.0), "-0");
        // Outside: Go's 'e' format, as Prometheus 2.42 answered in the interop test.
        for (v, want) in [
            (1e21, "1e+21"),
            (-6.302579548540155e29, "-6.302579548540155e+29"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (2.225073858507201e-308, "2.225073858507201e-308"),
            (5e-324, "5e-324"),
            (1e-7, "1e-07"),
            (-1.25e-7, "-1.25e-07"),
            (9.99e-7, "9.99e-07"),
        ] {
            assert_eq!(formatted(v), want, "{v:e}");
        }
        // An exact tie between two shortest candidates goes to the even digit, as Go's
        // strconv (and so Prometheus) does.
        // -17903342162570.3125, exactly representable.
        assert_eq!(
            formatted(-(17903342162570.0 + 0.3125)),
            "-17903342162570.312"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_finite_float_prints_shortest_digits_that_read_back(bits: u64) {
            // Display is the reference for the number of digits, not for the digits:
            // when two shortest candidates are equally close, ryu (like Go) takes the
            // even one and Display the upper one.
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            let text = formatted(v);
            proptest::prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), v.to_bits());
            let plain = v == 0.0 || (1e-6..1e21).contains(&v.abs());
            proptest::prop_assert_eq!(!text.contains('e'), plain);
            if plain {
                proptest::prop_assert_eq!(text.len(), format!("{v}").len());
            } else {
                // Go's exponent has two digits at least; Rust's `{:e}` has no padding or `+`.
                let rust = format!("{v:e}");
                let (m, _) = rust.split_once('e').unwrap();
                proptest::prop_assert_eq!(text.split_once('e').unwrap().0.len(), m.len());
            }
        }
    }

    fn parsed(result: QueryResult) -> Value {
        serde_json::from_slice(&query_result(&result)).expect("valid JSON")
    }

    #[test]
    fn matrix_vector_scalar_and_notes_read_back() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\n")]);
        let body = parsed(QueryResult {
            value: PromValue::Matrix(vec![(
                labels.clone(),
                vec![
                    Sample::new(1000, 1.5),
                    Sample::new(2500, f64::NAN),
                    Sample::new(-3000, f64::NEG_INFINITY),
                    Sample::new(4000, 1e21),
                    Sample::new(5000, -0.0000001),
                ],
            )]),
            warnings: vec!["PromQL warning: w".into()],
            infos: Vec::new(),
        });
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "job": "a\"b\n"}, "values": [
                    [1, "1.5"], [2.5, "NaN"], [-3, "-Inf"],
                    [4, "1e+21"], [5, "-1e-07"]]}
            ]}, "warnings": ["PromQL warning: w"]})
        );
        let body = parsed(QueryResult {
            value: PromValue::Vector(vec![(labels, Sample::new(7000, f64::INFINITY))]),
            warnings: Vec::new(),
            infos: vec!["PromQL info: i".into()],
        });
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "a\"b\n"}, "value": [7, "+Inf"]}
            ]}, "infos": ["PromQL info: i"]})
        );
        let body = parsed(QueryResult {
            value: PromValue::Scalar(1234, 2.0),
            warnings: Vec::new(),
            infos: Vec::new(),
        });
        assert_eq!(
            body["data"],
            json!({"resultType": "scalar", "result": [1.234, "2"]})
        );
        let body = parsed(QueryResult {
            value: PromValue::String(1000, "x".into()),
            warnings: Vec::new(),
            infos: Vec::new(),
        });
        assert_eq!(
            body["data"],
            json!({"resultType": "string", "result": [1, "x"]})
        );
    }
}
