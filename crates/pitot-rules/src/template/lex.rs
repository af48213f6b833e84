//! Splits template text into literal text and `{{ … }}` actions, and actions into
//! tokens, with Go's trim markers (`{{-`, `-}}`) and comments.

use super::TemplateError;

/// A piece of template source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// Literal text, copied to the output.
    Text(String),
    /// The tokens of one action.
    Action(Vec<Tok>),
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A function name or keyword.
    Ident(String),
    /// `.Name` (one field step); a lone `.` is `Dot`.
    Field(String),
    /// The current value `.`.
    Dot,
    /// `$name` or `$`.
    Var(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number literal: integer when it has no `.`/exponent.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `|`.
    Pipe,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
}

/// Splits `src` into text and actions.
pub(crate) fn split(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items: Vec<Item> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut items, rest, trim_next);
            break;
        };
        let mut text = &rest[..open];
        let mut body_start = open + 2;
        let bytes = rest.as_bytes();
        if rest[body_start..].starts_with('-')
            && bytes
                .get(body_start + 1)
                .is_some_and(|b| b.is_ascii_whitespace())
        {
            text = text.trim_end();
            body_start += 1;
        }
        push_text(&mut items, text, trim_next);
        let close = find_close(&rest[body_start..])
            .ok_or_else(|| TemplateError::new("unclosed action"))?
            + body_start;
        let mut body = &rest[body_start..close];
        trim_next = false;
        if body.ends_with('-') && body[..body.len() - 1].ends_with(|c: char| c.is_whitespace()) {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        rest = &rest[close + 2..];
        let t = body.trim();
        if t.starts_with("/*") {
            if !t.ends_with("*/") {
                return Err(TemplateError::new("unclosed comment"));
            }
            continue;
        }
        items.push(Item::Action(tokens(body)?));
    }
    Ok(items)
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool) {
    let text = if trim_start { text.trim_start() } else { text };
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
}

/// Position of the `}}` that closes an action, skipping quoted strings.
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

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn tokens(body: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && is_ident_char(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '$' => {
                i += 1;
                out.push(Tok::Var(format!("${}", word(&mut i))));
            }
            '.' if chars
                .get(i + 1)
                .is_some_and(|c| c.is_alphabetic() || *c == '_') =>
            {
                i += 1;
                out.push(Tok::Field(word(&mut i)));
            }
            '.' if !chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                out.push(Tok::Dot);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(TemplateError::new("unterminated quoted string"));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().unwrap_or('\\');
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or_else(|| TemplateError::new("unterminated raw quoted string"))?;
                out.push(Tok::Str(chars[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(number(&text)?);
            }
            c if is_ident_char(c) => out.push(Tok::Ident(word(&mut i))),
            c => return Err(TemplateError::new(format!("unexpected {c:?} in command"))),
        }
    }
    Ok(out)
}

fn number(text: &str) -> Result<Tok, TemplateError> {
    let bad = || TemplateError::new(format!("bad number syntax: {text:?}"));
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let v = i64::from_str_radix(hex, 16).map_err(|_| bad())?;
        return Ok(Tok::Int(if neg { -v } else { v }));
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Tok::Int(v));
    }
    text.parse::<f64>().map(Tok::Float).map_err(|_| bad())
}
