//! The Prometheus text exposition format (0.0.4), as `/api/v1/import/prometheus`
//! accepts it: what an exporter serves or `promtool tsdb dump` style tools write, with
//! optional millisecond timestamps.
//!
//! ```text
//! # HELP http_requests_total Requests served.
//! # TYPE http_requests_total counter
//! http_requests_total{method="post",code="200"} 1027 1395066363000
//! {"service.name", le="+Inf"} 3
//! ```
//!
//! Lines are a sample, a comment (`# HELP`, `# TYPE` and any other `#` line, checked
//! for shape and otherwise skipped) or blank. A sample without a timestamp takes the
//! default the caller gives (the time of the import). Samples of one series are
//! gathered into one series, in time order. An error names the line and what is wrong.

use std::collections::HashMap;

use crate::remote_write::{Label, Sample, TimeSeries, WriteRequest};

/// A bound on the heap bytes [`parse_exposition`] takes for `body`, read off the body
/// without parsing it, to be charged before parsing: each line may become a series (its
/// structs and its index entry, 256 bytes), each quoted string a label (its struct,
/// the index's copy and allocator overhead, 64 bytes per quote), and the text itself is
/// held at most three times (parsed, indexed, validated).
pub fn exposition_decoded_bytes_bound(body: &[u8]) -> usize {
    let (mut lines, mut quotes) = (1usize, 0usize);
    for &b in body {
        lines += usize::from(b == b'\n');
        quotes += usize::from(b == b'"');
    }
    body.len()
        .saturating_mul(3)
        .saturating_add(lines.saturating_mul(256))
        .saturating_add(quotes.saturating_mul(64))
}

/// Parses `text` into series; samples without a timestamp get `default_ms`.
pub fn parse_exposition(text: &str, default_ms: i64) -> Result<WriteRequest, String> {
    let mut index: HashMap<Vec<(String, String)>, usize> = HashMap::new();
    let mut request = WriteRequest::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            check_comment(comment).map_err(|e| format!("line {n}: {e}"))?;
            continue;
        }
        let (labels, sample) =
            parse_sample(line, default_ms).map_err(|e| format!("line {n}: {e}"))?;
        let slot = *index.entry(labels.clone()).or_insert_with(|| {
            request.timeseries.push(TimeSeries {
                labels: labels
                    .into_iter()
                    .map(|(name, value)| Label { name, value })
                    .collect(),
                samples: Vec::new(),
                exemplars: Vec::new(),
            });
            request.timeseries.len() - 1
        });
        request.timeseries[slot].samples.push(sample);
    }
    for series in &mut request.timeseries {
        series.samples.sort_by_key(|s| s.timestamp);
    }
    Ok(request)
}

/// A `# HELP name ...` or `# TYPE name type` line must name a metric (and a known
/// type); other comments are free text.
fn check_comment(comment: &str) -> Result<(), String> {
    let mut words = comment.trim_start().splitn(3, ' ');
    let keyword = words.next().unwrap_or("");
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    let name = words.next().unwrap_or("");
    if name.is_empty() {
        return Err(format!("# {keyword} names no metric"));
    }
    if keyword == "TYPE" {
        let kind = words.next().unwrap_or("").trim();
        const TYPES: [&str; 9] = [
            "counter",
            "gauge",
            "histogram",
            "gaugehistogram",
            "summary",
            "untyped",
            "unknown",
            "info",
            "stateset",
        ];
        if !TYPES.contains(&kind) {
            return Err(format!(
                "# TYPE {name} has type {kind:?}; expected one of {}",
                TYPES.join(", ")
            ));
        }
    }
    Ok(())
}

/// One sample line: its sorted labels (`__name__` included) and its sample.
fn parse_sample(line: &str, default_ms: i64) -> Result<(Vec<(String, String)>, Sample), String> {
    let mut cursor = Cursor { rest: line };
    let mut labels = Vec::new();
    let name = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !name.is_empty() {
        if name.as_bytes()[0].is_ascii_digit() {
            return Err(format!("metric name {name:?} starts with a digit"));
        }
        labels.push(("__name__".to_string(), name.to_string()));
    }
    if cursor.rest.starts_with('{') {
        cursor.rest = &cursor.rest[1..];
        parse_labels(&mut cursor, &mut labels)?;
    }
    if !labels.iter().any(|(n, _)| n == "__name__") {
        return Err("the sample has no metric name".into());
    }
    labels.sort();
    for pair in labels.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!("label {:?} appears twice", pair[0].0));
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    if !cursor.rest.starts_with([' ', '\t']) {
        return Err(format!(
            "expected a space and the value after the series, found {:?}",
            cursor
                .rest
                .chars()
                .next()
                .map_or(String::from("the end of the line"), String::from)
        ));
    }
    let mut fields = cursor.rest.split_ascii_whitespace();
    let value_text = fields.next().ok_or("the sample has no value")?;
    let value = parse_value(value_text)
        .ok_or_else(|| format!("value {value_text:?} is not a number (NaN, +Inf and -Inf are)"))?;
    let timestamp = match fields.next() {
        None => default_ms,
        Some(t) => t
            .parse::<i64>()
            .map_err(|_| format!("timestamp {t:?} is not an integer number of milliseconds"))?,
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok((labels, Sample { value, timestamp }))
}

/// `{name="value", "quoted name"="value", "metric name", ...}` after the `{`.
fn parse_labels(cursor: &mut Cursor<'_>, labels: &mut Vec<(String, String)>) -> Result<(), String> {
    loop {
        cursor.skip_spaces();
        if cursor.eat('}') {
            return Ok(());
        }
        let name = if cursor.rest.starts_with('"') {
            cursor.quoted()?
        } else {
            let name = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
                return Err(format!(
                    "expected a label name at {:?}",
                    cursor.rest.chars().take(20).collect::<String>()
                ));
            }
            name.to_string()
        };
        cursor.skip_spaces();
        if cursor.eat('=') {
            cursor.skip_spaces();
            if !cursor.rest.starts_with('"') {
                return Err(format!("the value of label {name:?} is not quoted"));
            }
            let value = cursor.quoted()?;
            labels.push((name, value));
        } else {
            // A quoted name alone is the metric name (UTF-8 names, Prometheus 3).
            if labels.iter().any(|(n, _)| n == "__name__") {
                return Err(format!("label {name:?} has no value"));
            }
            labels.push(("__name__".to_string(), name));
        }
        cursor.skip_spaces();
        if cursor.eat(',') {
            continue;
        }
        if cursor.eat('}') {
            return Ok(());
        }
        return Err("expected ',' or '}' after a label".into());
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[1 + i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, other)) => {
                        return Err(format!("unknown escape \\{other} in a quoted string"))
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("a quoted string is not closed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels and (timestamp, value bits) of each series.
    type Parsed = Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>;

    fn series(request: &WriteRequest) -> Parsed {
        request
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect()
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn samples_comments_escapes_and_special_values_parse() {
        let text = "# HELP up Whether the target is up.\n# TYPE up gauge\n\
            up{job=\"a\",instance=\"x:1\"} 1 1000\n\
            up{instance=\"x:1\",job=\"a\"} 0 500\n\
            # a free comment\n\n\
            weird{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\\n\",empty=\"\"} -Inf\n\
            {\"service.name\", le=\"+Inf\"} NaN 7\r\n\
            plain -0 3\n";
        let request = parse_exposition(text, 42).unwrap();
        let got = series(&request);
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0],
            (
                l(&[("__name__", "up"), ("instance", "x:1"), ("job", "a")]),
                vec![(500, 0), (1000, 1f64.to_bits())]
            )
        );
        assert_eq!(
            got[1],
            (
                l(&[
                    ("__name__", "weird"),
                    ("path", "C:\\dir"),
                    ("q", "say \"hi\"\n")
                ]),
                vec![(42, f64::NEG_INFINITY.to_bits())]
            )
        );
        assert_eq!(got[2].0, l(&[("__name__", "service.name"), ("le", "+Inf")]));
        assert!(f64::from_bits(got[2].1[0].1).is_nan());
        assert_eq!(got[3].1, vec![(3, (-0.0f64).to_bits())]);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            (
                "up 1\nup{a=b} 1",
                "line 2: the value of label \"a\" is not quoted",
            ),
            ("up{a=\"x\" 1", "line 1: expected ',' or '}'"),
            ("up abc", "line 1: value \"abc\" is not a number"),
            ("up 1 12.5", "line 1: timestamp \"12.5\""),
            ("up 1 2 3", "line 1: unexpected \"3\""),
            ("{a=\"b\"} 1", "line 1: the sample has no metric name"),
            ("up{a=\"1\",a=\"2\"} 1", "line 1: label \"a\" appears twice"),
            ("# TYPE up gaug", "line 1: # TYPE up has type \"gaug\""),
            ("up{a=\"x} 1", "line 1: a quoted string is not closed"),
            ("up{a=\"\\x\"} 1", "line 1: unknown escape \\x"),
            ("9up 1", "line 1: metric name \"9up\" starts with a digit"),
            ("up", "line 1: expected a space and the value"),
            ("up 0x10", "line 1: value \"0x10\""),
        ];
        for (text, want) in cases {
            let e = parse_exposition(text, 0).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }
}
