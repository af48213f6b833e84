//! Compiled line filters and label filters.
//!
//! Literal line filters use `memchr::memmem` finders built once per query; regex and
//! pattern filters use compiled regexes. Label filters follow Loki's error rules:
//! converting filters (number, duration, bytes) drop lines without the label, and on a
//! value they cannot convert keep the line and set `__error__="LabelFilterErr"` (the
//! first failure owns `__error_details__`); `ip()` filters keep lines that already
//! carry an error.

use memchr::memmem;
use pitot_core::Matcher;
use regex::Regex;

use super::ip::IpPattern;
use super::labels::LabelsBuilder;
use super::pattern::filter_regex;
use crate::ast::{CmpOp, LabelFilter, LineFilter, LineFilterOp, LineFilterValue};
use crate::units::{parse_bytes, parse_go_duration, parse_go_float};

/// Error kind of a failed label filter conversion.
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";

#[derive(Debug, Clone)]
enum LineMatcher {
    Always,
    Contains(Box<memmem::Finder<'static>>),
    Regex(Regex),
    Ip(IpPattern),
}

impl LineMatcher {
    fn matches(&self, line: &str) -> bool {
        match self {
            LineMatcher::Always => true,
            LineMatcher::Contains(f) => f.find(line.as_bytes()).is_some(),
            LineMatcher::Regex(re) => re.is_match(line),
            LineMatcher::Ip(p) => p.matches_in(line),
        }
    }
}

/// A compiled line filter with its `or` operands.
#[derive(Debug, Clone)]
pub struct LineFilterC {
    negative: bool,
    matchers: Vec<LineMatcher>,
}

impl LineFilterC {
    /// Compiles a parsed line filter (its regexes were validated by the parser).
    pub fn compile(lf: &LineFilter) -> Result<Self, String> {
        let mut matchers = Vec::with_capacity(lf.values.len());
        for v in &lf.values {
            let m = match v {
                LineFilterValue::Ip(p) => LineMatcher::Ip(IpPattern::parse(p)?),
                LineFilterValue::Str(s) => match lf.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        if s.is_empty() {
                            LineMatcher::Always
                        } else {
                            LineMatcher::Contains(Box::new(
                                memmem::Finder::new(s.as_bytes()).into_owned(),
                            ))
                        }
                    }
                    LineFilterOp::Regex | LineFilterOp::NotRegex => {
                        LineMatcher::Regex(crate::parser::compile_regex(s)?)
                    }
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        LineMatcher::Regex(filter_regex(s))
                    }
                },
            };
            matchers.push(m);
        }
        Ok(LineFilterC {
            negative: lf.op.is_negative(),
            matchers,
        })
    }

    /// Whether the line passes.
    #[inline]
    pub fn keep(&self, line: &str) -> bool {
        let any = self.matchers.iter().any(|m| m.matches(line));
        any != self.negative
    }
}

/// A compiled label filter tree.
#[derive(Debug, Clone)]
pub enum LabelFilterC {
    /// Both (both always evaluated).
    And(Box<LabelFilterC>, Box<LabelFilterC>),
    /// Either (right only when left fails).
    Or(Box<LabelFilterC>, Box<LabelFilterC>),
    /// String matcher.
    Str(Matcher),
    /// Number comparison.
    Num(String, CmpOp, f64),
    /// Duration comparison (ns).
    Dur(String, CmpOp, i64),
    /// Bytes comparison.
    Bytes(String, CmpOp, u64),
    /// `ip()` match.
    Ip(String, bool, IpPattern),
}

impl LabelFilterC {
    /// Compiles a parsed label filter.
    pub fn compile(lf: &LabelFilter) -> Result<Self, String> {
        Ok(match lf {
            LabelFilter::And(a, b) => {
                LabelFilterC::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Or(a, b) => {
                LabelFilterC::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::String(m) => LabelFilterC::Str(m.clone()),
            LabelFilter::Number { name, op, value } => LabelFilterC::Num(name.clone(), *op, *value),
            LabelFilter::Duration { name, op, value } => {
                LabelFilterC::Dur(name.clone(), *op, *value)
            }
            LabelFilter::Bytes { name, op, value } => {
                LabelFilterC::Bytes(name.clone(), *op, *value)
            }
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => LabelFilterC::Ip(name.clone(), *negate, IpPattern::parse(pattern)?),
        })
    }

    /// Evaluates the filter; may set `__error__`.
    pub fn keep(&self, lbs: &mut LabelsBuilder) -> bool {
        match self {
            LabelFilterC::And(a, b) => {
                let l = a.keep(lbs);
                let r = b.keep(lbs);
                l && r
            }
            LabelFilterC::Or(a, b) => a.keep(lbs) || b.keep(lbs),
            LabelFilterC::Str(m) => m.matches(lbs.get(&m.name).unwrap_or("")),
            LabelFilterC::Num(name, op, lit) => {
                let Some(v) = lbs.get_plain(name) else {
                    return false;
                };
                match parse_go_float(v) {
                    Ok(x) => op.apply(x, *lit),
                    Err(e) => {
                        lbs.set_err(LABEL_FILTER_ERR, || e);
                        true
                    }
                }
            }
            LabelFilterC::Dur(name, op, lit) => {
                let Some(v) = lbs.get_plain(name) else {
                    return false;
                };
                match parse_go_duration(v) {
                    Ok(x) => op.apply(x, *lit),
                    Err(e) => {
                        lbs.set_err(LABEL_FILTER_ERR, || e);
                        true
                    }
                }
            }
            LabelFilterC::Bytes(name, op, lit) => {
                let Some(v) = lbs.get_plain(name) else {
                    return false;
                };
                match parse_bytes(v) {
                    Ok(x) => op.apply(x, *lit),
                    Err(e) => {
                        lbs.set_err(LABEL_FILTER_ERR, || e);
                        true
                    }
                }
            }
            LabelFilterC::Ip(name, negate, pat) => {
                if lbs.has_err() {
                    return true;
                }
                let Some(v) = lbs.get_plain(name) else {
                    return false;
                };
                pat.matches_in(v) != *negate
            }
        }
    }

    /// Label names the filter reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            LabelFilterC::And(a, b) | LabelFilterC::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
            LabelFilterC::Str(m) => out.push(m.name.clone()),
            LabelFilterC::Num(n, ..)
            | LabelFilterC::Dur(n, ..)
            | LabelFilterC::Bytes(n, ..)
            | LabelFilterC::Ip(n, ..) => out.push(n.clone()),
        }
    }
}
