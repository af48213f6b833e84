//! Go's number formatting (`%v`, `%g`, `%e`, `%f`) and a `printf` subset, so rendered
//! templates print numbers exactly as Prometheus (Go) does.

use pitot_core::{TemplateBudget, TemplateBudgetError, GO_FMT_MAX_WIDTH};

use super::value::Value;

/// The most decimal digits of an `f64` that can be non-zero (its smallest subnormal
/// has 1074 after the point); Rust's formatter refuses precisions above 65535, so
/// longer ones are formatted to this and completed with the zeros that follow.
const F64_MAX_DIGITS: usize = 1100;

/// Decimal digits of `|v|` (no trailing zeros) and the decimal point position, rounded
/// to `sig` significant digits, or shortest round-trip digits when `sig` is `None`.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.clamp(1, F64_MAX_DIGITS) - 1, v.abs()),
    };
    let (mant, exp) = s.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let mut d: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return (d, 0);
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn fmt_e(neg: bool, d: &[u8], prec: usize, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(if d.is_empty() { '0' } else { d[0] as char });
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(d.get(i).map_or('0', |b| *b as char));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

fn fmt_f(neg: bool, d: &[u8], prec: usize, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            s.push(d.get(i).map_or('0', |b| *b as char));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec as i32 {
            let idx = dp + i;
            let c = if idx >= 0 {
                d.get(idx as usize).map_or('0', |b| *b as char)
            } else {
                '0'
            };
            s.push(c);
        }
    }
    s
}

/// Go's `%g` with an optional precision (`%v` for floats is `%g` without one).
pub fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (d, dp) = digits(v, prec.map(|p| p.max(1)));
    let nd = d.len() as i32;
    let shortest = prec.is_none();
    let mut p = match prec {
        None => nd,
        Some(p) => p.max(1) as i32,
    };
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if !d.is_empty() && (exp < -4 || exp >= eprec) {
        if p > nd {
            p = nd;
        }
        return fmt_e(neg, &d, (p - 1).max(0) as usize, dp);
    }
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &d, (p - dp).max(0) as usize, dp)
}

/// Go's `%e` with precision (default 6).
pub fn format_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (d, dp) = digits(v, Some(prec + 1));
    fmt_e(neg, &d, prec, dp)
}

/// Go's `%f` with precision (default 6).
pub fn format_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let p = prec.min(F64_MAX_DIGITS);
    let mut s = format!("{v:.p$}");
    s.push_str(&"0".repeat(prec - p));
    s
}

/// Go's `%v` of a template value.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_g(*f, None),
        Value::Str(s) => s.clone(),
        Value::List(items) => {
            let inner: Vec<String> = items.iter().map(format_value).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Map(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", format_value(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, rest) = match s.strip_prefix('-') {
            Some(r) => ("-", r.to_string()),
            None => match s.strip_prefix('+') {
                Some(r) => ("+", r.to_string()),
                None => ("", s.clone()),
            },
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn sign(s: String, spec: &Spec) -> String {
    if s.starts_with('-') || s == "NaN" || s.starts_with('+') {
        return s;
    }
    if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %F %g %e %q %x %t %%`.
/// A width or precision is charged to `budget` before the padding or digits are built,
/// and so is the result; one above [`GO_FMT_MAX_WIDTH`] (where Go gives up with
/// `%!(BADWIDTH)`) is refused as `template-output-too-large` whatever the budget, since
/// no annotation needs it and a template that asks for it is a bomb.
pub fn sprintf(
    format: &str,
    args: &[Value],
    budget: &mut TemplateBudget,
) -> Result<String, TemplateBudgetError> {
    let mut out = String::new();
    let mut args = args.iter();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            width: None,
            prec: None,
        };
        while i < chars.len() {
            match chars[i] {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            i += 1;
        }
        // Digits that overflow read as usize::MAX: over the limit either way.
        let num = |i: &mut usize| {
            let start = *i;
            let mut n: usize = 0;
            while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(d as usize))
                    .unwrap_or(usize::MAX);
                *i += 1;
            }
            (start != *i).then_some(n)
        };
        spec.width = num(&mut i);
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            spec.prec = Some(num(&mut i).unwrap_or(0));
        }
        if spec
            .width
            .max(spec.prec)
            .is_some_and(|n| n > GO_FMT_MAX_WIDTH)
        {
            return Err(TemplateBudgetError::OutputTooLarge {
                limit: budget.limits().max_output_bytes,
            });
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        budget.charge_bytes(spec.width.unwrap_or(0) + spec.prec.unwrap_or(0))?;
        out.push_str(&format_one(verb, arg, &spec));
    }
    let extra: Vec<String> = args
        .map(|a| format!("{}={}", type_name(a), format_value(a)))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    budget.charge_bytes(out.len())?;
    Ok(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

fn format_one(verb: char, arg: &Value, spec: &Spec) -> String {
    let bad = || format!("%!{verb}({}={})", type_name(arg), format_value(arg));
    match (verb, arg) {
        ('v', Value::Float(f)) | ('g', Value::Float(f)) | ('G', Value::Float(f)) => {
            pad(sign(format_g(*f, spec.prec), spec), spec, true)
        }
        ('v', Value::Int(n)) | ('d', Value::Int(n)) => pad(sign(n.to_string(), spec), spec, true),
        ('v', _) => pad(format_value(arg), spec, false),
        ('s', Value::Str(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            pad(s, spec, false)
        }
        ('s', Value::Float(_) | Value::Int(_) | Value::Bool(_)) => bad(),
        ('s', _) => pad(format_value(arg), spec, false),
        ('q', Value::Str(s)) => pad(format!("{s:?}"), spec, false),
        ('t', Value::Bool(b)) => pad(b.to_string(), spec, false),
        ('f' | 'F', Value::Float(f)) => {
            pad(sign(format_f(*f, spec.prec.unwrap_or(6)), spec), spec, true)
        }
        ('f' | 'F', Value::Int(n)) => pad(
            sign(format_f(*n as f64, spec.prec.unwrap_or(6)), spec),
            spec,
            true,
        ),
        ('e', Value::Float(f)) => pad(sign(format_e(*f, spec.prec.unwrap_or(6)), spec), spec, true),
        ('x', Value::Int(n)) => pad(format!("{n:x}"), spec, true),
        ('X', Value::Int(n)) => pad(format!("{n:X}"), spec, true),
        ('x', Value::Str(s)) => pad(s.bytes().map(|b| format!("{b:02x}")).collect(), spec, false),
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_g(0.0, None), "0");
        assert_eq!(format_g(1.0, None), "1");
        assert_eq!(format_g(0.5, None), "0.5");
        assert_eq!(format_g(123456.0, None), "123456");
        assert_eq!(format_g(1234567.0, None), "1.234567e+06");
        assert_eq!(format_g(1e8, None), "1e+08");
        assert_eq!(format_g(0.0001, None), "0.0001");
        assert_eq!(format_g(0.00001, None), "1e-05");
        assert_eq!(format_g(-2.5, None), "-2.5");
        assert_eq!(format_g(100.0, Some(4)), "100");
        assert_eq!(format_g(1234.5, Some(4)), "1234");
        assert_eq!(format_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(format_g(1.5, Some(4)), "1.5");
        assert_eq!(format_g(0.0, Some(4)), "0");
        assert_eq!(format_g(f64::INFINITY, Some(4)), "+Inf");
        assert_eq!(format_e(1234567.0, 6), "1.234567e+06");
        assert_eq!(format_e(0.0, 2), "0.00e+00");
    }

    fn sprintf(format: &str, args: &[Value]) -> String {
        let mut b = TemplateBudget::new(pitot_core::TemplateLimits::RULES);
        super::sprintf(format, args, &mut b).unwrap()
    }

    #[test]
    fn printf_widths_and_precisions_are_bounded() {
        for format in [
            "%100000000000000d",
            "%.99999999999999999999999999f",
            "%1000000d",
        ] {
            let mut b = TemplateBudget::new(pitot_core::TemplateLimits::RULES);
            let e = super::sprintf(format, &[Value::Int(1)], &mut b).unwrap_err();
            assert_eq!(e.reason(), "template-output-too-large", "{format}");
        }
        // Precisions Rust's formatter would panic on (> 65535) are written in full.
        let mut b = TemplateBudget::new(pitot_core::TemplateLimits::ALERTMANAGER);
        for verb in ["f", "e", "g"] {
            let s =
                super::sprintf(&format!("%.70000{verb}"), &[Value::Float(1.5)], &mut b).unwrap();
            assert!(s.starts_with("1.5"), "{verb}");
        }
        let mut b = TemplateBudget::new(pitot_core::TemplateLimits::ALERTMANAGER);
        let long = super::sprintf("%.70000f", &[Value::Float(0.25)], &mut b).unwrap();
        assert_eq!(long.len(), 70_002);
        assert!(long.starts_with("0.250") && long.ends_with('0'));
    }

    #[test]
    fn printf_subset() {
        let args = [Value::Float(1.23456), Value::Str("x".into()), Value::Int(7)];
        assert_eq!(sprintf("%.2f %s %d%%", &args), "1.23 x 7%");
        assert_eq!(
            sprintf("%5.1f|%-3d|", &[Value::Float(2.0), Value::Int(1)]),
            "  2.0|1  |"
        );
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(sprintf("%v", &[Value::Float(1e21)]), "1e+21");
    }
}
