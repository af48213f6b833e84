//! The LogQL syntax tree, and its canonical printing.
//!
//! The tree is plain data (regexes are compiled once by the parser so that invalid ones
//! fail at parse time, as in Loki); `Display` prints a query that parses back to the
//! same tree.

use std::fmt;

use pitot_core::{MatchOp, Matcher};
use regex::Regex;

use crate::units::format_duration;

/// A parsed query: either a log query (streams) or a metric query (samples).
#[derive(Debug, Clone)]
pub enum Expr {
    /// `{...} | pipeline`: returns log lines.
    Log(LogSelector),
    /// Anything that evaluates to a vector, matrix or scalar.
    Metric(MetricExpr),
}

/// A stream selector followed by its pipeline.
#[derive(Debug, Clone)]
pub struct LogSelector {
    /// The stream matchers, in query order.
    pub matchers: Vec<Matcher>,
    /// The pipeline stages, left to right.
    pub stages: Vec<Stage>,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "x"`, `!~ "re"`, `|> "pat"`, with `or` alternatives.
    LineFilter(LineFilter),
    /// `| json` or `| json a="x.y", b`.
    Json(Vec<(String, String)>),
    /// `| logfmt [--strict] [--keep-empty] [a="b", c]`.
    Logfmt {
        /// Stop with an error at the first malformed pair.
        strict: bool,
        /// Keep standalone keys as empty labels.
        keep_empty: bool,
        /// Only extract these `(label, key)` pairs when not empty.
        params: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>...)"`.
    Regexp(String),
    /// `| pattern "<a> <_> <b>"`.
    Pattern(String),
    /// `| unpack`.
    Unpack,
    /// `| a="b" and c > 5`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{.x}}"`.
    LineFormat(String),
    /// `| label_format a=b, c="{{.x}}"`.
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b="x"`.
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="x"`.
    Keep(Vec<NamedMatcher>),
    /// `| decolorize`.
    Decolorize,
}

/// The operator of a line filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineFilterOp {
    /// Whether the filter drops matching lines.
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        )
    }

    fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }
}

/// One operand of a line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilterValue {
    /// A literal, regex or pattern, by the filter's operator.
    Str(String),
    /// `ip("...")`.
    Ip(String),
}

/// A line filter with its `or` alternatives (all share the operator).
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The operands; a line matches when any operand matches.
    pub values: Vec<LineFilterValue>,
}

/// Comparison operators of numeric label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq | CmpOp::EqEq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::EqEq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// A label filter predicate tree.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// Both must hold; both sides always run.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds; the right side runs only when the left fails.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name = "x"`, `name =~ "re"`, ... (like a stream matcher).
    String(Matcher),
    /// `name > 5`.
    Number {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: f64,
    },
    /// `name > 5s` (nanoseconds).
    Duration {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal in nanoseconds.
        value: i64,
    },
    /// `name > 5MB`.
    Bytes {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Literal in bytes.
        value: u64,
    },
    /// `name = ip("...")` or `name != ip("...")`.
    Ip {
        /// Label name.
        name: String,
        /// `!=`.
        negate: bool,
        /// The pattern as written.
        pattern: String,
    },
}

/// One operation of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFmt {
    /// `dst=src`: rename.
    Rename {
        /// New name.
        dst: String,
        /// Old name (removed).
        src: String,
    },
    /// `dst="{{...}}"`: set from a template.
    Template {
        /// Label to set.
        dst: String,
        /// Template text.
        template: String,
    },
}

/// A label name, optionally with a matcher on its value (`drop` and `keep`).
#[derive(Debug, Clone)]
pub struct NamedMatcher {
    /// The label name.
    pub name: String,
    /// When present, the stage applies only where the value matches.
    pub matcher: Option<Matcher>,
}

/// How `unwrap` turns a label value into a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// A float (`strconv.ParseFloat`).
    Float,
    /// `duration(x)`: seconds from a Go duration.
    Duration,
    /// `duration_seconds(x)`: same as `duration`.
    DurationSeconds,
    /// `bytes(x)`: bytes from a humanized size.
    Bytes,
}

/// `| unwrap [conv(]label[)] | post-filters`.
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// The conversion.
    pub conversion: Conversion,
    /// The label holding the value.
    pub label: String,
    /// Label filters after the unwrap (to drop conversion errors).
    pub post_filters: Vec<LabelFilter>,
}

/// A log selector with a range: the input of range aggregations.
#[derive(Debug, Clone)]
pub struct LogRange {
    /// The selector and pipeline.
    pub selector: LogSelector,
    /// The range in nanoseconds.
    pub range: i64,
    /// The offset in nanoseconds.
    pub offset: i64,
    /// The unwrap stage, for unwrapped range aggregations.
    pub unwrap: Option<Unwrap>,
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// `count_over_time`
    Count,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    Bytes,
    /// `bytes_rate`
    BytesRate,
    /// `avg_over_time`
    Avg,
    /// `sum_over_time`
    Sum,
    /// `min_over_time`
    Min,
    /// `max_over_time`
    Max,
    /// `stdvar_over_time`
    Stdvar,
    /// `stddev_over_time`
    Stddev,
    /// `quantile_over_time`
    Quantile,
    /// `first_over_time`
    First,
    /// `last_over_time`
    Last,
    /// `absent_over_time`
    Absent,
}

impl RangeOp {
    /// Looks a function name up.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "count_over_time" => RangeOp::Count,
            "rate" => RangeOp::Rate,
            "rate_counter" => RangeOp::RateCounter,
            "bytes_over_time" => RangeOp::Bytes,
            "bytes_rate" => RangeOp::BytesRate,
            "avg_over_time" => RangeOp::Avg,
            "sum_over_time" => RangeOp::Sum,
            "min_over_time" => RangeOp::Min,
            "max_over_time" => RangeOp::Max,
            "stdvar_over_time" => RangeOp::Stdvar,
            "stddev_over_time" => RangeOp::Stddev,
            "quantile_over_time" => RangeOp::Quantile,
            "first_over_time" => RangeOp::First,
            "last_over_time" => RangeOp::Last,
            "absent_over_time" => RangeOp::Absent,
            _ => return None,
        })
    }

    /// The function name.
    pub fn name(self) -> &'static str {
        match self {
            RangeOp::Count => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::Bytes => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::Avg => "avg_over_time",
            RangeOp::Sum => "sum_over_time",
            RangeOp::Min => "min_over_time",
            RangeOp::Max => "max_over_time",
            RangeOp::Stdvar => "stdvar_over_time",
            RangeOp::Stddev => "stddev_over_time",
            RangeOp::Quantile => "quantile_over_time",
            RangeOp::First => "first_over_time",
            RangeOp::Last => "last_over_time",
            RangeOp::Absent => "absent_over_time",
        }
    }
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

impl VectorOp {
    /// Looks an operator name up.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "sum" => VectorOp::Sum,
            "avg" => VectorOp::Avg,
            "min" => VectorOp::Min,
            "max" => VectorOp::Max,
            "count" => VectorOp::Count,
            "stddev" => VectorOp::Stddev,
            "stdvar" => VectorOp::Stdvar,
            "topk" => VectorOp::Topk,
            "bottomk" => VectorOp::Bottomk,
            "sort" => VectorOp::Sort,
            "sort_desc" => VectorOp::SortDesc,
            _ => return None,
        })
    }

    /// The operator name.
    pub fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        }
    }
}

/// `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The labels.
    pub labels: Vec<String>,
}

/// Binary operators, loosest binding last in each group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    /// Whether this is a comparison (filters unless `bool`).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le
        )
    }

    /// Whether this is `and`, `or` or `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }
}

/// `group_left` / `group_right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// One-to-one.
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
}

/// `on(...)` / `ignoring(...)` with grouping modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The matching labels.
    pub labels: Vec<String>,
    /// The cardinality.
    pub card: Cardinality,
    /// Extra labels copied from the "one" side.
    pub include: Vec<String>,
}

/// Modifiers of a binary operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinModifier {
    /// `bool` on a comparison.
    pub return_bool: bool,
    /// `on`/`ignoring`, if given.
    pub matching: Option<VectorMatching>,
}

/// Expressions that produce samples.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// `count_over_time({...}[5m])` and friends.
    RangeAgg {
        /// The function.
        op: RangeOp,
        /// The quantile of `quantile_over_time`.
        param: Option<f64>,
        /// The input.
        range: Box<LogRange>,
        /// `by`/`without` where allowed.
        grouping: Option<Grouping>,
    },
    /// `sum by (x) (...)` and friends.
    VectorAgg {
        /// The operator.
        op: VectorOp,
        /// `k` of `topk`/`bottomk`.
        param: Option<f64>,
        /// The input.
        inner: Box<MetricExpr>,
        /// Grouping.
        grouping: Option<Grouping>,
    },
    /// `a + b` and friends.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<MetricExpr>,
        /// Right operand.
        rhs: Box<MetricExpr>,
        /// `bool`, `on`, `ignoring`, `group_*`.
        modifier: BinModifier,
    },
    /// A number.
    Literal(f64),
    /// `vector(1)`.
    Vector(f64),
    /// `label_replace(v, "dst", "repl", "src", "re")`.
    LabelReplace {
        /// The input.
        inner: Box<MetricExpr>,
        /// Destination label.
        dst: String,
        /// Replacement with `$1` references.
        replacement: String,
        /// Source label.
        src: String,
        /// The regex, as written (anchored when applied).
        regex: String,
    },
}

impl MetricExpr {
    /// Whether the expression is a plain number (evaluates to a scalar).
    pub fn is_scalar(&self) -> bool {
        match self {
            MetricExpr::Literal(_) => true,
            MetricExpr::Binary { lhs, rhs, .. } => lhs.is_scalar() && rhs.is_scalar(),
            _ => false,
        }
    }
}

/// Quotes a string so that the LogQL lexer reads it back unchanged.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The source of a regex compiled by `pitot_core::Matcher` (without its anchors).
pub fn regex_source(re: &Regex) -> &str {
    let s = re.as_str();
    s.strip_prefix("^(?s:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}

/// Prints a matcher as LogQL does: `name="value"`.
pub struct MatcherDisplay<'a>(pub &'a Matcher);

impl fmt::Display for MatcherDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        match &m.op {
            MatchOp::Equal(v) => write!(f, "{}={}", m.name, quote(v)),
            MatchOp::NotEqual(v) => write!(f, "{}!={}", m.name, quote(v)),
            MatchOp::Regex(re) => write!(f, "{}=~{}", m.name, quote(regex_source(re))),
            MatchOp::NotRegex(re) => write!(f, "{}!~{}", m.name, quote(regex_source(re))),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Metric(m) => m.fmt(f),
        }
    }
}

impl fmt::Display for LogSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", MatcherDisplay(m))?;
        }
        f.write_str("}")?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, String)]) -> fmt::Result {
    for (i, (label, expr)) in params.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        write!(f, "{label}={}", quote(expr))?;
    }
    Ok(())
}

fn write_named(f: &mut fmt::Formatter<'_>, items: &[NamedMatcher]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        match &item.matcher {
            Some(m) => write!(f, "{}", MatcherDisplay(m))?,
            None => f.write_str(&item.name)?,
        }
    }
    Ok(())
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => {
                write!(f, "{} ", lf.op.as_str())?;
                for (i, v) in lf.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    match v {
                        LineFilterValue::Str(s) => f.write_str(&quote(s))?,
                        LineFilterValue::Ip(s) => write!(f, "ip({})", quote(s))?,
                    }
                }
                Ok(())
            }
            Stage::Json(params) => {
                f.write_str("| json")?;
                write_params(f, params)
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_params(f, params)
            }
            Stage::Regexp(re) => write!(f, "| regexp {}", quote(re)),
            Stage::Pattern(p) => write!(f, "| pattern {}", quote(p)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(ops) => {
                f.write_str("| label_format")?;
                for (i, op) in ops.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    match op {
                        LabelFmt::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFmt::Template { dst, template } => {
                            write!(f, "{dst}={}", quote(template))?
                        }
                    }
                }
                Ok(())
            }
            Stage::Drop(items) => {
                f.write_str("| drop")?;
                write_named(f, items)
            }
            Stage::Keep(items) => {
                f.write_str("| keep")?;
                write_named(f, items)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

fn fmt_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        // No LogQL token spells an infinity: print a literal that parses back to one.
        if v > 0.0 { "1e999" } else { "-1e999" }.into()
    } else {
        format!("{v}")
    }
}

impl fmt::Display for LabelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(a, b) => {
                write_filter_operand(f, a)?;
                f.write_str(" and ")?;
                write_filter_operand(f, b)
            }
            LabelFilter::Or(a, b) => write!(f, "{a} or {b}"),
            LabelFilter::String(m) => write!(f, "{}", MatcherDisplay(m)),
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), fmt_number(*value))
            }
            LabelFilter::Duration { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), format_duration(*value))
            }
            LabelFilter::Bytes { name, op, value } => {
                write!(f, "{name}{}{}B", op.as_str(), value)
            }
            LabelFilter::Ip {
                name,
                negate,
                pattern,
            } => write!(
                f,
                "{name}{}ip({})",
                if *negate { "!=" } else { "=" },
                quote(pattern)
            ),
        }
    }
}

fn write_filter_operand(f: &mut fmt::Formatter<'_>, lf: &LabelFilter) -> fmt::Result {
    if matches!(lf, LabelFilter::Or(..)) {
        write!(f, "({lf})")
    } else {
        write!(f, "{lf}")
    }
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            if self.without { "without" } else { "by" },
            self.labels.join(", ")
        )
    }
}

impl fmt::Display for LogRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.selector)?;
        if let Some(u) = &self.unwrap {
            let conv = match u.conversion {
                Conversion::Float => None,
                Conversion::Duration => Some("duration"),
                Conversion::DurationSeconds => Some("duration_seconds"),
                Conversion::Bytes => Some("bytes"),
            };
            match conv {
                Some(c) => write!(f, " | unwrap {c}({})", u.label)?,
                None => write!(f, " | unwrap {}", u.label)?,
            }
            for pf in &u.post_filters {
                write!(f, " | {pf}")?;
            }
        }
        write!(f, " [{}]", format_duration(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", format_duration(self.offset))?;
        }
        Ok(())
    }
}

impl fmt::Display for MetricExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::RangeAgg {
                op,
                param,
                range,
                grouping,
            } => {
                write!(f, "{}(", op.name())?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_number(*p))?;
                }
                write!(f, "{range})")?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::VectorAgg {
                op,
                param,
                inner,
                grouping,
            } => {
                f.write_str(op.name())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                f.write_str("(")?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_number(*p))?;
                }
                write!(f, "{inner})")
            }
            MetricExpr::Binary {
                op,
                lhs,
                rhs,
                modifier,
            } => {
                write_operand(f, lhs)?;
                write!(f, " {}", op.as_str())?;
                if modifier.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &modifier.matching {
                    write!(
                        f,
                        " {}({})",
                        if m.on { "on" } else { "ignoring" },
                        m.labels.join(", ")
                    )?;
                    match m.card {
                        Cardinality::OneToOne => {}
                        Cardinality::ManyToOne => {
                            write!(f, " group_left({})", m.include.join(", "))?
                        }
                        Cardinality::OneToMany => {
                            write!(f, " group_right({})", m.include.join(", "))?
                        }
                    }
                }
                f.write_str(" ")?;
                write_operand(f, rhs)
            }
            MetricExpr::Literal(v) => f.write_str(&fmt_number(*v)),
            MetricExpr::Vector(v) => write!(f, "vector({})", fmt_number(*v)),
            MetricExpr::LabelReplace {
                inner,
                dst,
                replacement,
                src,
                regex,
            } => write!(
                f,
                "label_replace({inner}, {}, {}, {}, {})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex)
            ),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, e: &MetricExpr) -> fmt::Result {
    match e {
        MetricExpr::Binary { .. } => write!(f, "({e})"),
        MetricExpr::Literal(v) if *v < 0.0 => write!(f, "({e})"),
        _ => write!(f, "{e}"),
    }
}
