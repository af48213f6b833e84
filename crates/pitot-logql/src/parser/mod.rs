//! A hand-written recursive-descent parser for LogQL, with Pratt-style binary
//! operators and Loki's error messages (`syntax error: unexpected X`) and validation
//! rules (which range functions take `unwrap` or grouping).

mod lexer;

use pitot_core::Matcher;
use regex::Regex;

use crate::ast::*;
use crate::error::ParseError;
use crate::pipeline::ip::IpPattern;
use crate::pipeline::template::Template;
use lexer::{lex, Tok, Token};

/// Parses a LogQL query (log or metric).
pub fn parse(q: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(q)?;
    let expr = p.parse_top()?;
    p.expect_eof()?;
    if let Expr::Log(sel) = &expr {
        check_selector(q, sel)?;
    }
    Ok(expr)
}

/// Parses a bare stream selector such as `{app="x", env=~"prod|dev"}` (the `match[]`
/// of `/series` and friends).
pub fn parse_stream_selector(q: &str) -> Result<Vec<Matcher>, ParseError> {
    let mut p = Parser::new(q)?;
    let matchers = p.parse_matchers()?;
    p.expect_eof()?;
    Ok(matchers)
}

/// Loki refuses selectors that would select every stream.
fn check_selector(q: &str, sel: &LogSelector) -> Result<(), ParseError> {
    if sel.matchers.iter().all(|m| m.matches_empty()) {
        return Err(ParseError::at(
            q,
            0,
            "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ));
    }
    Ok(())
}

/// Compiles a regex with Go's error wording.
pub(crate) fn compile_regex(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        let detail = e.to_string();
        let last = detail
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        format!("error parsing regexp: {last}: `{re}`")
    })
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ParseError> {
        Ok(Parser {
            src,
            toks: lex(src)?,
            i: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let j = (self.i + n).min(self.toks.len() - 1);
        &self.toks[j].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err_here(&self, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, self.pos(), msg)
    }

    fn unexpected(&self) -> ParseError {
        self.err_here(format!(
            "syntax error: unexpected {}",
            self.peek().describe()
        ))
    }

    fn unexpected_expecting(&self, what: &str) -> ParseError {
        self.err_here(format!(
            "syntax error: unexpected {}, expecting {what}",
            self.peek().describe()
        ))
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), ParseError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected_expecting(s))
        }
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        if matches!(self.peek(), Tok::Eof) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_ident(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected_expecting("IDENTIFIER")),
        }
    }

    fn expect_str(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected_expecting("STRING")),
        }
    }

    fn expect_duration(&mut self) -> Result<i64, ParseError> {
        match self.peek() {
            Tok::Duration(d) => {
                let d = *d;
                self.next();
                Ok(d)
            }
            _ => Err(self.unexpected_expecting("DURATION")),
        }
    }

    // ---- top level and metric expressions ----

    fn parse_top(&mut self) -> Result<Expr, ParseError> {
        if self.is_sym("{") {
            let sel = self.parse_log_selector()?;
            if !matches!(self.peek(), Tok::Eof) {
                return Err(self.unexpected());
            }
            return Ok(Expr::Log(sel));
        }
        Ok(Expr::Metric(self.parse_binary(0)?))
    }

    fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Sym("+") => BinOp::Add,
            Tok::Sym("-") => BinOp::Sub,
            Tok::Sym("*") => BinOp::Mul,
            Tok::Sym("/") => BinOp::Div,
            Tok::Sym("%") => BinOp::Mod,
            Tok::Sym("^") => BinOp::Pow,
            Tok::Sym("==") => BinOp::Eq,
            Tok::Sym("!=") => BinOp::Ne,
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym(">=") => BinOp::Ge,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym("<=") => BinOp::Le,
            Tok::Ident(s) if s == "and" => BinOp::And,
            Tok::Ident(s) if s == "or" => BinOp::Or,
            Tok::Ident(s) if s == "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn parse_binary(&mut self, min_prec: u8) -> Result<MetricExpr, ParseError> {
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.next();
            let modifier = self.parse_bin_modifier(op)?;
            // `^` is right-associative, everything else left-associative.
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.parse_binary(next_min)?;
            if op.is_set() && (lhs.is_scalar() || rhs.is_scalar()) {
                return Err(ParseError::at(
                    self.src,
                    op_pos,
                    format!(
                        "unexpected literal for right leg of logical/set binary operation ({}): {}",
                        op.as_str(),
                        if rhs.is_scalar() { &rhs } else { &lhs }
                    ),
                ));
            }
            if modifier.return_bool && lhs.is_scalar() && rhs.is_scalar() {
                // Loki accepts and ignores it? Prometheus refuses; follow Prometheus.
                return Err(ParseError::at(
                    self.src,
                    op_pos,
                    "bool modifier can only be used on comparisons between vectors",
                ));
            }
            lhs = MetricExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                modifier,
            };
        }
        Ok(lhs)
    }

    fn parse_bin_modifier(&mut self, op: BinOp) -> Result<BinModifier, ParseError> {
        let mut m = BinModifier::default();
        if self.is_ident("bool") {
            if !op.is_comparison() {
                return Err(self.err_here("bool modifier can only be used on comparison operators"));
            }
            self.next();
            m.return_bool = true;
        }
        if self.is_ident("on") || self.is_ident("ignoring") {
            let on = self.is_ident("on");
            self.next();
            let labels = self.parse_label_list()?;
            let mut vm = VectorMatching {
                on,
                labels,
                card: Cardinality::OneToOne,
                include: vec![],
            };
            if self.is_ident("group_left") || self.is_ident("group_right") {
                if op.is_set() {
                    return Err(self.err_here("no grouping allowed for and, or, unless operations"));
                }
                vm.card = if self.is_ident("group_left") {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                self.next();
                if self.is_sym("(") {
                    vm.include = self.parse_label_list()?;
                }
            }
            m.matching = Some(vm);
        }
        Ok(m)
    }

    fn parse_label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_sym("(")?;
        let mut labels = Vec::new();
        if self.eat_sym(")") {
            return Ok(labels);
        }
        loop {
            labels.push(self.expect_ident()?);
            if self.eat_sym(",") {
                continue;
            }
            self.expect_sym(")")?;
            return Ok(labels);
        }
    }

    fn parse_grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.is_ident("by") || self.is_ident("without") {
            let without = self.is_ident("without");
            self.next();
            let labels = self.parse_label_list()?;
            return Ok(Some(Grouping { without, labels }));
        }
        Ok(None)
    }

    fn parse_unary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::Sym(s @ ("-" | "+")) => {
                self.next();
                let inner = self.parse_unary_operand()?;
                Ok(match (s, inner) {
                    ("-", MetricExpr::Literal(v)) => MetricExpr::Literal(-v),
                    ("-", e) => MetricExpr::Binary {
                        op: BinOp::Mul,
                        lhs: Box::new(MetricExpr::Literal(-1.0)),
                        rhs: Box::new(e),
                        modifier: BinModifier::default(),
                    },
                    (_, e) => e,
                })
            }
            _ => self.parse_unary_operand(),
        }
    }

    fn parse_unary_operand(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::Number(v) => {
                self.next();
                Ok(MetricExpr::Literal(v))
            }
            Tok::Sym("(") => {
                self.next();
                let e = self.parse_binary(0)?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("{") => Err(self.err_here(
                "syntax error: unexpected {, a log query cannot be used in a metric expression without a range aggregation",
            )),
            Tok::Ident(name) => {
                if let Some(op) = RangeOp::from_name(&name) {
                    self.next();
                    return self.parse_range_agg(op);
                }
                if let Some(op) = VectorOp::from_name(&name) {
                    self.next();
                    return self.parse_vector_agg(op);
                }
                match name.as_str() {
                    "vector" => {
                        self.next();
                        self.expect_sym("(")?;
                        let v = self.parse_number_literal()?;
                        self.expect_sym(")")?;
                        Ok(MetricExpr::Vector(v))
                    }
                    "label_replace" => {
                        self.next();
                        self.parse_label_replace()
                    }
                    _ => Err(self.unexpected()),
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn parse_number_literal(&mut self) -> Result<f64, ParseError> {
        let neg = if self.eat_sym("-") {
            true
        } else {
            self.eat_sym("+");
            false
        };
        match self.peek() {
            Tok::Number(v) => {
                let v = *v;
                self.next();
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.unexpected_expecting("NUMBER")),
        }
    }

    fn parse_label_replace(&mut self) -> Result<MetricExpr, ParseError> {
        self.expect_sym("(")?;
        let inner = self.parse_binary(0)?;
        let mut args = Vec::new();
        for _ in 0..4 {
            self.expect_sym(",")?;
            args.push(self.expect_str()?);
        }
        self.expect_sym(")")?;
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        if let Err(e) = compile_regex(&format!("^(?:{regex})$")) {
            return Err(self.err_here(format!("invalid regex in label_replace: {e}")));
        }
        if !pitot_core::is_valid_label_name(&dst) {
            return Err(self.err_here(format!(
                "invalid destination label name in label_replace: {dst}"
            )));
        }
        Ok(MetricExpr::LabelReplace {
            inner: Box::new(inner),
            dst,
            replacement,
            src,
            regex,
        })
    }

    fn parse_vector_agg(&mut self, op: VectorOp) -> Result<MetricExpr, ParseError> {
        let mut grouping = self.parse_grouping()?;
        self.expect_sym("(")?;
        let mut param = None;
        if matches!(op, VectorOp::Topk | VectorOp::Bottomk) {
            let pos = self.pos();
            let k = match self.peek() {
                Tok::Number(v) => *v,
                _ => {
                    return Err(self.err_here(format!(
                        "syntax error: unexpected {}, expecting NUMBER",
                        self.peek().describe()
                    )))
                }
            };
            self.next();
            if k.fract() != 0.0 || k < 1.0 {
                return Err(ParseError::at(
                    self.src,
                    pos,
                    format!(
                        "invalid parameter (must be greater than 0) {}({k}",
                        op.name()
                    ),
                ));
            }
            param = Some(k);
            self.expect_sym(",")?;
        }
        let inner = self.parse_binary(0)?;
        self.expect_sym(")")?;
        if let Some(g) = self.parse_grouping()? {
            if grouping.is_some() {
                return Err(self.unexpected());
            }
            grouping = Some(g);
        }
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && grouping.is_some() {
            return Err(self.err_here(format!(
                "grouping not allowed for {} aggregation",
                op.name()
            )));
        }
        if inner.is_scalar() {
            return Err(self.err_here("expected type vector in aggregation expression, got scalar"));
        }
        Ok(MetricExpr::VectorAgg {
            op,
            param,
            inner: Box::new(inner),
            grouping,
        })
    }

    fn parse_range_agg(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        let start = self.pos();
        self.expect_sym("(")?;
        let mut param = None;
        if op == RangeOp::Quantile {
            match self.peek() {
                Tok::Number(v) => {
                    param = Some(*v);
                    self.next();
                }
                _ => return Err(self.unexpected()),
            }
            self.expect_sym(",")?;
        }
        let range = self.parse_log_range()?;
        self.expect_sym(")")?;
        let grouping = self.parse_grouping()?;
        validate_range_agg(op, &range, grouping.as_ref())
            .map_err(|msg| ParseError::at(self.src, start, msg))?;
        Ok(MetricExpr::RangeAgg {
            op,
            param,
            range: Box::new(range),
            grouping,
        })
    }

    fn parse_log_range(&mut self) -> Result<LogRange, ParseError> {
        let sel_pos = self.pos();
        let (selector, unwrap, mut range) = if self.is_sym("(") {
            self.next();
            let (sel, unwrap, range) = self.parse_log_range_body()?;
            self.expect_sym(")")?;
            (sel, unwrap, range)
        } else {
            self.parse_log_range_body()?
        };
        if range.is_none() {
            if !self.is_sym("[") {
                return Err(self.unexpected_expecting("RANGE"));
            }
            range = Some(self.parse_range()?);
        }
        let offset = self.parse_offset()?;
        check_selector(self.src, &selector).map_err(|mut e| {
            let p = ParseError::at(self.src, sel_pos, "");
            e.line = p.line;
            e.col = p.col;
            e
        })?;
        Ok(LogRange {
            selector,
            range: range.unwrap_or(0),
            offset,
            unwrap,
        })
    }

    fn parse_range(&mut self) -> Result<i64, ParseError> {
        self.expect_sym("[")?;
        let d = self.expect_duration()?;
        self.expect_sym("]")?;
        if d <= 0 {
            return Err(self.err_here("range must be positive"));
        }
        Ok(d)
    }

    fn parse_offset(&mut self) -> Result<i64, ParseError> {
        if self.is_ident("offset") {
            self.next();
            let neg = self.eat_sym("-");
            let d = self.expect_duration()?;
            return Ok(if neg { -d } else { d });
        }
        Ok(0)
    }

    /// `selector [range] pipeline [| unwrap ...] [range]`; the range is returned when
    /// it was inside.
    #[allow(clippy::type_complexity)]
    fn parse_log_range_body(
        &mut self,
    ) -> Result<(LogSelector, Option<Unwrap>, Option<i64>), ParseError> {
        let matchers = self.parse_matchers()?;
        let mut range = None;
        if self.is_sym("[") {
            range = Some(self.parse_range()?);
        }
        let (stages, unwrap) = self.parse_pipeline(true)?;
        if range.is_none() && self.is_sym("[") {
            range = Some(self.parse_range()?);
        }
        Ok((LogSelector { matchers, stages }, unwrap, range))
    }

    // ---- log selectors and pipelines ----

    fn parse_log_selector(&mut self) -> Result<LogSelector, ParseError> {
        let matchers = self.parse_matchers()?;
        let (stages, unwrap) = self.parse_pipeline(false)?;
        debug_assert!(unwrap.is_none());
        Ok(LogSelector { matchers, stages })
    }

    fn parse_matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect_sym("{")?;
        let mut matchers = Vec::new();
        if self.is_sym("}") {
            return Err(self.err_here("syntax error: unexpected }, expecting IDENTIFIER"));
        }
        loop {
            let name = self.expect_ident()?;
            let op_pos = self.pos();
            let op = match self.next() {
                Tok::Sym(s @ ("=" | "!=" | "=~" | "!~")) => s,
                _ => {
                    self.i -= 1;
                    return Err(self.unexpected_expecting("= or != or =~ or !~"));
                }
            };
            let value = self.expect_str()?;
            let m = Matcher::from_op(name, op, &value)
                .map_err(|e| ParseError::at(self.src, op_pos, e.to_string()))?;
            matchers.push(m);
            if self.eat_sym(",") {
                continue;
            }
            self.expect_sym("}")?;
            return Ok(matchers);
        }
    }

    fn parse_pipeline(
        &mut self,
        allow_unwrap: bool,
    ) -> Result<(Vec<Stage>, Option<Unwrap>), ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Sym("|=") => Some(LineFilterOp::Contains),
                Tok::Sym("!=") => Some(LineFilterOp::NotContains),
                Tok::Sym("|~") => Some(LineFilterOp::Regex),
                Tok::Sym("!~") => Some(LineFilterOp::NotRegex),
                Tok::Sym("|>") => Some(LineFilterOp::Pattern),
                Tok::Sym("!>") => Some(LineFilterOp::NotPattern),
                _ => None,
            };
            if let Some(op) = op {
                self.next();
                stages.push(Stage::LineFilter(self.parse_line_filter(op)?));
                continue;
            }
            if !self.is_sym("|") {
                return Ok((stages, None));
            }
            self.next();
            if self.is_ident("unwrap") && !matches!(self.peek_at(1), Tok::Sym(s) if is_filter_op(s))
            {
                if !allow_unwrap {
                    return Err(self.unexpected());
                }
                self.next();
                let unwrap = self.parse_unwrap()?;
                return Ok((stages, Some(unwrap)));
            }
            stages.push(self.parse_stage()?);
        }
    }

    fn parse_unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let first = self.expect_ident()?;
        let conv = match first.as_str() {
            "duration" => Some(Conversion::Duration),
            "duration_seconds" => Some(Conversion::DurationSeconds),
            "bytes" => Some(Conversion::Bytes),
            _ => None,
        };
        let (conversion, label) = match conv {
            Some(c) if self.is_sym("(") => {
                self.next();
                let label = self.expect_ident()?;
                self.expect_sym(")")?;
                (c, label)
            }
            _ => (Conversion::Float, first),
        };
        let mut post_filters = Vec::new();
        while self.is_sym("|") {
            self.next();
            post_filters.push(self.parse_label_filter()?);
        }
        Ok(Unwrap {
            conversion,
            label,
            post_filters,
        })
    }

    fn parse_line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter, ParseError> {
        let mut values = Vec::new();
        loop {
            let pos = self.pos();
            let v = match self.peek().clone() {
                Tok::Str(s) => {
                    self.next();
                    LineFilterValue::Str(s)
                }
                Tok::Ident(name) if name == "ip" && self.peek_at(1) == &Tok::Sym("(") => {
                    self.next();
                    self.next();
                    let pat = self.expect_str()?;
                    self.expect_sym(")")?;
                    LineFilterValue::Ip(pat)
                }
                _ => return Err(self.unexpected_expecting("STRING")),
            };
            match &v {
                LineFilterValue::Ip(pat) => {
                    if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                        return Err(ParseError::at(
                            self.src,
                            pos,
                            format!("ip: invalid operation {}", op.as_str_pub()),
                        ));
                    }
                    IpPattern::parse(pat).map_err(|e| ParseError::at(self.src, pos, e))?;
                }
                LineFilterValue::Str(s) => match op {
                    LineFilterOp::Regex | LineFilterOp::NotRegex => {
                        compile_regex(s).map_err(|e| ParseError::at(self.src, pos, e))?;
                    }
                    LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                        crate::pipeline::pattern::validate_filter_pattern(s)
                            .map_err(|e| ParseError::at(self.src, pos, e))?;
                    }
                    _ => {}
                },
            }
            values.push(v);
            if self.is_ident("or")
                && matches!(self.peek_at(1), Tok::Str(_) | Tok::Ident(_))
                && (matches!(self.peek_at(1), Tok::Str(_)) || self.peek_at(2) == &Tok::Sym("("))
            {
                self.next();
                continue;
            }
            break;
        }
        if values.iter().any(|v| matches!(v, LineFilterValue::Ip(_)))
            && !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains)
        {
            return Err(self.err_here(format!("ip: invalid operation {}", op.as_str_pub())));
        }
        Ok(LineFilter { op, values })
    }

    fn parse_stage(&mut self) -> Result<Stage, ParseError> {
        let name = match self.peek() {
            Tok::Ident(s) => s.clone(),
            Tok::Sym("(") => return Ok(Stage::LabelFilter(self.parse_label_filter()?)),
            _ => return Err(self.unexpected()),
        };
        // A label filter on a label named like a stage keyword: `| json="x"`.
        if matches!(self.peek_at(1), Tok::Sym(s) if is_filter_op(s)) {
            return Ok(Stage::LabelFilter(self.parse_label_filter()?));
        }
        let pos = self.pos();
        match name.as_str() {
            "json" => {
                self.next();
                Ok(Stage::Json(self.parse_extraction_params(true)?))
            }
            "logfmt" => {
                self.next();
                let mut strict = false;
                let mut keep_empty = false;
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "--strict" => strict = true,
                        "--keep-empty" => keep_empty = true,
                        _ => return Err(self.unexpected()),
                    }
                    self.next();
                }
                let params = self.parse_extraction_params(false)?;
                Ok(Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                })
            }
            "regexp" => {
                self.next();
                let re = self.expect_str()?;
                let compiled = compile_regex(&re).map_err(|e| ParseError::at(self.src, pos, e))?;
                if compiled.capture_names().flatten().next().is_none() {
                    return Err(ParseError::at(
                        self.src,
                        pos,
                        "at least one named capture must be supplied",
                    ));
                }
                for n in compiled.capture_names().flatten() {
                    if !pitot_core::is_valid_label_name(n) {
                        return Err(ParseError::at(
                            self.src,
                            pos,
                            format!("invalid extracted label name '{n}'"),
                        ));
                    }
                }
                Ok(Stage::Regexp(re))
            }
            "pattern" => {
                self.next();
                let p = self.expect_str()?;
                crate::pipeline::pattern::Pattern::parse(&p)
                    .map_err(|e| ParseError::at(self.src, pos, e))?;
                Ok(Stage::Pattern(p))
            }
            "unpack" => {
                self.next();
                Ok(Stage::Unpack)
            }
            "decolorize" => {
                self.next();
                Ok(Stage::Decolorize)
            }
            "line_format" => {
                self.next();
                let t = self.expect_str()?;
                Template::parse(&t).map_err(|e| ParseError::at(self.src, pos, e))?;
                Ok(Stage::LineFormat(t))
            }
            "label_format" => {
                self.next();
                let mut ops = Vec::new();
                loop {
                    let dst = self.expect_ident()?;
                    self.expect_sym("=")?;
                    let op = match self.peek().clone() {
                        Tok::Ident(src) => {
                            self.next();
                            LabelFmt::Rename { dst, src }
                        }
                        Tok::Str(t) => {
                            let tpos = self.pos();
                            self.next();
                            Template::parse(&t).map_err(|e| ParseError::at(self.src, tpos, e))?;
                            LabelFmt::Template { dst, template: t }
                        }
                        _ => return Err(self.unexpected()),
                    };
                    let name = match &op {
                        LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => dst,
                    };
                    if ops.iter().any(|o: &LabelFmt| match o {
                        LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => {
                            dst == name
                        }
                    }) {
                        return Err(ParseError::at(
                            self.src,
                            pos,
                            format!("multiple label name '{name}' not allowed in a single format operation"),
                        ));
                    }
                    ops.push(op);
                    if self.eat_sym(",") {
                        continue;
                    }
                    break;
                }
                Ok(Stage::LabelFormat(ops))
            }
            "drop" | "keep" => {
                self.next();
                let mut items = Vec::new();
                loop {
                    let name = self.expect_ident()?;
                    let matcher = match self.peek() {
                        Tok::Sym(op @ ("=" | "!=" | "=~" | "!~")) => {
                            let op = *op;
                            let mpos = self.pos();
                            self.next();
                            let v = self.expect_str()?;
                            Some(
                                Matcher::from_op(name.clone(), op, &v)
                                    .map_err(|e| ParseError::at(self.src, mpos, e.to_string()))?,
                            )
                        }
                        _ => None,
                    };
                    items.push(NamedMatcher { name, matcher });
                    if self.eat_sym(",") {
                        continue;
                    }
                    break;
                }
                Ok(if name == "drop" {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                })
            }
            _ => Ok(Stage::LabelFilter(self.parse_label_filter()?)),
        }
    }

    /// `a="x.y", b` after json/logfmt.
    fn parse_extraction_params(&mut self, json: bool) -> Result<Vec<(String, String)>, ParseError> {
        let mut params = Vec::new();
        while let Tok::Ident(name) = self.peek().clone() {
            // Not a parameter: the start of something else (no `|` in between is
            // impossible in the grammar, so an identifier here is a parameter).
            self.next();
            let expr = if self.eat_sym("=") {
                let pos = self.pos();
                let e = self.expect_str()?;
                if json {
                    crate::pipeline::json::JsonPath::parse(&e)
                        .map_err(|m| ParseError::at(self.src, pos, m))?;
                }
                e
            } else {
                name.clone()
            };
            params.push((name, expr));
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(params)
    }

    // ---- label filters ----

    fn parse_label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.parse_label_filter_and()?;
        while self.is_ident("or") {
            self.next();
            let rhs = self.parse_label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn parse_label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.parse_label_filter_primary()?;
        loop {
            if self.is_sym(",") || self.is_ident("and") {
                self.next();
            } else if self.is_sym("(")
                || matches!(self.peek(), Tok::Ident(s) if s != "or" && s != "and" && s != "offset")
            {
                // Juxtaposition means `and`.
            } else {
                return Ok(lhs);
            }
            let rhs = self.parse_label_filter_primary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
    }

    fn parse_label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.eat_sym("(") {
            let f = self.parse_label_filter()?;
            self.expect_sym(")")?;
            return Ok(f);
        }
        let name = self.expect_ident()?;
        let op_pos = self.pos();
        let op = match self.peek() {
            Tok::Sym(s) if is_filter_op(s) => *s,
            _ => return Err(self.unexpected()),
        };
        self.next();
        let cmp = match op {
            "=" => Some(CmpOp::Eq),
            "==" => Some(CmpOp::EqEq),
            "!=" => Some(CmpOp::Ne),
            ">" => Some(CmpOp::Gt),
            ">=" => Some(CmpOp::Ge),
            "<" => Some(CmpOp::Lt),
            "<=" => Some(CmpOp::Le),
            _ => None,
        };
        match self.peek().clone() {
            Tok::Str(s) => {
                if !matches!(op, "=" | "!=" | "=~" | "!~") {
                    return Err(self.unexpected());
                }
                self.next();
                let m = if matches!(op, "=~" | "!~") {
                    compile_regex(&s).map_err(|e| ParseError::at(self.src, op_pos, e))?;
                    Matcher::from_op(name, op, &s)
                        .map_err(|e| ParseError::at(self.src, op_pos, e.to_string()))?
                } else {
                    Matcher::from_op(name, op, &s)
                        .map_err(|e| ParseError::at(self.src, op_pos, e.to_string()))?
                };
                Ok(LabelFilter::String(m))
            }
            Tok::Ident(ip) if ip == "ip" => {
                if !matches!(op, "=" | "!=") {
                    return Err(self.unexpected());
                }
                self.next();
                self.expect_sym("(")?;
                let pos = self.pos();
                let pattern = self.expect_str()?;
                self.expect_sym(")")?;
                IpPattern::parse(&pattern).map_err(|e| ParseError::at(self.src, pos, e))?;
                Ok(LabelFilter::Ip {
                    name,
                    negate: op == "!=",
                    pattern,
                })
            }
            _ => {
                let Some(cmp) = cmp else {
                    return Err(self.unexpected());
                };
                let neg = if self.is_sym("-") {
                    self.next();
                    true
                } else {
                    false
                };
                match self.next() {
                    Tok::Number(v) => Ok(LabelFilter::Number {
                        name,
                        op: cmp,
                        value: if neg { -v } else { v },
                    }),
                    Tok::Duration(v) => Ok(LabelFilter::Duration {
                        name,
                        op: cmp,
                        value: if neg { -v } else { v },
                    }),
                    Tok::Bytes(v) if !neg => Ok(LabelFilter::Bytes {
                        name,
                        op: cmp,
                        value: v,
                    }),
                    _ => {
                        self.i -= 1;
                        Err(self.unexpected())
                    }
                }
            }
        }
    }
}

fn is_filter_op(s: &str) -> bool {
    matches!(s, "=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<=")
}

impl LineFilterOp {
    fn as_str_pub(self) -> &'static str {
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

/// Loki's rules on which range functions take `unwrap` and grouping.
fn validate_range_agg(
    op: RangeOp,
    range: &LogRange,
    grouping: Option<&Grouping>,
) -> Result<(), String> {
    use RangeOp::*;
    if grouping.is_some()
        && !matches!(
            op,
            Avg | Stddev | Stdvar | Quantile | Max | Min | First | Last
        )
    {
        return Err(format!(
            "grouping not allowed for {} aggregation",
            op.name()
        ));
    }
    if range.unwrap.is_some() {
        return match op {
            Avg | Sum | Max | Min | Stddev | Stdvar | Quantile | Rate | RateCounter | Absent
            | First | Last => Ok(()),
            _ => Err(format!("invalid aggregation {} with unwrap", op.name())),
        };
    }
    match op {
        Bytes | BytesRate | Count | Rate | Absent => Ok(()),
        _ => Err(format!("invalid aggregation {} without unwrap", op.name())),
    }
}

#[cfg(test)]
mod tests;
