//! The functions Prometheus makes available to alert templates, plus Go's builtins.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use pitot_core::TemplateBudget;

use super::gofmt::{format_g, format_value, sprintf};
use super::value::Value;
use super::TemplateError;

/// One sample returned by a template's `query`: labels and value, as Prometheus'
/// `sample` struct (`.Labels`, `.Value`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The series labels, metric name included.
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

/// Runs an instant query for `query` at the evaluation time; the evaluator supplies it.
pub type QueryCallback<'a> = dyn Fn(&str) -> Result<Vec<QuerySample>, String> + 'a;

/// What template functions can reach beyond their arguments.
pub struct Env<'a> {
    /// Callback for `query`; `None` makes `query` fail.
    pub query: Option<&'a QueryCallback<'a>>,
    /// Prometheus' external URL (`externalURL`, `pathPrefix`).
    pub external_url: &'a str,
}

const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "printf",
    "println",
    "html",
    "urlquery",
    "js",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "query",
    "first",
    "value",
    "label",
    "strvalue",
    "sortByLabel",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "args",
    "safeHtml",
    "stripPort",
    "stripDomain",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "graphLink",
    "tableLink",
];

/// Whether `name` is a function templates may call (checked when parsing, as Go does).
pub(crate) fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::new(msg)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() != n {
        return Err(err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Prometheus' `convertToFloat`: numbers as they are, strings parsed.
fn to_float(v: &Value) -> Result<f64, TemplateError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| err(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        other => Err(err(format!(
            "can't convert {} to float",
            format_value(other)
        ))),
    }
}

fn to_str(v: &Value) -> String {
    format_value(v)
}

fn g4(v: f64) -> String {
    format_g(v, Some(4))
}

/// Calls function `name` with evaluated arguments (a piped value comes last), charging
/// the call to `b`. `printf` and `reReplaceAll`, whose output is not bounded by their
/// arguments, charge their size before building it; `query` is charged as a query;
/// any other function's string result is at most a small multiple of its arguments
/// and is charged once built.
pub(crate) fn call(
    name: &str,
    args: Vec<Value>,
    env: &Env<'_>,
    b: &mut TemplateBudget,
) -> Result<Value, TemplateError> {
    b.charge_call()?;
    match name {
        "printf" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or_else(|| err("printf needs a format"))?;
            return Ok(Value::Str(sprintf(&to_str(fmt), rest, b)?));
        }
        "reReplaceAll" => {
            want(name, &args, 3)?;
            let re = regex::Regex::new(&to_str(&args[0])).map_err(|e| err(e.to_string()))?;
            let (repl, src) = (to_str(&args[1]), to_str(&args[2]));
            return Ok(Value::Str(b.replace_all(&re, &src, &repl, false)?));
        }
        "query" => b.charge_query()?,
        _ => {}
    }
    let v = builtin(name, args, env)?;
    if let Value::Str(s) = &v {
        b.charge_bytes(s.len())?;
    }
    Ok(v)
}

/// The functions whose output is bounded by their arguments.
fn builtin(name: &str, args: Vec<Value>, env: &Env<'_>) -> Result<Value, TemplateError> {
    let s = |v: String| Ok(Value::Str(v));
    match name {
        "not" => {
            want(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "len" => {
            want(name, &args, 1)?;
            match &args[0] {
                Value::Str(x) => Ok(Value::Int(x.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                other => Err(err(format!("len of {}", format_value(other)))),
            }
        }
        "index" => {
            let mut it = args.into_iter();
            let mut cur = it.next().ok_or_else(|| err("index of nothing"))?;
            for key in it {
                cur = match (cur, key) {
                    (Value::Map(mut m), k) => {
                        m.remove(&to_str(&k)).unwrap_or(Value::Str(String::new()))
                    }
                    (Value::List(l), Value::Int(i)) => l
                        .get(i as usize)
                        .cloned()
                        .ok_or_else(|| err(format!("index out of range: {i}")))?,
                    (c, k) => {
                        return Err(err(format!(
                            "can't index item of type {} with {}",
                            format_value(&c),
                            format_value(&k)
                        )))
                    }
                };
            }
            Ok(cur)
        }
        "eq" => {
            if args.len() < 2 {
                return Err(err("missing argument for comparison"));
            }
            Ok(Value::Bool(
                args[1..]
                    .iter()
                    .any(|b| compare(&args[0], b) == Some(Ordering::Equal)),
            ))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ord = compare(&args[0], &args[1])
                .ok_or_else(|| err("incompatible types for comparison"))?;
            Ok(Value::Bool(match name {
                "ne" => ord != Ordering::Equal,
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "print" => s(go_sprint(&args)),
        "println" => s(format!(
            "{}\n",
            args.iter().map(to_str).collect::<Vec<_>>().join(" ")
        )),
        "html" => s(html_escape(&go_sprint(&args))),
        "js" => s(go_sprint(&args).escape_default().to_string()),
        "urlquery" => s(url_escape(&go_sprint(&args))),
        "humanize" => {
            want(name, &args, 1)?;
            s(humanize(to_float(&args[0])?))
        }
        "humanize1024" => {
            want(name, &args, 1)?;
            s(humanize1024(to_float(&args[0])?))
        }
        "humanizeDuration" => {
            want(name, &args, 1)?;
            s(humanize_duration(to_float(&args[0])?))
        }
        "humanizePercentage" => {
            want(name, &args, 1)?;
            s(format!("{}%", g4(to_float(&args[0])? * 100.0)))
        }
        "humanizeTimestamp" => {
            want(name, &args, 1)?;
            s(humanize_timestamp(to_float(&args[0])?))
        }
        "query" => {
            want(name, &args, 1)?;
            let q = env
                .query
                .ok_or_else(|| err("query is not available here"))?;
            let samples = q(&to_str(&args[0])).map_err(err)?;
            Ok(Value::List(samples.into_iter().map(sample_value).collect()))
        }
        "first" => {
            want(name, &args, 1)?;
            match &args[0] {
                Value::List(l) => l
                    .first()
                    .cloned()
                    .ok_or_else(|| err("first() called on vector with no elements")),
                other => Err(err(format!("first() of {}", format_value(other)))),
            }
        }
        "value" => {
            want(name, &args, 1)?;
            field(&args[0], "Value")
        }
        "label" => {
            want(name, &args, 2)?;
            let labels = field(&args[1], "Labels")?;
            match labels {
                Value::Map(mut m) => Ok(m
                    .remove(&to_str(&args[0]))
                    .unwrap_or(Value::Str(String::new()))),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "strvalue" => {
            want(name, &args, 1)?;
            match field(&args[0], "Labels")? {
                Value::Map(mut m) => Ok(m.remove("__value__").unwrap_or(Value::Str(String::new()))),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "sortByLabel" => {
            want(name, &args, 2)?;
            let label = to_str(&args[0]);
            let Value::List(mut items) = args[1].clone() else {
                return Err(err("sortByLabel needs a query result"));
            };
            let key = |v: &Value| match field(v, "Labels") {
                Ok(Value::Map(m)) => m.get(&label).map(to_str).unwrap_or_default(),
                _ => String::new(),
            };
            items.sort_by_key(key);
            Ok(Value::List(items))
        }
        "title" => {
            want(name, &args, 1)?;
            s(title(&to_str(&args[0])))
        }
        "toUpper" => {
            want(name, &args, 1)?;
            s(to_str(&args[0]).to_uppercase())
        }
        "toLower" => {
            want(name, &args, 1)?;
            s(to_str(&args[0]).to_lowercase())
        }
        "match" => {
            want(name, &args, 2)?;
            let re = regex::Regex::new(&to_str(&args[0])).map_err(|e| err(e.to_string()))?;
            Ok(Value::Bool(re.is_match(&to_str(&args[1]))))
        }
        "args" => Ok(Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
        )),
        "safeHtml" => {
            want(name, &args, 1)?;
            s(to_str(&args[0]))
        }
        "stripPort" => {
            want(name, &args, 1)?;
            s(strip_port(&to_str(&args[0])))
        }
        "stripDomain" => {
            want(name, &args, 1)?;
            s(strip_domain(&to_str(&args[0])))
        }
        "externalURL" => s(env.external_url.to_string()),
        "pathPrefix" => s(path_prefix(env.external_url)),
        "parseDuration" => {
            want(name, &args, 1)?;
            let d = crate::duration::PromDuration::parse(&to_str(&args[0])).map_err(err)?;
            Ok(Value::Float(d.0 as f64 / 1000.0))
        }
        "graphLink" | "tableLink" => {
            want(name, &args, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            s(format!(
                "/graph?g0.expr={}&g0.tab={tab}",
                url_escape(&to_str(&args[0]))
            ))
        }
        other => Err(err(format!("function {other:?} not defined"))),
    }
}

fn sample_value(s: QuerySample) -> Value {
    let mut m = BTreeMap::new();
    m.insert(
        "Labels".to_string(),
        Value::string_map(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    m.insert("Value".to_string(), Value::Float(s.value));
    Value::Map(m)
}

fn field(v: &Value, name: &str) -> Result<Value, TemplateError> {
    match v {
        Value::Map(m) => m
            .get(name)
            .cloned()
            .ok_or_else(|| err(format!("can't evaluate field {name}"))),
        other => Err(err(format!(
            "can't evaluate field {name} in {}",
            format_value(other)
        ))),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (to_float(a).ok()?, to_float(b).ok()?);
            x.partial_cmp(&y)
        }
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        _ => None,
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&format_value(a));
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanizeDuration` of seconds: `1d 2h 3m 4s`, or SI-prefixed seconds.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus' `humanizeTimestamp`: Go's `time.Time.String()` in UTC.
pub(crate) fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    // Prometheus goes through `model.Time`, which keeps milliseconds.
    let ms = ((v * 1e9) as i64) / 1_000_000;
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return g4(v);
    };
    let nanos = ms.rem_euclid(1000) * 1_000_000;
    let mut frac = String::new();
    if nanos != 0 {
        frac = format!(".{nanos:09}").trim_end_matches('0').to_string();
    }
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

fn strip_port(s: &str) -> String {
    match split_host_port(s) {
        Some((host, _)) => host.to_string(),
        None => s.to_string(),
    }
}

fn strip_domain(s: &str) -> String {
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

fn path_prefix(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}
