//! Lexing and parsing of the template subset into a small tree.

use std::collections::HashMap;

use pitot_core::MAX_TEMPLATE_PARSE_DEPTH;

use crate::error::AmError;

/// One argument of a command.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.a.b` (empty path: the dot itself).
    Field(Vec<String>),
    /// `"text"`.
    Str(String),
    /// A number literal.
    Num(f64),
    /// `true`/`false`.
    Bool(bool),
    /// A function name.
    Func(String),
    /// `( pipeline )`, optionally followed by `.field`s.
    Paren(Pipeline, Vec<String>),
}

/// Commands separated by `|`; each command's value is the last argument of the next.
pub type Pipeline = Vec<Vec<Arg>>;

/// A parsed template node.
#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Print(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    Define(String, Vec<Node>),
    Template(String, Option<Pipeline>),
}

enum Token {
    Text(String),
    Action(String),
}

fn err(msg: impl Into<String>) -> AmError {
    AmError::Template(msg.into())
}

fn lex(src: &str) -> Result<Vec<Token>, AmError> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| err("unclosed action '{{'"))?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            text = text.trim_end();
            action = a;
        }
        trim_next_text = false;
        if let Some(a) = action.strip_suffix('-') {
            trim_next_text = true;
            action = a;
        }
        if !text.is_empty() {
            out.push(Token::Text(text.to_string()));
        }
        let action = action.trim();
        if !action.starts_with("/*") {
            out.push(Token::Action(action.to_string()));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    if !text.is_empty() {
        out.push(Token::Text(text.to_string()));
    }
    Ok(out)
}

/// Parses a template text into nodes.
pub fn parse(src: &str) -> Result<Vec<Node>, AmError> {
    let tokens = lex(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(&tokens, &mut pos, 0)?;
    match end {
        None => Ok(nodes),
        Some(e) => Err(err(format!("unexpected {{{{ {e} }}}}"))),
    }
}

/// Parses until `end`/`else` (returned) or the end of input; `depth` counts the blocks
/// around it, at most [`MAX_TEMPLATE_PARSE_DEPTH`], so no input overflows the stack.
fn parse_list(
    tokens: &[Token],
    pos: &mut usize,
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), AmError> {
    if depth > MAX_TEMPLATE_PARSE_DEPTH {
        return Err(err(format!(
            "blocks nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
        )));
    }
    let mut nodes = Vec::new();
    while *pos < tokens.len() {
        let tok = &tokens[*pos];
        *pos += 1;
        let action = match tok {
            Token::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Token::Action(a) => a.as_str(),
        };
        let (word, rest) = match action.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (action, ""),
        };
        match word {
            "end" | "else" => return Ok((nodes, Some(action.to_string()))),
            "if" | "range" => {
                let pipe = parse_pipeline(rest, 0)?;
                let (body, end) = parse_list(tokens, pos, depth + 1)?;
                let (else_body, end) = match end.as_deref() {
                    Some("else") => parse_list(tokens, pos, depth + 1)?,
                    _ => (Vec::new(), end),
                };
                if end.as_deref() != Some("end") {
                    return Err(err(format!("{{{{ {word} }}}} without {{{{ end }}}}")));
                }
                nodes.push(if word == "if" {
                    Node::If(pipe, body, else_body)
                } else {
                    Node::Range(pipe, body, else_body)
                });
            }
            "define" => {
                let name = parse_string(rest)?;
                let (body, end) = parse_list(tokens, pos, depth + 1)?;
                if end.as_deref() != Some("end") {
                    return Err(err(format!("define {name:?} without {{{{ end }}}}")));
                }
                nodes.push(Node::Define(name, body));
            }
            "template" => {
                let (name, after) = split_string(rest)?;
                let pipe = if after.trim().is_empty() {
                    None
                } else {
                    Some(parse_pipeline(after, 0)?)
                };
                nodes.push(Node::Template(name, pipe));
            }
            "with" | "block" | "break" | "continue" => {
                return Err(err(format!("{{{{ {word} }}}} is not supported")))
            }
            _ => nodes.push(Node::Print(parse_pipeline(action, 0)?)),
        }
    }
    Ok((nodes, None))
}

fn parse_string(s: &str) -> Result<String, AmError> {
    let (name, rest) = split_string(s)?;
    if !rest.trim().is_empty() {
        return Err(err(format!("unexpected {rest:?} after name")));
    }
    Ok(name)
}

/// Splits a leading `"quoted"` string from the rest.
fn split_string(s: &str) -> Result<(String, &str), AmError> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '`');
    let Some(q) = quote else {
        return Err(err(format!("expected a quoted name, got {s:?}")));
    };
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, &s[i + 2..]));
        }
        if c == '\\' && q == '"' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, o)) => out.push(o),
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    Err(err(format!("unterminated string in {s:?}")))
}

/// Parses `cmd | cmd | ...`; `depth` counts the parentheses around it.
fn parse_pipeline(s: &str, depth: usize) -> Result<Pipeline, AmError> {
    if depth > MAX_TEMPLATE_PARSE_DEPTH {
        return Err(err(format!(
            "parentheses nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
        )));
    }
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(err("empty pipeline"));
    }
    let mut pipeline = Vec::new();
    let mut cmd = Vec::new();
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c == '|' {
            if cmd.is_empty() {
                return Err(err(format!("missing command before '|' in {s:?}")));
            }
            pipeline.push(std::mem::take(&mut cmd));
            rest = rest[1..].trim_start();
            continue;
        }
        if c == '"' || c == '`' {
            let (text, after) = split_string(rest)?;
            cmd.push(Arg::Str(text));
            rest = after.trim_start();
            continue;
        }
        if c == '(' {
            let close =
                matching_paren(rest).ok_or_else(|| err(format!("unbalanced '(' in {s:?}")))?;
            let inner = parse_pipeline(&rest[1..close], depth + 1)?;
            rest = &rest[close + 1..];
            let (fields, after) = take_fields(rest);
            cmd.push(Arg::Paren(inner, fields));
            rest = after.trim_start();
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '|' || c == '(' || c == ')')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = rest[end..].trim_start();
        cmd.push(parse_word(word)?);
    }
    if cmd.is_empty() {
        return Err(err(format!("missing command after '|' in {s:?}")));
    }
    pipeline.push(cmd);
    Ok(pipeline)
}

fn take_fields(s: &str) -> (Vec<String>, &str) {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '|' || c == ')')
        .unwrap_or(s.len());
    let word = &s[..end];
    if !word.starts_with('.') {
        return (Vec::new(), s);
    }
    (
        word[1..].split('.').map(str::to_string).collect(),
        &s[end..],
    )
}

fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut in_str = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_word(word: &str) -> Result<Arg, AmError> {
    if word == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err(format!("bad field {word:?}")));
        }
        return Ok(Arg::Field(parts));
    }
    if word.starts_with('$') {
        return Err(err(format!("variables ({word}) are not supported")));
    }
    if word == "true" || word == "false" {
        return Ok(Arg::Bool(word == "true"));
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Arg::Num(n));
    }
    if super::eval::is_function(word) {
        return Ok(Arg::Func(word.to_string()));
    }
    Err(err(format!("function {word:?} not defined")))
}

/// Moves every `define` (at any depth of the top level) into the map.
pub fn collect_defines(nodes: &[Node], into: &mut HashMap<String, Vec<Node>>) {
    for n in nodes {
        if let Node::Define(name, body) = n {
            into.insert(name.clone(), body.clone());
        }
    }
}
