use std::fmt;

use regex::Regex;

/// The four PromQL label match operators.
#[derive(Debug, Clone)]
pub enum MatchOp {
    /// `=`
    Equal(String),
    /// `!=`
    NotEqual(String),
    /// `=~`, fully anchored.
    Regex(Regex),
    /// `!~`, fully anchored.
    NotRegex(Regex),
}

/// A label matcher as in a PromQL selector. A missing label matches as the empty string,
/// so `{a=""}` selects series without `a` and `{a!=""}` those with it.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// How the value is matched.
    pub op: MatchOp,
}

/// A matcher that cannot be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MatcherError {
    /// The regular expression does not compile.
    #[error("invalid regular expression {pattern:?} for label {name:?}: {reason}")]
    BadRegex {
        /// The label name.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// The operator is not one of `=`, `!=`, `=~`, `!~`.
    #[error("unknown match operator {0:?}")]
    BadOp(String),
}

impl Matcher {
    /// `name="value"`
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal(value.into()),
        }
    }

    /// `name!="value"`
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::NotEqual(value.into()),
        }
    }

    /// `name=~"pattern"`, anchored at both ends as Prometheus does; `.` matches newlines.
    pub fn regex(name: impl Into<String>, pattern: &str) -> Result<Self, MatcherError> {
        let name = name.into();
        let re = anchored(&name, pattern)?;
        Ok(Matcher {
            name,
            op: MatchOp::Regex(re),
        })
    }

    /// `name!~"pattern"`.
    pub fn not_regex(name: impl Into<String>, pattern: &str) -> Result<Self, MatcherError> {
        let name = name.into();
        let re = anchored(&name, pattern)?;
        Ok(Matcher {
            name,
            op: MatchOp::NotRegex(re),
        })
    }

    /// Builds a matcher from an operator string as written in a selector.
    pub fn from_op(name: impl Into<String>, op: &str, value: &str) -> Result<Self, MatcherError> {
        match op {
            "=" => Ok(Matcher::equal(name, value)),
            "!=" => Ok(Matcher::not_equal(name, value)),
            "=~" => Matcher::regex(name, value),
            "!~" => Matcher::not_regex(name, value),
            other => Err(MatcherError::BadOp(other.to_string())),
        }
    }

    /// Whether a label value (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => v == value,
            MatchOp::NotEqual(v) => v != value,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Whether the matcher selects series that lack the label, which decides whether
    /// an index must scan all series rather than only the label's postings.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The exact value for `=` matchers, which indexes can look up directly.
    pub fn equal_value(&self) -> Option<&str> {
        match &self.op {
            MatchOp::Equal(v) => Some(v),
            _ => None,
        }
    }
}

fn anchored(name: &str, pattern: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| MatcherError::BadRegex {
        name: name.to_string(),
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            MatchOp::Equal(v) => write!(f, "{}={:?}", self.name, v),
            MatchOp::NotEqual(v) => write!(f, "{}!={:?}", self.name, v),
            MatchOp::Regex(re) => write!(f, "{}=~{:?}", self.name, strip_anchor(re.as_str())),
            MatchOp::NotRegex(re) => write!(f, "{}!~{:?}", self.name, strip_anchor(re.as_str())),
        }
    }
}

fn strip_anchor(s: &str) -> &str {
    s.strip_prefix("^(?s:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_dot_matches_newline() {
        let m = Matcher::regex("job", "api|web").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("api2"));
        assert!(Matcher::regex("a", "a.b").unwrap().matches("a\nb"));
        assert!(Matcher::not_regex("a", "x.*").unwrap().matches(""));
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(!Matcher::not_equal("a", "").matches_empty());
        assert!(Matcher::regex("a", "(").is_err());
        assert_eq!(
            Matcher::regex("job", "a.*").unwrap().to_string(),
            r#"job=~"a.*""#
        );
    }
}
