//! A subset of Go's `text/template` for `line_format` and `label_format`: text,
//! `{{ pipeline }}` actions with `|` chaining, `if`/`else if`/`else`/`end`, `with`,
//! whitespace trimming (`{{-`/`-}}`), comments, parenthesised sub-pipelines, and the
//! functions of Loki's template function list.
//!
//! Templates are parsed once per query; executing one allocates only its output, and
//! every execution is metered by a [`TemplateBudget`] under
//! [`TemplateLimits::LOGQL_LINE`]: a template that would build too much, call too many
//! functions or nest too deeply fails for that line (`__error__="TemplateFormatErr"`,
//! as any template error does in Loki) before it allocates. Parsing refuses nesting
//! deeper than [`MAX_TEMPLATE_PARSE_DEPTH`], so no input overflows the stack.

use std::fmt::Write as _;

use chrono::{DateTime, TimeZone, Utc};
use pitot_core::{
    TemplateBudget, TemplateBudgetError, TemplateLimits, GO_FMT_MAX_WIDTH, MAX_TEMPLATE_PARSE_DEPTH,
};

use crate::units::{parse_bytes, parse_go_duration, parse_go_float};

/// What a template can read: labels, the line and its timestamp.
pub trait TemplateData {
    /// The value of a label, if present.
    fn label(&self, name: &str) -> Option<&str>;
    /// The current line (`__line__`).
    fn line(&self) -> &str;
    /// The entry timestamp in nanoseconds (`__timestamp__`).
    fn timestamp(&self) -> i64;
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipe {
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Pipe),
}

/// A runtime value.
#[derive(Debug, Clone)]
enum V {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Time(i64),
    Dot,
    List(Vec<V>),
}

impl V {
    fn truthy(&self) -> bool {
        match self {
            V::Str(s) => !s.is_empty(),
            V::Int(i) => *i != 0,
            V::Float(f) => *f != 0.0,
            V::Bool(b) => *b,
            V::Nil => false,
            V::Time(_) | V::Dot => true,
            V::List(l) => !l.is_empty(),
        }
    }

    /// Writes the value to `out`, charging its bytes to `b` (a string before it is
    /// copied, a number or a list element as it is written).
    fn render(
        &self,
        data: &dyn TemplateData,
        out: &mut String,
        b: &mut TemplateBudget,
    ) -> Result<(), String> {
        if let V::Str(s) = self {
            b.charge_bytes(s.len()).map_err(terr)?;
            out.push_str(s);
            return Ok(());
        }
        if let V::List(l) = self {
            b.charge_bytes(2).map_err(terr)?;
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    b.charge_bytes(1).map_err(terr)?;
                    out.push(' ');
                }
                v.render(data, out, b)?;
            }
            out.push(']');
            return Ok(());
        }
        let start = out.len();
        self.render_unmetered(data, out);
        b.charge_bytes(out.len() - start).map_err(terr)
    }

    /// Writes the value to `out` without a budget: for copies of values whose size is
    /// already bounded by the template's input (arguments converted to text).
    fn render_unmetered(&self, data: &dyn TemplateData, out: &mut String) {
        match self {
            V::Str(s) => out.push_str(s),
            V::Int(i) => {
                let _ = write!(out, "{i}");
            }
            V::Float(f) => out.push_str(&go_float(*f)),
            V::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            V::Nil => out.push_str("<no value>"),
            V::Time(ns) => out.push_str(&go_time_string(*ns)),
            V::Dot => {
                let _ = data;
                out.push_str("map[]");
            }
            V::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.render_unmetered(data, out);
                }
                out.push(']');
            }
        }
    }

    fn to_string_value(&self, data: &dyn TemplateData) -> String {
        let mut s = String::new();
        self.render_unmetered(data, &mut s);
        s
    }

    fn to_f64(&self) -> f64 {
        match self {
            V::Int(i) => *i as f64,
            V::Float(f) => *f,
            V::Str(s) => parse_go_float(s.trim()).unwrap_or(0.0),
            V::Bool(b) => f64::from(u8::from(*b)),
            V::Time(ns) => *ns as f64 / 1e9,
            _ => 0.0,
        }
    }

    fn to_i64(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            V::Float(f) => *f as i64,
            V::Str(s) => s.trim().parse::<i64>().unwrap_or(0),
            V::Bool(b) => i64::from(*b),
            V::Time(ns) => *ns / 1_000_000_000,
            _ => 0,
        }
    }
}

/// Formats a float as Go's `%v` does (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

fn go_time_string(ns: i64) -> String {
    let t = Utc.timestamp_nanos(ns);
    let frac = t.timestamp_subsec_nanos();
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// The template is plain text (no actions): executing it is a copy.
    literal: Option<String>,
}

const FUNCS: &[&str] = &[
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "default",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urlencode",
    "urldecode",
    "b64enc",
    "b64dec",
    "alignLeft",
    "alignRight",
    "bytes",
    "duration",
    "duration_seconds",
    "printf",
    "print",
    "println",
    "len",
    "index",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "toDate",
    "toDateInZone",
    "date",
    "now",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "unixToTime",
    "__line__",
    "__timestamp__",
    "add",
    "addf",
    "sub",
    "subf",
    "mul",
    "mulf",
    "div",
    "divf",
    "mod",
    "max",
    "maxf",
    "min",
    "minf",
    "ceil",
    "floor",
    "round",
    "int",
    "float64",
    "fromJson",
];

struct TParser<'a> {
    src: &'a str,
    pos: usize,
    /// Blocks (`if`, `with`) open around the current position.
    depth: usize,
}

fn terr(msg: impl std::fmt::Display) -> String {
    format!("template: line:1: {msg}")
}

impl Template {
    /// Parses a template; errors read like Go's (`function "x" not defined`).
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut p = TParser {
            src,
            pos: 0,
            depth: 0,
        };
        let (nodes, end) = p.parse_list()?;
        if let Some(kw) = end {
            return Err(terr(format!("unexpected {{{{{kw}}}}}")));
        }
        let literal = match nodes.as_slice() {
            [] => Some(String::new()),
            [Node::Text(t)] => Some(t.clone()),
            _ => None,
        };
        Ok(Template { nodes, literal })
    }

    /// Renders into `out` (cleared first) under a fresh budget of
    /// [`TemplateLimits::LOGQL_LINE`]; a budget error reads `template: line:1:
    /// template-output-too-large: ...` like any other template error.
    pub fn execute(&self, data: &dyn TemplateData, out: &mut String) -> Result<(), String> {
        self.execute_with(
            data,
            out,
            &mut TemplateBudget::new(TemplateLimits::LOGQL_LINE),
        )
    }

    /// Renders into `out` (cleared first), charging `budget`.
    pub fn execute_with(
        &self,
        data: &dyn TemplateData,
        out: &mut String,
        budget: &mut TemplateBudget,
    ) -> Result<(), String> {
        out.clear();
        if let Some(l) = &self.literal {
            budget.charge_bytes(l.len()).map_err(terr)?;
            out.push_str(l);
            return Ok(());
        }
        exec_nodes(&self.nodes, data, None, out, budget)
    }

    /// Labels the template reads with `.name`.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk_pipe(p: &Pipe, out: &mut Vec<String>) {
            for c in &p.cmds {
                for a in c {
                    match a {
                        Arg::Field(f) => out.push(f[0].clone()),
                        Arg::Sub(p) => walk_pipe(p, out),
                        _ => {}
                    }
                }
            }
        }
        fn walk(nodes: &[Node], out: &mut Vec<String>) {
            for n in nodes {
                match n {
                    Node::Text(_) => {}
                    Node::Action(p) => walk_pipe(p, out),
                    Node::If {
                        branches,
                        otherwise,
                    } => {
                        for (p, b) in branches {
                            walk_pipe(p, out);
                            walk(b, out);
                        }
                        walk(otherwise, out);
                    }
                    Node::With {
                        pipe,
                        body,
                        otherwise,
                    } => {
                        walk_pipe(pipe, out);
                        walk(body, out);
                        walk(otherwise, out);
                    }
                }
            }
        }
        walk(&self.nodes, &mut out);
        out
    }
}

impl TParser<'_> {
    /// Parses nodes until EOF or a control keyword (`else`, `end`, `else if ...`),
    /// returning the keyword action text.
    fn parse_list(&mut self) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_string()));
                }
                self.pos = self.src.len();
                return Ok((nodes, None));
            };
            let mut text = rest[..open].to_string();
            let mut inner_start = self.pos + open + 2;
            if self.src[inner_start..].starts_with("- ")
                || self.src[inner_start..].starts_with("-\t")
                || self.src[inner_start..].starts_with("-\n")
            {
                text = text.trim_end().to_string();
                inner_start += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            let Some(close_rel) = find_close(&self.src[inner_start..]) else {
                return Err(terr("unclosed action"));
            };
            let mut inner = &self.src[inner_start..inner_start + close_rel];
            let mut after = inner_start + close_rel + 2;
            let mut trim_right = false;
            if inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-") {
                inner = &inner[..inner.len() - 1];
                trim_right = true;
            }
            if trim_right {
                let rest = &self.src[after..];
                after += rest.len() - rest.trim_start().len();
            }
            self.pos = after;
            let inner = inner.trim();
            if inner.starts_with("/*") {
                if !inner.ends_with("*/") {
                    return Err(terr("unclosed comment"));
                }
                continue;
            }
            let (kw, rest_kw) = match inner.split_once(char::is_whitespace) {
                Some((a, b)) => (a, b.trim()),
                None => (inner, ""),
            };
            if matches!(kw, "if" | "with") {
                self.depth += 1;
                if self.depth > MAX_TEMPLATE_PARSE_DEPTH {
                    return Err(terr(format!(
                        "blocks nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
                    )));
                }
            }
            match kw {
                "end" | "else" => return Ok((nodes, Some(inner.to_string()))),
                "if" => {
                    let mut branches = Vec::new();
                    let mut cond = parse_pipe(rest_kw)?;
                    let mut otherwise = Vec::new();
                    loop {
                        let (body, end) = self.parse_list()?;
                        branches.push((cond, body));
                        let end = end.ok_or_else(|| terr("unexpected EOF"))?;
                        if end == "end" {
                            break;
                        }
                        if end == "else" {
                            let (body, end) = self.parse_list()?;
                            otherwise = body;
                            if end.as_deref() != Some("end") {
                                return Err(terr("expected end; found EOF"));
                            }
                            break;
                        }
                        if let Some(c) = end.strip_prefix("else if ") {
                            cond = parse_pipe(c.trim())?;
                            continue;
                        }
                        return Err(terr(format!("unexpected {{{{{end}}}}}")));
                    }
                    self.depth -= 1;
                    nodes.push(Node::If {
                        branches,
                        otherwise,
                    });
                }
                "with" => {
                    let pipe = parse_pipe(rest_kw)?;
                    let (body, end) = self.parse_list()?;
                    let mut otherwise = Vec::new();
                    match end.as_deref() {
                        Some("end") => {}
                        Some("else") => {
                            let (b, end) = self.parse_list()?;
                            otherwise = b;
                            if end.as_deref() != Some("end") {
                                return Err(terr("expected end"));
                            }
                        }
                        _ => return Err(terr("unexpected EOF")),
                    }
                    self.depth -= 1;
                    nodes.push(Node::With {
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "range" | "template" | "define" | "block" | "break" | "continue" => {
                    return Err(terr(format!("{kw} is not supported")));
                }
                _ => {
                    if inner.is_empty() {
                        return Err(terr("missing value for command"));
                    }
                    nodes.push(Node::Action(parse_pipe(inner)?));
                }
            }
        }
    }
}

/// Finds `}}` outside of string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_pipe(s: &str) -> Result<Pipe, String> {
    let toks = tokenize(s)?;
    let mut i = 0;
    let pipe = parse_pipe_toks(&toks, &mut i, 0)?;
    if i != toks.len() {
        return Err(terr(format!("unexpected {:?} in command", toks[i])));
    }
    Ok(pipe)
}

#[derive(Debug, Clone, PartialEq)]
enum TTok {
    Word(String),
    Str(String),
    Open,
    Close,
    Bar,
}

fn tokenize(s: &str) -> Result<Vec<TTok>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                out.push(TTok::Open);
            }
            ')' => {
                chars.next();
                out.push(TTok::Close);
            }
            '|' => {
                chars.next();
                out.push(TTok::Bar);
            }
            '"' => {
                chars.next();
                let mut v = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            let Some((_, e)) = chars.next() else { break };
                            match e {
                                'n' => v.push('\n'),
                                't' => v.push('\t'),
                                'r' => v.push('\r'),
                                'a' => v.push('\x07'),
                                'b' => v.push('\x08'),
                                'f' => v.push('\x0c'),
                                'v' => v.push('\x0b'),
                                '\\' => v.push('\\'),
                                '"' => v.push('"'),
                                '\'' => v.push('\''),
                                'x' | 'u' | 'U' => {
                                    let n = match e {
                                        'x' => 2,
                                        'u' => 4,
                                        _ => 8,
                                    };
                                    let mut code = 0u32;
                                    for _ in 0..n {
                                        let d = chars
                                            .next()
                                            .and_then(|(_, h)| h.to_digit(16))
                                            .ok_or_else(|| terr("invalid syntax"))?;
                                        code = code * 16 + d;
                                    }
                                    v.push(
                                        char::from_u32(code)
                                            .ok_or_else(|| terr("invalid syntax"))?,
                                    );
                                }
                                other => return Err(terr(format!("invalid syntax: \\{other}"))),
                            }
                        }
                        c => v.push(c),
                    }
                }
                if !closed {
                    return Err(terr("unterminated quoted string"));
                }
                out.push(TTok::Str(v));
            }
            '`' => {
                chars.next();
                let mut v = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '`' {
                        closed = true;
                        break;
                    }
                    v.push(c);
                }
                if !closed {
                    return Err(terr("unterminated raw quoted string"));
                }
                out.push(TTok::Str(v));
            }
            _ => {
                let start = i;
                let mut end = s.len();
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '|' | '"' | '`') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(TTok::Word(s[start..end].to_string()));
            }
        }
    }
    Ok(out)
}

fn parse_pipe_toks(toks: &[TTok], i: &mut usize, depth: usize) -> Result<Pipe, String> {
    if depth > MAX_TEMPLATE_PARSE_DEPTH {
        return Err(terr(format!(
            "parentheses nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
        )));
    }
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    while *i < toks.len() {
        match &toks[*i] {
            TTok::Close => break,
            TTok::Bar => {
                if cmd.is_empty() {
                    return Err(terr("missing command"));
                }
                cmds.push(std::mem::take(&mut cmd));
                *i += 1;
            }
            TTok::Open => {
                *i += 1;
                let sub = parse_pipe_toks(toks, i, depth + 1)?;
                if toks.get(*i) != Some(&TTok::Close) {
                    return Err(terr("unclosed left paren"));
                }
                *i += 1;
                cmd.push(Arg::Sub(sub));
            }
            TTok::Str(s) => {
                cmd.push(Arg::Str(s.clone()));
                *i += 1;
            }
            TTok::Word(w) => {
                cmd.push(parse_word(w)?);
                *i += 1;
            }
        }
    }
    if cmd.is_empty() {
        return Err(terr("missing value for command"));
    }
    cmds.push(cmd);
    Ok(Pipe { cmds })
}

fn parse_word(w: &str) -> Result<Arg, String> {
    if w == "." {
        return Ok(Arg::Dot);
    }
    if let Some(rest) = w.strip_prefix('.') {
        return Ok(Arg::Field(rest.split('.').map(str::to_string).collect()));
    }
    match w {
        "true" => return Ok(Arg::Bool(true)),
        "false" => return Ok(Arg::Bool(false)),
        "nil" => return Ok(Arg::Nil),
        _ => {}
    }
    let first = w.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() || first == '-' || first == '+' || first == '.' {
        if let Ok(i) = w.parse::<i64>() {
            return Ok(Arg::Int(i));
        }
        if let Ok(f) = w.parse::<f64>() {
            return Ok(Arg::Float(f));
        }
        return Err(terr(format!("bad number syntax: {w:?}")));
    }
    if first == '$' {
        return Err(terr(format!("undefined variable {w:?}")));
    }
    if FUNCS.contains(&w) {
        return Ok(Arg::Func(w.to_string()));
    }
    Err(terr(format!("function {w:?} not defined")))
}

fn exec_nodes(
    nodes: &[Node],
    data: &dyn TemplateData,
    dot: Option<&V>,
    out: &mut String,
    b: &mut TemplateBudget,
) -> Result<(), String> {
    b.enter().map_err(terr)?;
    let done = exec_nodes_in(nodes, data, dot, out, b);
    b.leave();
    done
}

fn exec_nodes_in(
    nodes: &[Node],
    data: &dyn TemplateData,
    dot: Option<&V>,
    out: &mut String,
    b: &mut TemplateBudget,
) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => {
                b.charge_bytes(t.len()).map_err(terr)?;
                out.push_str(t);
            }
            Node::Action(p) => {
                let v = eval_pipe(p, data, dot, b)?;
                v.render(data, out, b)?;
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipe(cond, data, dot, b)?.truthy() {
                        exec_nodes(body, data, dot, out, b)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec_nodes(otherwise, data, dot, out, b)?;
                }
            }
            Node::With {
                pipe,
                body,
                otherwise,
            } => {
                let v = eval_pipe(pipe, data, dot, b)?;
                if v.truthy() {
                    exec_nodes(body, data, Some(&v), out, b)?;
                } else {
                    exec_nodes(otherwise, data, dot, out, b)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipe(
    p: &Pipe,
    data: &dyn TemplateData,
    dot: Option<&V>,
    b: &mut TemplateBudget,
) -> Result<V, String> {
    b.enter().map_err(terr)?;
    let mut prev: Option<V> = None;
    for cmd in &p.cmds {
        match eval_cmd(cmd, data, dot, prev, b) {
            Ok(v) => prev = Some(v),
            Err(e) => {
                b.leave();
                return Err(e);
            }
        }
    }
    b.leave();
    Ok(prev.unwrap_or(V::Nil))
}

fn eval_arg(
    a: &Arg,
    data: &dyn TemplateData,
    dot: Option<&V>,
    b: &mut TemplateBudget,
) -> Result<V, String> {
    Ok(match a {
        Arg::Field(path) => {
            if let Some(d) = dot {
                if !matches!(d, V::Dot) {
                    return Err(terr(format!("can't evaluate field {}", path[0])));
                }
            }
            if path.len() > 1 {
                return Err(terr(format!(
                    "can't evaluate field {} in type string",
                    path[1]
                )));
            }
            V::Str(data.label(&path[0]).unwrap_or("").to_string())
        }
        Arg::Dot => dot.cloned().unwrap_or(V::Dot),
        Arg::Str(s) => V::Str(s.clone()),
        Arg::Int(i) => V::Int(*i),
        Arg::Float(f) => V::Float(*f),
        Arg::Bool(b) => V::Bool(*b),
        Arg::Nil => V::Nil,
        Arg::Func(name) => call(name, vec![], data, b)?,
        Arg::Sub(p) => eval_pipe(p, data, dot, b)?,
    })
}

fn eval_cmd(
    cmd: &[Arg],
    data: &dyn TemplateData,
    dot: Option<&V>,
    piped: Option<V>,
    b: &mut TemplateBudget,
) -> Result<V, String> {
    if let Arg::Func(name) = &cmd[0] {
        // `and`/`or` short-circuit in Go; evaluating all is equivalent without side effects.
        let mut args = Vec::with_capacity(cmd.len());
        for a in &cmd[1..] {
            args.push(eval_arg(a, data, dot, b)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        return call(name, args, data, b);
    }
    if cmd.len() > 1 || piped.is_some() {
        return Err(terr("can't give argument to non-function"));
    }
    eval_arg(&cmd[0], data, dot, b)
}

fn want(args: &[V], n: usize, name: &str) -> Result<(), String> {
    if args.len() != n {
        return Err(terr(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn cmp_values(a: &V, b: &V, data: &dyn TemplateData) -> Option<std::cmp::Ordering> {
    let numeric = |v: &V| matches!(v, V::Int(_) | V::Float(_));
    if numeric(a) && numeric(b) {
        return a.to_f64().partial_cmp(&b.to_f64());
    }
    if let (V::Bool(x), V::Bool(y)) = (a, b) {
        return x.partial_cmp(y);
    }
    Some(a.to_string_value(data).cmp(&b.to_string_value(data)))
}

/// Calls a function, charging the call and then the bytes of a string result (the
/// result of these functions is at most a small multiple of arguments already
/// charged). Functions whose output is not bounded by their arguments (`repeat`,
/// padding, `printf`, replacements) charge their size before building it and return
/// directly.
fn call(
    name: &str,
    args: Vec<V>,
    data: &dyn TemplateData,
    b: &mut TemplateBudget,
) -> Result<V, String> {
    b.charge_call().map_err(terr)?;
    let s = |i: usize| -> String {
        args.get(i)
            .map(|v| v.to_string_value(data))
            .unwrap_or_default()
    };
    let last = || {
        args.last()
            .map(|v| v.to_string_value(data))
            .unwrap_or_default()
    };
    let v = match name {
        "__line__" => V::Str(data.line().to_string()),
        "__timestamp__" => V::Time(data.timestamp()),
        "now" => V::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        ),
        "ToLower" | "lower" => {
            want(&args, 1, name)?;
            V::Str(s(0).to_lowercase())
        }
        "ToUpper" | "upper" => {
            want(&args, 1, name)?;
            V::Str(s(0).to_uppercase())
        }
        "title" => {
            want(&args, 1, name)?;
            let mut out = String::new();
            let mut prev_letter = false;
            for c in s(0).chars() {
                if !prev_letter && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
            }
            V::Str(out)
        }
        "TrimSpace" => {
            want(&args, 1, name)?;
            V::Str(s(0).trim().to_string())
        }
        "trim" => {
            want(&args, 1, name)?;
            V::Str(s(0).trim().to_string())
        }
        "Trim" => {
            want(&args, 2, name)?;
            let cut = s(1);
            V::Str(s(0).trim_matches(|c| cut.contains(c)).to_string())
        }
        "TrimLeft" => {
            want(&args, 2, name)?;
            let cut = s(1);
            V::Str(s(0).trim_start_matches(|c| cut.contains(c)).to_string())
        }
        "TrimRight" => {
            want(&args, 2, name)?;
            let cut = s(1);
            V::Str(s(0).trim_end_matches(|c| cut.contains(c)).to_string())
        }
        "trimAll" => {
            want(&args, 2, name)?;
            let cut = s(0);
            V::Str(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "TrimPrefix" => {
            want(&args, 2, name)?;
            let (v, p) = (s(0), s(1));
            V::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "TrimSuffix" => {
            want(&args, 2, name)?;
            let (v, p) = (s(0), s(1));
            V::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimPrefix" => {
            want(&args, 2, name)?;
            let (p, v) = (s(0), s(1));
            V::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimSuffix" => {
            want(&args, 2, name)?;
            let (p, v) = (s(0), s(1));
            V::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "Replace" => {
            want(&args, 4, name)?;
            let n = args[3].to_i64();
            let (src, old, new) = (s(0), s(1), s(2));
            let limit = usize::try_from(n).ok();
            charge_len(b, replaced_len(&src, &old, &new, limit))?;
            return Ok(V::Str(match limit {
                None => src.replace(&old, &new),
                Some(n) => src.replacen(&old, &new, n),
            }));
        }
        "replace" => {
            want(&args, 3, name)?;
            let (old, new, src) = (s(0), s(1), s(2));
            charge_len(b, replaced_len(&src, &old, &new, None))?;
            return Ok(V::Str(src.replace(&old, &new)));
        }
        "contains" => {
            want(&args, 2, name)?;
            V::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            want(&args, 2, name)?;
            V::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            want(&args, 2, name)?;
            V::Bool(s(1).ends_with(&s(0)))
        }
        "trunc" => {
            want(&args, 2, name)?;
            let n = args[0].to_i64();
            let v = s(1);
            let len = v.len() as i64;
            V::Str(if n >= 0 {
                v.get(..(n.min(len)) as usize).unwrap_or(&v).to_string()
            } else {
                v.get((len + n).max(0) as usize..).unwrap_or(&v).to_string()
            })
        }
        "substr" => {
            want(&args, 3, name)?;
            let (start, end) = (args[0].to_i64(), args[1].to_i64());
            let v = s(2);
            let len = v.len() as i64;
            let r = if start < 0 {
                v.get(..end.clamp(0, len) as usize)
            } else if end < 0 || end > len {
                v.get(start.min(len) as usize..)
            } else {
                v.get(start.min(end) as usize..end as usize)
            };
            V::Str(r.unwrap_or("").to_string())
        }
        "repeat" => {
            want(&args, 2, name)?;
            let n = usize::try_from(args[0].to_i64().max(0)).unwrap_or(usize::MAX);
            let unit = s(1);
            b.charge_repeat(unit.len(), n).map_err(terr)?;
            return Ok(V::Str(unit.repeat(n)));
        }
        "indent" | "nindent" => {
            want(&args, 2, name)?;
            let n = usize::try_from(args[0].to_i64().max(0)).unwrap_or(usize::MAX);
            let text = s(1);
            let lines = text.split('\n').count();
            // The pad, each line's copy of it, and the text twice (lines, then joined).
            let padded = n
                .checked_mul(lines + 1)
                .and_then(|p| p.checked_add(2 * text.len() + lines + 1));
            charge_len(b, padded)?;
            let pad = " ".repeat(n);
            let body = text
                .split('\n')
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            return Ok(V::Str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            }));
        }
        "default" => {
            want(&args, 2, name)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(&args, 3, name)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| terr(e.to_string()))?;
            let src = s(1);
            let repl = s(2);
            let literal = name == "regexReplaceAllLiteral";
            return Ok(V::Str(
                b.replace_all(&re, &src, &repl, literal).map_err(terr)?,
            ));
        }
        "count" => {
            want(&args, 2, name)?;
            let re = regex::Regex::new(&s(0)).map_err(|e| terr(e.to_string()))?;
            V::Int(re.find_iter(&s(1)).count() as i64)
        }
        "urlencode" => {
            want(&args, 1, name)?;
            let mut out = String::new();
            for b in s(0).bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    out.push(b as char);
                } else if b == b' ' {
                    out.push('+');
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            V::Str(out)
        }
        "urldecode" => {
            want(&args, 1, name)?;
            let v = s(0);
            let b = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < b.len() => {
                        let h = std::str::from_utf8(&b[i + 1..i + 3])
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                            .ok_or_else(|| terr("invalid URL escape"))?;
                        out.push(h);
                        i += 2;
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            V::Str(String::from_utf8_lossy(&out).into_owned())
        }
        "b64enc" => {
            want(&args, 1, name)?;
            V::Str(b64_encode(s(0).as_bytes()))
        }
        "b64dec" => {
            want(&args, 1, name)?;
            V::Str(b64_decode(&s(0)).unwrap_or_else(|e| e))
        }
        "alignLeft" | "alignRight" => {
            want(&args, 2, name)?;
            let n = usize::try_from(args[0].to_i64().max(0)).unwrap_or(usize::MAX);
            let v = s(1);
            let chars: Vec<char> = v.chars().collect();
            let pad = n.saturating_sub(chars.len());
            charge_len(b, pad.checked_add(v.len()))?;
            return Ok(V::Str(if chars.len() >= n {
                chars[..n].iter().collect()
            } else if name == "alignLeft" {
                format!("{v}{}", " ".repeat(n - chars.len()))
            } else {
                format!("{}{v}", " ".repeat(n - chars.len()))
            }));
        }
        "bytes" => {
            want(&args, 1, name)?;
            V::Float(parse_bytes(&s(0)).map_err(terr)? as f64)
        }
        "duration" | "duration_seconds" => {
            want(&args, 1, name)?;
            V::Float(parse_go_duration(&s(0)).map_err(terr)? as f64 / 1e9)
        }
        "printf" => {
            if args.is_empty() {
                return Err(terr("wrong number of args for printf"));
            }
            return Ok(V::Str(go_sprintf(&s(0), &args[1..], data, b)?));
        }
        "print" => {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, V::Str(_));
                let prev_str = i > 0 && matches!(args[i - 1], V::Str(_));
                if i > 0 && !is_str && !prev_str {
                    out.push(' ');
                }
                a.render_unmetered(data, &mut out);
            }
            V::Str(out)
        }
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| a.to_string_value(data)).collect();
            V::Str(format!("{}\n", parts.join(" ")))
        }
        "len" => {
            want(&args, 1, name)?;
            match &args[0] {
                V::List(l) => V::Int(l.len() as i64),
                v => V::Int(v.to_string_value(data).len() as i64),
            }
        }
        "index" => {
            if args.len() < 2 {
                return Err(terr("wrong number of args for index"));
            }
            match &args[0] {
                V::Dot => V::Str(data.label(&s(1)).unwrap_or("").to_string()),
                V::List(l) => l
                    .get(args[1].to_i64() as usize)
                    .cloned()
                    .ok_or_else(|| terr("index out of range"))?,
                _ => return Err(terr("can't index item")),
            }
        }
        "eq" => {
            if args.len() < 2 {
                return Err(terr("missing argument for comparison"));
            }
            V::Bool(
                args[1..]
                    .iter()
                    .any(|b| cmp_values(&args[0], b, data) == Some(std::cmp::Ordering::Equal)),
            )
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(&args, 2, name)?;
            let o = cmp_values(&args[0], &args[1], data);
            use std::cmp::Ordering::*;
            V::Bool(match name {
                "ne" => o != Some(Equal),
                "lt" => o == Some(Less),
                "le" => matches!(o, Some(Less | Equal)),
                "gt" => o == Some(Greater),
                _ => matches!(o, Some(Greater | Equal)),
            })
        }
        "and" => {
            if args.is_empty() {
                return Err(terr("wrong number of args for and"));
            }
            args.iter()
                .find(|a| !a.truthy())
                .cloned()
                .unwrap_or_else(|| args[args.len() - 1].clone())
        }
        "or" => {
            if args.is_empty() {
                return Err(terr("wrong number of args for or"));
            }
            args.iter()
                .find(|a| a.truthy())
                .cloned()
                .unwrap_or_else(|| args[args.len() - 1].clone())
        }
        "not" => {
            want(&args, 1, name)?;
            V::Bool(!args[0].truthy())
        }
        "add" => V::Int(args.iter().map(V::to_i64).fold(0, i64::wrapping_add)),
        "addf" => V::Float(args.iter().map(V::to_f64).sum()),
        "mul" => V::Int(args.iter().map(V::to_i64).fold(1, i64::wrapping_mul)),
        "mulf" => V::Float(args.iter().map(V::to_f64).product()),
        "sub" => {
            want(&args, 2, name)?;
            V::Int(args[0].to_i64().wrapping_sub(args[1].to_i64()))
        }
        "subf" => {
            if args.is_empty() {
                return Err(terr("wrong number of args for subf"));
            }
            V::Float(
                args[1..]
                    .iter()
                    .fold(args[0].to_f64(), |a, b| a - b.to_f64()),
            )
        }
        "div" => {
            want(&args, 2, name)?;
            let d = args[1].to_i64();
            if d == 0 {
                return Err(terr(
                    "error calling div: runtime error: integer divide by zero",
                ));
            }
            V::Int(args[0].to_i64().wrapping_div(d))
        }
        "divf" => {
            if args.is_empty() {
                return Err(terr("wrong number of args for divf"));
            }
            V::Float(
                args[1..]
                    .iter()
                    .fold(args[0].to_f64(), |a, b| a / b.to_f64()),
            )
        }
        "mod" => {
            want(&args, 2, name)?;
            let d = args[1].to_i64();
            if d == 0 {
                return Err(terr(
                    "error calling mod: runtime error: integer divide by zero",
                ));
            }
            V::Int(args[0].to_i64().wrapping_rem(d))
        }
        "max" => V::Int(args.iter().map(V::to_i64).max().unwrap_or(0)),
        "min" => V::Int(args.iter().map(V::to_i64).min().unwrap_or(0)),
        "maxf" => V::Float(args.iter().map(V::to_f64).fold(f64::NEG_INFINITY, f64::max)),
        "minf" => V::Float(args.iter().map(V::to_f64).fold(f64::INFINITY, f64::min)),
        "ceil" => {
            want(&args, 1, name)?;
            V::Float(args[0].to_f64().ceil())
        }
        "floor" => {
            want(&args, 1, name)?;
            V::Float(args[0].to_f64().floor())
        }
        "round" => {
            if args.len() < 2 {
                return Err(terr("wrong number of args for round"));
            }
            let v = args[0].to_f64();
            let p = args[1].to_i64() as i32;
            let round_on = args.get(2).map(V::to_f64).unwrap_or(0.5);
            let pow = 10f64.powi(p);
            let digit = pow * v;
            let (int, frac) = (digit.trunc(), digit.fract());
            let r = if frac.abs() >= round_on {
                int + frac.signum()
            } else {
                int
            };
            V::Float(r / pow)
        }
        "int" => {
            want(&args, 1, name)?;
            V::Int(match &args[0] {
                V::Str(s) => s
                    .trim()
                    .parse::<i64>()
                    .unwrap_or_else(|_| s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0)),
                v => v.to_i64(),
            })
        }
        "float64" => {
            want(&args, 1, name)?;
            V::Float(args[0].to_f64())
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want(&args, 1, name)?;
            let ns = match &args[0] {
                V::Time(ns) => *ns,
                _ => return Err(terr("wrong type for value; expected time.Time")),
            };
            V::Str(match name {
                "unixEpoch" => (ns.div_euclid(1_000_000_000)).to_string(),
                "unixEpochMillis" => (ns.div_euclid(1_000_000)).to_string(),
                _ => ns.to_string(),
            })
        }
        "unixToTime" => {
            want(&args, 1, name)?;
            let v = s(0);
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| terr(format!("invalid unix time {v:?}")))?;
            let ns = match v.trim().len() {
                0..=10 => n.wrapping_mul(1_000_000_000),
                11..=13 => n.wrapping_mul(1_000_000),
                14..=16 => n.wrapping_mul(1000),
                _ => n,
            };
            V::Time(ns)
        }
        "date" => {
            want(&args, 2, name)?;
            let ns = match &args[1] {
                V::Time(ns) => *ns,
                v => v.to_i64().wrapping_mul(1_000_000_000),
            };
            V::Str(go_format_time(&s(0), ns))
        }
        "toDate" | "toDateInZone" => {
            let (layout, value) = if name == "toDate" {
                want(&args, 2, name)?;
                (s(0), s(1))
            } else {
                want(&args, 3, name)?;
                (s(0), s(2))
            };
            V::Time(go_parse_time(&layout, &value).unwrap_or(i64::MIN / 4))
        }
        "fromJson" => {
            want(&args, 1, name)?;
            match serde_json::from_str::<serde_json::Value>(&s(0)) {
                Ok(v) => json_to_v(&v),
                Err(_) => V::Str(String::new()),
            }
        }
        _ => {
            let _ = last;
            return Err(terr(format!("function {name:?} not defined")));
        }
    };
    if let V::Str(s) = &v {
        b.charge_bytes(s.len()).map_err(terr)?;
    }
    Ok(v)
}

/// The length of `src` with `old` replaced by `new` at most `limit` times (every time
/// when `None`; an empty `old` matches before every character and at the end), or
/// `None` if it does not fit a `usize`.
fn replaced_len(src: &str, old: &str, new: &str, limit: Option<usize>) -> Option<usize> {
    let found = if old.is_empty() {
        src.chars().count() + 1
    } else {
        src.matches(old).count()
    };
    let k = limit.map_or(found, |l| l.min(found));
    (src.len() - k * old.len()).checked_add(k.checked_mul(new.len())?)
}

/// Charges a byte count that may not fit a `usize` (then it is over any budget).
fn charge_len(b: &mut TemplateBudget, len: Option<usize>) -> Result<(), String> {
    b.charge_bytes(len.unwrap_or(usize::MAX)).map_err(terr)
}

fn json_to_v(v: &serde_json::Value) -> V {
    match v {
        serde_json::Value::Null => V::Nil,
        serde_json::Value::Bool(b) => V::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(V::Int)
            .unwrap_or_else(|| V::Float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => V::Str(s.clone()),
        serde_json::Value::Array(a) => V::List(a.iter().map(json_to_v).collect()),
        serde_json::Value::Object(_) => V::Str(v.to_string()),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(input: &[u8]) -> String {
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(s: &str) -> Result<String, String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let v = B64
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {n}"))?;
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %X %t %c %%`
/// with flags `-`, `0`, `+`, width and precision. A width or precision is charged to
/// `b` before the padding or digits are built; one above [`GO_FMT_MAX_WIDTH`] (where Go
/// gives up with `%!(BADWIDTH)`) is refused as `template-output-too-large` whatever the
/// budget, since no line needs it and a template that asks for it is a bomb.
fn go_sprintf(
    fmt: &str,
    args: &[V],
    data: &dyn TemplateData,
    b: &mut TemplateBudget,
) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let width = fmt_number(&mut chars);
        let mut prec: Option<Option<usize>> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            prec = Some(fmt_number(&mut chars).or(Some(0)));
        }
        let prec = prec.flatten();
        if width.max(prec).is_some_and(|n| n > GO_FMT_MAX_WIDTH) {
            return Err(terr(TemplateBudgetError::OutputTooLarge {
                limit: b.limits().max_output_bytes,
            }));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        let mut s = match verb {
            's' | 'v' => {
                let mut v = arg.to_string_value(data);
                if let (Some(p), 's') = (prec, verb) {
                    v = v.chars().take(p).collect();
                }
                v
            }
            'q' => format!("{:?}", arg.to_string_value(data)),
            'd' => {
                let v = match arg {
                    V::Int(i) => *i,
                    V::Float(f) => *f as i64,
                    other => other.to_i64(),
                };
                if plus && v >= 0 {
                    format!("+{v}")
                } else {
                    v.to_string()
                }
            }
            'f' | 'F' => {
                let p = prec.unwrap_or(6);
                b.charge_bytes(p).map_err(terr)?;
                let v = fixed_precision(arg.to_f64(), p, false);
                if plus && !v.starts_with('-') {
                    format!("+{v}")
                } else {
                    v
                }
            }
            'e' => {
                let p = prec.unwrap_or(6);
                b.charge_bytes(p).map_err(terr)?;
                fixed_precision(arg.to_f64(), p, true)
            }
            'g' => go_float(arg.to_f64()),
            'x' => match arg {
                V::Int(i) => format!("{i:x}"),
                other => other
                    .to_string_value(data)
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            },
            'X' => match arg {
                V::Int(i) => format!("{i:X}"),
                other => other
                    .to_string_value(data)
                    .bytes()
                    .map(|b| format!("{b:02X}"))
                    .collect(),
            },
            't' => arg.truthy().to_string(),
            'c' => char::from_u32(arg.to_i64() as u32)
                .map(String::from)
                .unwrap_or_default(),
            other => format!("%!{other}({})", arg.to_string_value(data)),
        };
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                b.charge_bytes(pad).map_err(terr)?;
                if left {
                    s.push_str(&" ".repeat(pad));
                } else if zero && matches!(verb, 'd' | 'f' | 'F' | 's' | 'v') {
                    let (sign, digits) = if s.starts_with('-') || s.starts_with('+') {
                        s.split_at(1)
                    } else {
                        ("", s.as_str())
                    };
                    s = format!("{sign}{}{digits}", "0".repeat(pad));
                } else {
                    s = format!("{}{s}", " ".repeat(pad));
                }
            }
        }
        b.charge_bytes(s.len()).map_err(terr)?;
        out.push_str(&s);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| a.to_string_value(data))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    b.charge_bytes(out.len()).map_err(terr)?;
    Ok(out)
}

/// Reads a printf width or precision; `None` if there are no digits, `usize::MAX` if
/// the digits overflow (over [`GO_FMT_MAX_WIDTH`] either way).
fn fmt_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
        let so_far = n.unwrap_or(0);
        n = Some(
            so_far
                .checked_mul(10)
                .and_then(|v| v.checked_add(d as usize))
                .unwrap_or(usize::MAX),
        );
        chars.next();
    }
    n
}

/// The most fractional digits an `f64` can have that are not zero (its smallest
/// subnormal has 1074); Rust's formatter takes at most 65535, so longer precisions are
/// formatted to this and padded with the zeros that follow.
const F64_MAX_DIGITS: usize = 1100;

/// `v` with `prec` digits after the point (`%f`) or in the mantissa (`%e`), for any
/// precision up to [`GO_FMT_MAX_WIDTH`].
fn fixed_precision(v: f64, prec: usize, exp: bool) -> String {
    let p = prec.min(F64_MAX_DIGITS);
    let mut s = if exp {
        format!("{v:.p$e}")
    } else {
        format!("{v:.p$}")
    };
    let zeros = prec - p;
    if zeros > 0 && v.is_finite() {
        let at = if exp {
            s.find('e').unwrap_or(s.len())
        } else {
            s.len()
        };
        s.insert_str(at, &"0".repeat(zeros));
    }
    s
}

/// Go reference-time layout tokens and their strftime equivalents, longest first.
const LAYOUT: &[(&str, &str)] = &[
    ("2006", "%Y"),
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    ("Z0700", "%z"),
    (".000000000", "%.9f"),
    (".999999999", "%.f"),
    (".000000", "%.6f"),
    (".000", "%.3f"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("01", "%m"),
    ("02", "%d"),
    ("_2", "%e"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
    ("pm", "%P"),
    ("1", "%-m"),
    ("2", "%-d"),
    ("3", "%-I"),
    ("4", "%-M"),
    ("5", "%-S"),
];

fn go_layout_to_strftime(layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, sf) in LAYOUT {
            if rest.starts_with(go) {
                out.push_str(sf);
                rest = &rest[go.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn go_format_time(layout: &str, ns: i64) -> String {
    let t: DateTime<Utc> = Utc.timestamp_nanos(ns);
    let f = go_layout_to_strftime(layout);
    let mut out = String::new();
    if write!(out, "{}", t.format(&f)).is_err() {
        return layout.to_string();
    }
    out
}

fn go_parse_time(layout: &str, value: &str) -> Option<i64> {
    let f = go_layout_to_strftime(layout);
    if let Ok(t) = DateTime::parse_from_str(value, &f) {
        return t.timestamp_nanos_opt();
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, &f) {
        return t.and_utc().timestamp_nanos_opt();
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, &f) {
        return d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct D(Vec<(&'static str, &'static str)>);
    impl TemplateData for D {
        fn label(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn line(&self) -> &str {
            "the line"
        }
        fn timestamp(&self) -> i64 {
            1_700_000_000_000_000_000
        }
    }

    fn run(t: &str) -> String {
        let d = D(vec![("level", "error"), ("path", "/a b"), ("n", "3000")]);
        let mut out = String::new();
        Template::parse(t).unwrap().execute(&d, &mut out).unwrap();
        out
    }

    #[test]
    fn fields_pipes_functions() {
        assert_eq!(run("L={{.level}}"), "L=error");
        assert_eq!(run("{{.level | upper}}"), "ERROR");
        assert_eq!(run("{{ .missing }}x"), "x");
        assert_eq!(
            run(r#"{{ printf "\x1b[31m%s\x1b[0m" .level }}"#),
            "\x1b[31merror\x1b[0m"
        );
        assert_eq!(
            run(r#"{{ .path | replace " " "_" | trunc 3 | upper }}"#),
            "/A_"
        );
        assert_eq!(
            run(r#"{{ if eq .level "error" }}E{{ else }}O{{ end }}"#),
            "E"
        );
        assert_eq!(
            run(r#"{{ if contains "x" .level }}a{{ else if hasPrefix "er" .level }}b{{end}}"#),
            "b"
        );
        assert_eq!(run("{{ div .n 1000 }}"), "3");
        assert_eq!(run("{{ __line__ | upper }}"), "THE LINE");
        assert_eq!(run("{{ __timestamp__ | unixEpoch }}"), "1700000000");
        assert_eq!(
            run("{{ __timestamp__ | date \"2006-01-02\" }}"),
            "2023-11-14"
        );
        assert_eq!(run("a  {{- .level -}}  b"), "aerrorb");
        assert_eq!(run("{{/* c */}}x"), "x");
        assert_eq!(
            run(r#"{{ regexReplaceAll "(e)r" .level "${1}X" }}"#),
            "eXror"
        );
        assert_eq!(run("{{ addf 1.5 2 }}"), "3.5");
        assert_eq!(run(r#"{{ default "-" .missing }}"#), "-");
        assert_eq!(
            run(r#"{{ printf "%-5s|%05.1f" "ab" 3.14159 }}"#),
            "ab   |003.1"
        );
    }

    fn run_err(t: &str) -> String {
        let d = D(vec![("level", "error")]);
        let mut out = String::new();
        Template::parse(t)
            .unwrap()
            .execute(&d, &mut out)
            .unwrap_err()
    }

    #[test]
    fn bombs_fail_with_a_budget_reason_before_allocating() {
        for bomb in [
            r#"{{ repeat 100000000000000 "x" }}"#,
            r#"{{ repeat 9223372036854775807 "xy" }}"#,
            r#"{{ indent 100000000000000 "x" }}"#,
            r#"{{ alignLeft 100000000000000 "x" }}"#,
            r#"{{ printf "%1000000d" 1 }}"#,
            r#"{{ printf "%100000000000000d" 1 }}"#,
            r#"{{ printf "%.99999999999999999999999f" 1.5 }}"#,
            r#"{{ printf "%.1000000f" 1.5 }}"#,
            r#"{{ replace "" (repeat 5000 "y") (repeat 5000 "x") }}"#,
            r#"{{ Replace (repeat 5000 "x") "x" (repeat 5000 "y") -1 }}"#,
            r#"{{ regexReplaceAll "x" (repeat 5000 "x") "${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}${0}" }}"#,
        ] {
            let e = run_err(bomb);
            assert!(e.contains("template-output-too-large"), "{bomb}: {e}");
        }
        let many_calls = "{{ upper \"a\" }}".repeat(20_000);
        assert!(run_err(&many_calls).contains("template-too-many-calls"));
    }

    #[test]
    fn printf_width_and_precision_behave_like_go() {
        // Precisions above Rust's formatter limit (65535) are padded, not a panic.
        let long = run(r#"{{ printf "%.70000f" 1.5 }}"#);
        assert_eq!(long.len(), 70_002);
        assert!(long.starts_with("1.50") && long.ends_with('0'));
        let e = run(r#"{{ printf "%.70000e" 1.5 }}"#);
        assert!(e.starts_with("1.50") && e.ends_with("e0"), "{}", &e[..10]);
        assert_eq!(run(r#"{{ printf "%08.3f" 3.14159 }}"#), "0003.142");
    }

    #[test]
    fn arithmetic_edges_do_not_panic() {
        assert_eq!(
            run("{{ div -9223372036854775808 -1 }}"),
            "-9223372036854775808"
        );
        assert_eq!(run("{{ mod -9223372036854775808 -1 }}"), "0");
        assert_eq!(
            run("{{ add 9223372036854775807 1 }}"),
            "-9223372036854775808"
        );
        assert_eq!(run("{{ mul 9223372036854775807 2 }}"), "-2");
        assert_eq!(
            run("{{ sub -9223372036854775808 1 }}"),
            "9223372036854775807"
        );
        let _ = run("{{ unixToTime \"9223372036854\" }}");
        let _ = run("{{ date \"2006\" 9223372036854775807 }}");
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(Template::parse(&parens).unwrap_err().contains("nested"));
        let ifs = format!(
            "{}x{}",
            "{{ if 1 }}".repeat(100_000),
            "{{ end }}".repeat(100_000)
        );
        assert!(Template::parse(&ifs).unwrap_err().contains("nested"));
        let ok = format!("{{{{ {}1{} }}}}", "(".repeat(50), ")".repeat(50));
        assert_eq!(run(&ok), "1");
    }

    #[test]
    fn parse_errors_read_like_go() {
        assert!(Template::parse("{{ nosuchfunc }}")
            .unwrap_err()
            .contains("\"nosuchfunc\" not defined"));
        assert!(Template::parse("{{")
            .unwrap_err()
            .contains("unclosed action"));
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(3.5), "3.5");
    }
}
