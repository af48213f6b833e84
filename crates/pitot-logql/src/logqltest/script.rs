//! Parsing of `.logqltest` scripts (see Loki's `README.logqltest.md`).

use pitot_core::{Label, Labels};

use crate::units::parse_go_duration;

/// One script command.
#[derive(Debug, Clone)]
pub enum Command {
    /// Drop all loaded streams.
    Clear,
    /// Load entries.
    Load(Vec<LoadLine>),
    /// Evaluate and check.
    Eval(Eval),
}

/// One indented line of a `load` block, expanded into entries.
#[derive(Debug, Clone)]
pub struct LoadLine {
    /// Stream labels (empty values dropped, as storage does on write).
    pub labels: Labels,
    /// `(ts ns, line, metadata)` entries.
    pub entries: Vec<(i64, String, Vec<Label>)>,
}

/// What an eval expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Series with values (one per step for range evals).
    Series {
        /// Compare positionally.
        ordered: bool,
        /// Labels and points (`None` is `_`).
        series: Vec<(Labels, Vec<Option<f64>>)>,
    },
    /// A scalar.
    Scalar(f64),
    /// No series.
    Empty,
    /// The query fails; optional message substring or regex.
    Fail {
        /// Substring the message must contain.
        msg: Option<String>,
        /// Regex the message must match.
        regex: Option<String>,
    },
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line.
    pub line: usize,
    /// The query.
    pub query: String,
    /// Instant (`start == end`, step 0) or range.
    pub instant: bool,
    /// Start (ns).
    pub start: i64,
    /// End (ns).
    pub end: i64,
    /// Step (ns).
    pub step: i64,
    /// Expectation.
    pub expect: Expect,
}

/// A script that cannot be parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// Removes a `#` comment that is outside quotes.
pub fn strip_comment(s: &str) -> &str {
    let mut in_dq = false;
    let mut in_bt = false;
    let mut prev_backslash = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' if !in_bt && !prev_backslash => in_dq = !in_dq,
            '`' if !in_dq => in_bt = !in_bt,
            '#' if !in_dq && !in_bt => return &s[..i],
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    s
}

fn dur(s: &str, line: usize) -> Result<i64, ScriptError> {
    parse_go_duration(s).map_err(|msg| ScriptError { line, msg })
}

/// Parses `{a="b", c="d"}` with Go string escapes.
pub fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((Labels::from_unsorted(labels), r));
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .ok_or("bad label name")?;
        let name = &rest[..end];
        rest = rest[end..]
            .trim_start()
            .strip_prefix('=')
            .ok_or("expected =")?;
        let (value, r) = parse_quoted(rest.trim_start())?;
        labels.push(Label::new(name, value));
        rest = r.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        }
    }
}

/// Parses a `"..."` string with Go escapes, returning it and the rest.
fn parse_quoted(s: &str) -> Result<(String, &str), String> {
    let body = s.strip_prefix('"').ok_or("expected a quoted value")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, o)) => {
                    out.push('\\');
                    out.push(o);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

fn parse_load_line(s: &str, line: usize) -> Result<LoadLine, ScriptError> {
    let err = |msg: &str| ScriptError {
        line,
        msg: msg.to_string(),
    };
    let (labels, rest) = parse_labels(s).map_err(|e| err(&e))?;
    let labels = Labels::from_unsorted(
        labels
            .into_vec()
            .into_iter()
            .filter(|l| !l.value.is_empty())
            .collect(),
    );
    let rest = rest.trim_start();
    // The line, raw (neither quote form unescapes).
    let (text, rest) = if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"').ok_or_else(|| err("unterminated line"))?;
        (&r[..end], &r[end + 1..])
    } else if let Some(r) = rest.strip_prefix('`') {
        let end = r.find('`').ok_or_else(|| err("unterminated line"))?;
        (&r[..end], &r[end + 1..])
    } else {
        return Err(err("expected a quoted line"));
    };
    let rest = rest
        .trim_start()
        .strip_prefix('@')
        .ok_or_else(|| err("expected @"))?;
    let rest = rest.trim_start();
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let start = dur(&rest[..end], line)?;
    let mut rest = rest[end..].trim_start();
    let (mut every, mut count) = (0i64, 1usize);
    let mut metadata = Vec::new();
    while let Some(r) = rest.strip_prefix('[') {
        let close = r.rfind(']').ok_or_else(|| err("unterminated ["))?;
        // Find the matching ']' for this block (metadata values may not hold ']').
        let close = r.find(']').filter(|c| *c <= close).unwrap_or(close);
        let inner = r[..close].trim();
        rest = r[close + 1..].trim_start();
        if let Some(x) = inner.strip_prefix("repeat every") {
            let parts: Vec<&str> = x.split_whitespace().collect();
            if parts.len() != 3 || parts[1] != "for" {
                return Err(err("expected [repeat every <step> for <count>]"));
            }
            every = dur(parts[0], line)?;
            count = parts[2].parse().map_err(|_| err("bad repeat count"))?;
        } else if let Some(mut x) = inner.strip_prefix("metadata") {
            loop {
                x = x.trim_start();
                if x.is_empty() {
                    break;
                }
                let (key, r) = if x.starts_with('"') {
                    parse_quoted(x).map_err(|e| err(&e))?
                } else {
                    let e = x.find('=').ok_or_else(|| err("expected key=value"))?;
                    (x[..e].to_string(), &x[e..])
                };
                let r = r.strip_prefix('=').ok_or_else(|| err("expected ="))?;
                let (value, r) = parse_quoted(r).map_err(|e| err(&e))?;
                metadata.push(Label::new(key, value));
                x = r;
            }
        } else {
            return Err(err("unknown [...] block"));
        }
    }
    if !rest.is_empty() {
        return Err(err(&format!("unexpected {rest:?}")));
    }
    let entries = (0..count)
        .map(|i| {
            (
                start + i as i64 * every,
                text.replace("{{.i}}", &i.to_string()),
                metadata.clone(),
            )
        })
        .collect();
    Ok(LoadLine { labels, entries })
}

/// Parses a value: a float, `NaN`, `Inf`, or `_` (None).
fn parse_value(s: &str) -> Result<Option<f64>, String> {
    match s {
        "_" => Ok(None),
        "NaN" => Ok(Some(f64::NAN)),
        "Inf" | "+Inf" => Ok(Some(f64::INFINITY)),
        "-Inf" => Ok(Some(f64::NEG_INFINITY)),
        _ => s.parse().map(Some).map_err(|_| format!("bad value {s:?}")),
    }
}

/// Expands `a`, `a+bxn`, `a-bxn`, `axn`, `_xn`.
fn expand_values(tokens: &[&str]) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for t in tokens {
        if let Some((base, n)) = t.rsplit_once('x') {
            if let Ok(n) = n.parse::<usize>() {
                // Split base into start and delta on the last sign that is not leading.
                let split = base
                    .char_indices()
                    .skip(1)
                    .filter(|(i, c)| {
                        (*c == '+' || *c == '-') && !matches!(base.as_bytes()[i - 1], b'e' | b'E')
                    })
                    .last()
                    .map(|(i, _)| i);
                let (start, delta) = match split {
                    Some(i) => (
                        parse_value(&base[..i])?,
                        base[i..].parse::<f64>().map_err(|e| e.to_string())?,
                    ),
                    None => (parse_value(base)?, 0.0),
                };
                for k in 0..=n {
                    out.push(start.map(|s| s + delta * k as f64));
                }
                continue;
            }
        }
        out.push(parse_value(t)?);
    }
    Ok(out)
}

/// Parses a script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line_no = i + 1;
        let content = strip_comment(raw).trim_end();
        if content.trim().is_empty() {
            i += 1;
            continue;
        }
        if content.starts_with(char::is_whitespace) {
            return Err(ScriptError {
                line: line_no,
                msg: "indented line outside a block".into(),
            });
        }
        // The indented block that follows (comment lines skipped).
        let mut block = Vec::new();
        let mut j = i + 1;
        while j < lines.len() {
            let l = strip_comment(lines[j]).trim_end();
            if l.trim().is_empty() {
                if lines[j].trim_start().starts_with('#') {
                    j += 1;
                    continue;
                }
                break;
            }
            if !l.starts_with(char::is_whitespace) {
                break;
            }
            block.push((j + 1, l.trim()));
            j += 1;
        }
        i = j;
        let content = content.trim();
        if content == "clear" {
            cmds.push(Command::Clear);
        } else if content == "load" {
            let mut loads = Vec::new();
            for (ln, l) in block {
                loads.push(parse_load_line(l, ln)?);
            }
            cmds.push(Command::Load(loads));
        } else if let Some(rest) = content.strip_prefix("eval ") {
            cmds.push(Command::Eval(parse_eval(rest.trim(), line_no, &block)?));
        } else {
            return Err(ScriptError {
                line: line_no,
                msg: format!("unknown command {content:?}"),
            });
        }
    }
    Ok(cmds)
}

fn parse_eval(rest: &str, line: usize, block: &[(usize, &str)]) -> Result<Eval, ScriptError> {
    let err = |msg: String| ScriptError { line, msg };
    let words: Vec<&str> = rest.splitn(8, char::is_whitespace).collect();
    let (instant, start, end, step, query) = if words.first() == Some(&"instant") {
        let parts: Vec<&str> = rest.splitn(4, char::is_whitespace).collect();
        if parts.len() < 4 || parts[1] != "at" {
            return Err(err("expected eval instant at <t> <query>".into()));
        }
        let t = dur(parts[2], line)?;
        (true, t, t, 0, parts[3].trim().to_string())
    } else if words.first() == Some(&"range") {
        let parts: Vec<&str> = rest.splitn(8, char::is_whitespace).collect();
        if parts.len() < 8 || parts[1] != "from" || parts[3] != "to" || parts[5] != "step" {
            return Err(err(
                "expected eval range from <t0> to <t1> step <s> <query>".into(),
            ));
        }
        (
            false,
            dur(parts[2], line)?,
            dur(parts[4], line)?,
            dur(parts[6], line)?,
            parts[7].trim().to_string(),
        )
    } else {
        return Err(err(format!("unknown eval {rest:?}")));
    };
    let mut ordered = false;
    let mut series = Vec::new();
    let mut expect = None;
    for (ln, l) in block {
        let l = *l;
        if l == "expect ordered" {
            ordered = true;
        } else if l == "expect empty" {
            expect = Some(Expect::Empty);
        } else if let Some(r) = l.strip_prefix("expect fail") {
            let r = r.trim();
            let (mut msg, mut regex) = (None, None);
            if let Some(m) = r.strip_prefix("msg:") {
                msg = Some(m.trim().to_string());
            } else if let Some(m) = r.strip_prefix("regex:") {
                regex = Some(m.trim().to_string());
            }
            expect = Some(Expect::Fail { msg, regex });
        } else if l.starts_with("skip ") {
            // Only the "direct" stack runs here.
        } else if l.starts_with('{') {
            let (labels, r) = parse_labels(l).map_err(|e| ScriptError { line: *ln, msg: e })?;
            let toks: Vec<&str> = r.split_whitespace().collect();
            let values = expand_values(&toks).map_err(|e| ScriptError { line: *ln, msg: e })?;
            series.push((labels, values));
        } else {
            let toks: Vec<&str> = l.split_whitespace().collect();
            let values = expand_values(&toks).map_err(|e| ScriptError { line: *ln, msg: e })?;
            match values.as_slice() {
                [Some(v)] => expect = Some(Expect::Scalar(*v)),
                _ => {
                    return Err(ScriptError {
                        line: *ln,
                        msg: format!("cannot read expectation {l:?}"),
                    })
                }
            }
        }
    }
    let expect = match expect {
        Some(e) => e,
        None if !series.is_empty() => Expect::Series { ordered, series },
        None => return Err(err("eval without an expectation".into())),
    };
    Ok(Eval {
        line,
        query,
        instant,
        start,
        end,
        step,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_load_and_eval() {
        let s = r##"
load
  {app="foo", e=""} "v={{.i}}"  @ 10s [repeat every 10s for 3] [metadata lvl="info"]  # comment
  {app="bar"} `{"a":"#"}` @ 1m30s

eval range from 0 to 60s step 30s count_over_time({app="foo"}[30s])   # c
  {app="foo"} _ 1+1x1

eval instant at 60s count_over_time({app="x"}[1m])
  expect fail msg: nope
"##;
        let cmds = parse_script(s).unwrap();
        assert_eq!(cmds.len(), 3);
        let Command::Load(l) = &cmds[0] else { panic!() };
        assert_eq!(l[0].labels, Labels::from_pairs([("app", "foo")]));
        assert_eq!(l[0].entries[2].0, 30_000_000_000);
        assert_eq!(l[0].entries[2].1, "v=2");
        assert_eq!(l[0].entries[0].2, vec![Label::new("lvl", "info")]);
        assert_eq!(l[1].entries[0].1, r##"{"a":"#"}"##);
        let Command::Eval(e) = &cmds[1] else { panic!() };
        assert_eq!(e.query, r#"count_over_time({app="foo"}[30s])"#);
        assert_eq!(
            e.expect,
            Expect::Series {
                ordered: false,
                series: vec![(
                    Labels::from_pairs([("app", "foo")]),
                    vec![None, Some(1.0), Some(2.0)]
                )]
            }
        );
    }
}
