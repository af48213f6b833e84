//! Parsing of the promqltest script format into commands.
//!
//! The format is line based: comment lines become blank lines, blank lines end blocks, and
//! each block starts with a command word (`load`, `clear`, `eval…`). Series values use the
//! expanding notation of `load` lines (`1+2x3`, `_x2`, `stale`, `{{…}}` histograms).

use pitot_core::{Label, Labels, METRIC_NAME};
use regex::Regex;

/// One value slot of a series description.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotValue {
    /// A float sample (may be the staleness marker).
    Float(f64),
    /// No sample in this slot (`_`).
    Omitted,
    /// A native histogram; Pitot does not evaluate them yet.
    Histogram,
}

/// A `load` command.
#[derive(Debug, Clone)]
pub struct Load {
    /// 1-based line of the command.
    pub line: usize,
    /// Distance between slots, in milliseconds.
    pub interval_ms: i64,
    /// Whether this is `load_with_nhcb` (histogram series are derived from buckets).
    pub with_nhcb: bool,
    /// Series and their expanded slot values.
    pub series: Vec<(Labels, Vec<SlotValue>)>,
}

/// An expectation about annotations or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchText {
    /// Any text matches.
    Any,
    /// The text must equal this exactly.
    Exact(String),
    /// The pattern must be found (unanchored).
    Regex(String),
}

/// Expected result rows.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Expected series and their values.
    pub series: Vec<(Labels, Vec<SlotValue>)>,
    /// An expected scalar.
    pub scalar: Option<f64>,
    /// An expected string.
    pub string: Option<String>,
    /// `expect range vector from A to B step S` for an instant query.
    pub range_vector: Option<(i64, i64, i64)>,
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line of the command.
    pub line: usize,
    /// The PromQL expression text.
    pub expr: String,
    /// Instant evaluation time, or `None` for a range evaluation.
    pub at_ms: Option<i64>,
    /// Range evaluation `(start, end, step)` in milliseconds.
    pub range: Option<(i64, i64, i64)>,
    /// Whether a failure is expected, and which message.
    pub fail: Option<MatchText>,
    /// Whether result order matters.
    pub ordered: bool,
    /// Expected warnings (`expect warn`, `eval_warn`).
    pub warn: Vec<MatchText>,
    /// Expected infos.
    pub info: Vec<MatchText>,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect no_info`.
    pub no_info: bool,
    /// The expected result.
    pub expected: Expected,
    /// Whether the block holds native histogram notation.
    pub mentions_histograms: bool,
}

/// One command of a script.
#[derive(Debug, Clone)]
pub enum Command {
    /// `load`
    Load(Load),
    /// `clear`
    Clear,
    /// `eval …`
    Eval(Box<Eval>),
}

/// A script that does not follow the format.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        message: message.into(),
    }
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `0`) of a script into milliseconds,
/// with Pitot's one parser.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    pitot_core::parse_duration_ms(s.trim())
        .ok()
        .map(|ms| ms as i64)
}

/// Parses a number as Go's `ParseInt(s, 0, 64)` then `ParseFloat` would.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(i) = parse_go_int(s) {
        return Some(i as f64);
    }
    parse_go_float(s)
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = if radix != 10 {
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if let Some(hex) = lower.strip_prefix("0x") {
                parse_hex_float(hex)?
            } else {
                if !lower
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == '+' || c == '-')
                {
                    return None;
                }
                lower.parse::<f64>().ok()?
            }
        }
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Parses a series description `metric{a="b"} values…` into labels and the rest of the
/// line.
pub fn parse_series_labels(line: &str) -> Result<(Labels, &str), String> {
    let bytes = line.as_bytes();
    let mut pos = 0;
    let mut labels: Vec<Label> = Vec::new();
    // Metric name.
    while pos < bytes.len() && is_metric_char(bytes[pos], pos == 0) {
        pos += 1;
    }
    if pos > 0 {
        labels.push(Label::new(METRIC_NAME, &line[..pos]));
    }
    if pos < bytes.len() && bytes[pos] == b'{' {
        pos += 1;
        loop {
            pos = skip_ws(line, pos);
            if pos >= bytes.len() {
                return Err("unterminated label set".into());
            }
            if bytes[pos] == b'}' {
                pos += 1;
                break;
            }
            // Label name: identifier or quoted string.
            let name = if bytes[pos] == b'"' || bytes[pos] == b'\'' || bytes[pos] == b'`' {
                let (s, next) = parse_quoted(line, pos)?;
                pos = next;
                s
            } else {
                let start = pos;
                while pos < bytes.len()
                    && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_')
                {
                    pos += 1;
                }
                if start == pos {
                    return Err(format!("unexpected character in label set at {pos}"));
                }
                line[start..pos].to_string()
            };
            pos = skip_ws(line, pos);
            if pos >= bytes.len() || bytes[pos] != b'=' {
                // A bare quoted string is the metric name.
                if pos < bytes.len() && (bytes[pos] == b',' || bytes[pos] == b'}') {
                    labels.push(Label::new(METRIC_NAME, name));
                    if bytes[pos] == b',' {
                        pos += 1;
                    }
                    continue;
                }
                return Err("expected '=' in label set".into());
            }
            pos += 1;
            pos = skip_ws(line, pos);
            if pos >= bytes.len() {
                return Err("unterminated label set".into());
            }
            let (value, next) = parse_quoted(line, pos)?;
            pos = skip_ws(line, next);
            labels.retain(|l| l.name != name);
            labels.push(Label::new(name, value));
            if pos < bytes.len() && bytes[pos] == b',' {
                pos += 1;
            }
        }
    }
    if pos == 0 {
        return Err("expected a series description".into());
    }
    Ok((Labels::from_unsorted(labels), &line[pos..]))
}

fn is_metric_char(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

fn skip_ws(s: &str, mut pos: usize) -> usize {
    let b = s.as_bytes();
    while pos < b.len() && (b[pos] == b' ' || b[pos] == b'\t') {
        pos += 1;
    }
    pos
}

/// Parses a Go-style quoted string starting at `pos`; returns the text and the position
/// after the closing quote.
pub fn parse_quoted(s: &str, pos: usize) -> Result<(String, usize), String> {
    let bytes = s.as_bytes();
    let quote = bytes[pos];
    let mut out: Vec<u8> = Vec::new();
    let mut i = pos + 1;
    if quote == b'`' {
        while i < bytes.len() && bytes[i] != b'`' {
            out.push(bytes[i]);
            i += 1;
        }
        if i >= bytes.len() {
            return Err("unterminated raw string".into());
        }
        return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1));
    }
    while i < bytes.len() && bytes[i] != quote {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            i += 1;
            match bytes[i] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'\'' => out.push(b'\''),
                b'x' => {
                    let hex = s.get(i + 1..i + 3).ok_or("bad \\x escape")?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad \\x escape")?);
                    i += 2;
                }
                b'u' | b'U' => {
                    let n = if bytes[i] == b'u' { 4 } else { 8 };
                    let hex = s.get(i + 1..i + 1 + n).ok_or("bad unicode escape")?;
                    let cp = u32::from_str_radix(hex, 16).map_err(|_| "bad unicode escape")?;
                    let ch = char::from_u32(cp).ok_or("bad unicode escape")?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += n;
                }
                b'0'..=b'7' => {
                    let oct = s.get(i..i + 3).ok_or("bad octal escape")?;
                    out.push(u8::from_str_radix(oct, 8).map_err(|_| "bad octal escape")?);
                    i += 2;
                }
                other => return Err(format!("unknown escape \\{}", other as char)),
            }
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    if i >= bytes.len() {
        return Err("unterminated string".into());
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), i + 1))
}

/// Expands the values part of a series description.
pub fn parse_values(text: &str) -> Result<Vec<SlotValue>, String> {
    let mut out = Vec::new();
    for item in split_items(text) {
        expand_item(&item, &mut out)?;
    }
    Ok(out)
}

/// Splits on whitespace but keeps `{{…}}` together.
fn split_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && i + 1 < chars.len() && chars[i + 1] == '{' {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && i + 1 < chars.len() && chars[i + 1] == '}' && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if (c == ' ' || c == '\t') && depth == 0 {
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

fn expand_item(item: &str, out: &mut Vec<SlotValue>) -> Result<(), String> {
    if item.starts_with("{{") {
        // Histogram, possibly with `xN` or `+{{…}}xN`.
        let times = match item.rfind("}}x") {
            Some(i) => {
                item[i + 3..]
                    .parse::<usize>()
                    .map_err(|_| format!("bad repetition in {item:?}"))?
                    + 1
            }
            None => 1,
        };
        out.extend(std::iter::repeat_n(SlotValue::Histogram, times));
        return Ok(());
    }
    if item == "_" {
        out.push(SlotValue::Omitted);
        return Ok(());
    }
    if item == "stale" {
        out.push(SlotValue::Float(f64::from_bits(pitot_core::STALE_NAN)));
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad item {item:?}"))?;
        out.extend(std::iter::repeat_n(SlotValue::Omitted, n));
        return Ok(());
    }
    // `<head>x<digits>` is a repetition (so `0x59` is 0 repeated, not hex 0x59).
    let looks_repeated = item.rfind('x').is_some_and(|x| {
        x > 0 && x + 1 < item.len() && item[x + 1..].bytes().all(|b| b.is_ascii_digit())
    });
    if !looks_repeated {
        if let Some(v) = parse_number(item) {
            out.push(SlotValue::Float(v));
            return Ok(());
        }
    }
    // `NxK`, `N+DxK`, `N-DxK`.
    let x = item
        .rfind('x')
        .ok_or_else(|| format!("bad value {item:?}"))?;
    let times: i64 = item[x + 1..]
        .parse()
        .map_err(|_| format!("bad repetition in {item:?}"))?;
    let head = &item[..x];
    // Find the operator separating base and delta: a '+' or '-' that is not the leading
    // sign and not part of an exponent.
    let hb = head.as_bytes();
    let mut split = None;
    for i in 1..hb.len() {
        if (hb[i] == b'+' || hb[i] == b'-') && !matches!(hb[i - 1], b'e' | b'E') {
            split = Some(i);
        }
    }
    let (base, delta) = match split {
        Some(i) => {
            let base_str = &head[..i];
            let delta =
                parse_number(&head[i + 1..]).ok_or_else(|| format!("bad delta in {item:?}"))?;
            let sign = if hb[i] == b'-' { -1.0 } else { 1.0 };
            (base_str, sign * delta)
        }
        None => (head, 0.0),
    };
    if base == "stale" {
        if delta != 0.0 {
            return Err("stale cannot take a step".into());
        }
        for _ in 0..=times {
            out.push(SlotValue::Float(f64::from_bits(pitot_core::STALE_NAN)));
        }
        return Ok(());
    }
    if base == "_" {
        for _ in 0..=times {
            out.push(SlotValue::Omitted);
        }
        return Ok(());
    }
    let mut v = parse_number(base).ok_or_else(|| format!("bad value {item:?}"))?;
    for _ in 0..=times {
        out.push(SlotValue::Float(v));
        v += delta;
    }
    Ok(())
}

struct Patterns {
    load: Regex,
    instant: Regex,
    range: Regex,
    expect: Regex,
    range_vector: Regex,
}

fn patterns() -> Patterns {
    Patterns {
        load: Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("valid regex"),
        instant: Regex::new(
            r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
        )
        .expect("valid regex"),
        range: Regex::new(
            r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
        )
        .expect("valid regex"),
        expect: Regex::new(
            r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$",
        )
        .expect("valid regex"),
        range_vector: Regex::new(
            r"^expect\s+range\s+vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$",
        )
        .expect("valid regex"),
    }
}

/// Parses a whole script into commands.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let pats = patterns();
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        let line_no = i + 1;
        let first = lines[i]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        // The block: command line plus following non-empty lines.
        let mut end = i + 1;
        while end < lines.len() && !lines[end].is_empty() {
            end += 1;
        }
        if first == "clear" {
            commands.push(Command::Clear);
            i += 1;
            continue;
        }
        if first.starts_with("load") {
            commands.push(Command::Load(parse_load(&pats, &lines, i, end)?));
        } else if first.starts_with("eval") {
            let (eval, consumed_end) = parse_eval(&pats, &lines, i, end)?;
            commands.push(Command::Eval(Box::new(eval)));
            end = consumed_end;
        } else {
            return Err(err(line_no, format!("invalid command {first:?}")));
        }
        i = end;
    }
    Ok(commands)
}

fn parse_load(p: &Patterns, lines: &[String], i: usize, end: usize) -> Result<Load, ScriptError> {
    let caps = p
        .load
        .captures(&lines[i])
        .ok_or_else(|| err(i + 1, "invalid load command"))?;
    let with_nhcb = caps.get(1).is_some();
    let interval_ms = parse_duration_ms(&caps[2])
        .ok_or_else(|| err(i + 1, format!("invalid load interval {:?}", &caps[2])))?;
    let mut series: Vec<(Labels, Vec<SlotValue>)> = Vec::new();
    for (j, line) in lines.iter().enumerate().take(end).skip(i + 1) {
        let (labels, rest) = parse_series_labels(line).map_err(|m| err(j + 1, m))?;
        if rest.starts_with("@st") {
            // Start timestamps: Pitot ignores them.
            continue;
        }
        let values = parse_values(rest).map_err(|m| err(j + 1, m))?;
        if let Some(existing) = series.iter_mut().find(|(l, _)| *l == labels) {
            existing.1 = values;
        } else {
            series.push((labels, values));
        }
    }
    Ok(Load {
        line: i + 1,
        interval_ms,
        with_nhcb,
        series,
    })
}

fn parse_match(kind: Option<&str>, text: Option<&str>) -> MatchText {
    match (kind, text) {
        (Some("msg"), Some(t)) => MatchText::Exact(t.trim().to_string()),
        (Some("regex"), Some(t)) => MatchText::Regex(t.trim().to_string()),
        _ => MatchText::Any,
    }
}

fn parse_eval(
    p: &Patterns,
    lines: &[String],
    i: usize,
    end: usize,
) -> Result<(Eval, usize), ScriptError> {
    let line_no = i + 1;
    let cmd = &lines[i];
    let mut eval = Eval {
        line: line_no,
        expr: String::new(),
        at_ms: None,
        range: None,
        fail: None,
        ordered: false,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        expected: Expected::default(),
        mentions_histograms: false,
    };
    let modifier;
    if let Some(c) = p.instant.captures(cmd) {
        modifier = c.get(1).map(|m| m.as_str().to_string());
        let at = c.get(2).map(|m| m.as_str()).unwrap_or("");
        eval.at_ms = Some(
            parse_duration_ms(at).ok_or_else(|| err(line_no, format!("invalid time {at:?}")))?,
        );
        eval.expr = c[3].to_string();
    } else if let Some(c) = p.range.captures(cmd) {
        modifier = c.get(1).map(|m| m.as_str().to_string());
        let start = parse_duration_ms(&c[2])
            .ok_or_else(|| err(line_no, format!("invalid start {:?}", &c[2])))?;
        let end_t = parse_duration_ms(&c[3])
            .ok_or_else(|| err(line_no, format!("invalid end {:?}", &c[3])))?;
        let step = parse_duration_ms(&c[4])
            .ok_or_else(|| err(line_no, format!("invalid step {:?}", &c[4])))?;
        if end_t < start {
            return Err(err(line_no, "end timestamp must not be before start time"));
        }
        eval.range = Some((start, end_t, step));
        eval.expr = c[5].to_string();
    } else {
        return Err(err(line_no, format!("invalid eval command {cmd:?}")));
    }
    match modifier.as_deref() {
        Some("fail") => eval.fail = Some(MatchText::Any),
        Some("warn") => eval.warn.push(MatchText::Any),
        Some("info") => eval.info.push(MatchText::Any),
        Some("ordered") => eval.ordered = true,
        _ => {}
    }
    if cmd.contains("{{") {
        eval.mentions_histograms = true;
    }
    let mut j = i + 1;
    while j < end {
        let line = &lines[j];
        let jl = j + 1;
        if line.contains("{{") {
            eval.mentions_histograms = true;
        }
        if let Some(rest) = line.strip_prefix("expected_fail_message") {
            eval.fail = Some(MatchText::Exact(rest.trim().to_string()));
            return Ok((eval, j + 1));
        }
        if let Some(rest) = line.strip_prefix("expected_fail_regexp") {
            eval.fail = Some(MatchText::Regex(rest.trim().to_string()));
            return Ok((eval, j + 1));
        }
        if line.split(' ').next() == Some("expect") || line.starts_with("expect\t") {
            if let Some(c) = p.range_vector.captures(line) {
                let a = parse_duration_ms(&c[1]).ok_or_else(|| err(jl, "invalid range start"))?;
                let b = parse_duration_ms(&c[2]).ok_or_else(|| err(jl, "invalid range end"))?;
                let s = parse_duration_ms(&c[3]).ok_or_else(|| err(jl, "invalid range step"))?;
                eval.expected.range_vector = Some((a, b, s));
            } else if let Some(rest) = line.strip_prefix("expect string") {
                let rest = rest.trim();
                let (s, _) = parse_quoted(rest, 0).map_err(|m| err(jl, m))?;
                eval.expected.string = Some(s);
            } else if let Some(c) = p.expect.captures(line) {
                let text = parse_match(c.get(2).map(|m| m.as_str()), c.get(3).map(|m| m.as_str()));
                match &c[1] {
                    "fail" => eval.fail = Some(text),
                    "warn" => eval.warn.push(text),
                    "info" => eval.info.push(text),
                    "no_warn" => eval.no_warn = true,
                    "no_info" => eval.no_info = true,
                    "ordered" => eval.ordered = true,
                    _ => unreachable!("regex alternatives"),
                }
            } else {
                return Err(err(jl, format!("invalid expect line {line:?}")));
            }
            j += 1;
            continue;
        }
        if let Some(v) = parse_number(line) {
            eval.expected.scalar = Some(v);
            return Ok((eval, j + 1));
        }
        let (labels, rest) = parse_series_labels(line).map_err(|m| err(jl, m))?;
        let values = parse_values(rest).map_err(|m| err(jl, m))?;
        if eval.at_ms.is_some() && eval.expected.range_vector.is_none() && values.len() != 1 {
            return Err(err(
                jl,
                format!(
                    "expected one value in an instant eval, got {}",
                    values.len()
                ),
            ));
        }
        eval.expected.series.push((labels, values));
        j += 1;
    }
    Ok((eval, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("100ms"), Some(100));
        assert_eq!(parse_duration_ms("1m1s"), Some(61_000));
        assert_eq!(parse_duration_ms("1s1m"), None);
        assert_eq!(parse_duration_ms("-1s"), None);
    }

    #[test]
    fn values_expand() {
        let v = parse_values("0+10x2 _ stale 5 _x2 1x1 -1-1x1").unwrap();
        let f = |x: f64| SlotValue::Float(x);
        assert_eq!(v.len(), 3 + 1 + 1 + 1 + 2 + 2 + 2);
        assert_eq!(v[0..3], [f(0.0), f(10.0), f(20.0)]);
        assert_eq!(v[3], SlotValue::Omitted);
        assert!(matches!(v[4], SlotValue::Float(x) if pitot_core::is_stale_nan(x)));
        assert_eq!(v[10..12], [f(-1.0), f(-2.0)]);
        assert_eq!(parse_values("1e3 0x1f -Inf").unwrap()[1], f(31.0));
        assert_eq!(parse_values("0x59").unwrap().len(), 60);
        assert_eq!(parse_values("{{schema:0 sum:1}}x2 1").unwrap().len(), 4);
    }

    #[test]
    fn series_labels() {
        let (l, rest) = parse_series_labels(r#"foo{a="b", c="d\"e"} 1 2"#).unwrap();
        assert_eq!(l.get("__name__"), Some("foo"));
        assert_eq!(l.get("c"), Some("d\"e"));
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_series_labels(r#"{__name__="x"} 1"#).unwrap();
        assert_eq!(l.metric_name(), Some("x"));
    }

    #[test]
    fn script_blocks() {
        let text = "load 1m\n  a{x=\"1\"} 1 2\n\neval instant at 1m a\n  expect no_warn\n  a{x=\"1\"} 2\n\neval range from 0 to 1m step 1m a\n  a{x=\"1\"} 1 2\n\neval instant at 0 1\n  1\n";
        let cmds = parse_script(text).unwrap();
        assert_eq!(cmds.len(), 4);
        match &cmds[1] {
            Command::Eval(e) => {
                assert_eq!(e.at_ms, Some(60_000));
                assert!(e.no_warn);
                assert_eq!(e.expected.series.len(), 1);
            }
            _ => panic!("expected eval"),
        }
        match &cmds[3] {
            Command::Eval(e) => assert_eq!(e.expected.scalar, Some(1.0)),
            _ => panic!("expected eval"),
        }
    }
}
