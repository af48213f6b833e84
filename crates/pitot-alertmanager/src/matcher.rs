//! Label matchers in Alertmanager's syntax (`a="b"`, `a=~"x"`, `!=`, `!~`), shared by routes,
//! inhibition rules, silences and API filters.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::AmError;

/// A label set: sorted so fingerprints and group keys are stable.
pub type LabelSet = BTreeMap<String, String>;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher; a missing label matches as the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or the regular expression source.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling (and anchoring) the regex for the regex operators.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, AmError> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| AmError::Matcher {
                    input: format!("{name}{}{value:?}", op.as_str()),
                    reason: format!("bad regex: {e}"),
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Whether the label value (empty when absent) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the label set satisfies the matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }

    /// Whether this is a regex operator (API v2's `isRegex`).
    pub fn is_regex(&self) -> bool {
        matches!(self.op, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Whether this is a positive operator (API v2's `isEqual`).
    pub fn is_equal(&self) -> bool {
        matches!(self.op, MatchOp::Equal | MatchOp::Regex)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Whether every matcher matches the label set.
pub fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Parses one or more comma-separated matchers, optionally wrapped in `{}`; values may be
/// quoted (with Go escapes) or bare.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, AmError> {
    let err = |reason: &str| AmError::Matcher {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let mut s = input.trim();
    if let Some(rest) = s.strip_prefix('{') {
        s = rest
            .strip_suffix('}')
            .ok_or_else(|| err("missing closing '}'"))?
            .trim();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let mut out = Vec::new();
    let skip_ws = |pos: &mut usize| {
        while *pos < chars.len() && chars[*pos].is_whitespace() {
            *pos += 1;
        }
    };
    loop {
        skip_ws(&mut pos);
        if pos >= chars.len() {
            break;
        }
        let start = pos;
        while pos < chars.len() && !matches!(chars[pos], '=' | '!' | '~') {
            pos += 1;
        }
        let name: String = chars[start..pos]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        let name = unquote(&name).map_err(|r| err(&r))?;
        if name.is_empty() {
            return Err(err("missing label name"));
        }
        let op = if chars[pos..].starts_with(&['=', '~']) {
            pos += 2;
            MatchOp::Regex
        } else if chars[pos..].starts_with(&['!', '~']) {
            pos += 2;
            MatchOp::NotRegex
        } else if chars[pos..].starts_with(&['!', '=']) {
            pos += 2;
            MatchOp::NotEqual
        } else if chars[pos..].starts_with(&['=']) {
            pos += 1;
            MatchOp::Equal
        } else {
            return Err(err("expected one of =, !=, =~, !~"));
        };
        skip_ws(&mut pos);
        let value = if pos < chars.len() && chars[pos] == '"' {
            let start = pos;
            pos += 1;
            while pos < chars.len() && chars[pos] != '"' {
                if chars[pos] == '\\' {
                    pos += 1;
                }
                pos += 1;
            }
            if pos >= chars.len() {
                return Err(err("unterminated quoted value"));
            }
            pos += 1;
            let quoted: String = chars[start..pos].iter().collect();
            unquote(&quoted).map_err(|r| err(&r))?
        } else {
            let start = pos;
            while pos < chars.len() && chars[pos] != ',' {
                pos += 1;
            }
            chars[start..pos]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        out.push(Matcher::new(&name, op, &value)?);
        skip_ws(&mut pos);
        if pos < chars.len() {
            if chars[pos] != ',' {
                return Err(err("expected ',' between matchers"));
            }
            pos += 1;
        }
    }
    if out.is_empty() {
        return Err(err("no matchers"));
    }
    Ok(out)
}

fn unquote(s: &str) -> Result<String, String> {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Ok(s.to_string());
    };
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other)
            }
            None => return Err("dangling escape".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_operators_and_braces() {
        let ms = parse_matchers(r#"{a="b", c!="d", e=~"x|y", f!~"z.*"}"#).unwrap();
        let ops: Vec<MatchOp> = ms.iter().map(|m| m.op).collect();
        assert_eq!(
            ops,
            vec![
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::Regex,
                MatchOp::NotRegex
            ]
        );
        let labels: LabelSet = [("a", "b"), ("e", "x"), ("f", "zz2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(ms[0].matches(&labels));
        assert!(ms[1].matches(&labels));
        assert!(ms[2].matches(&labels));
        assert!(!ms[3].matches(&labels));
    }

    #[test]
    fn bare_values_and_anchoring() {
        let ms = parse_matchers("severity=~warn").unwrap();
        assert!(ms[0].matches_value("warn"));
        assert!(!ms[0].matches_value("warning"));
        assert_eq!(parse_matchers("foo=bar").unwrap().len(), 1);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_matchers("foo").is_err());
        assert!(parse_matchers(r#"a="b"#).is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
        assert!(parse_matchers("{a=b").is_err());
    }
}
