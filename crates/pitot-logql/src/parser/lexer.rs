//! Tokens of LogQL, with byte offsets for error positions.
//!
//! Numbers are classified here as Loki's lexer does: a digit run followed by a byte
//! unit is a bytes literal, followed by a duration unit a duration, otherwise a number
//! (so `1mb` lexes as the duration `1m` and an identifier `b`).

use crate::error::ParseError;
use crate::units::{parse_bytes, parse_query_duration, BYTES_LITERAL_UNITS};

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword.
    Ident(String),
    /// A string literal, unescaped.
    Str(String),
    /// A number.
    Number(f64),
    /// A duration literal in nanoseconds.
    Duration(i64),
    /// A bytes literal.
    Bytes(u64),
    /// `--strict`, `--keep-empty`.
    Flag(String),
    /// Punctuation and operators.
    Sym(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How Loki's parser names the token in `unexpected ...` messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => match s.as_str() {
                "ip" | "or" | "and" | "by" | "without" | "offset" | "bool" | "on" | "ignoring"
                | "unless" | "unwrap" => s.clone(),
                _ => "IDENTIFIER".into(),
            },
            Tok::Str(_) => "STRING".into(),
            Tok::Number(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Flag(f) => f.clone(),
            Tok::Sym(s) => (*s).into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the query.
    pub pos: usize,
}

const SYMBOLS: &[&str] = &[
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    "=", ">", "<", "|", "+", "-", "*", "/", "%", "^",
];

const DURATION_UNITS: &[&str] = &[
    "ns", "us", "\u{b5}s", "\u{3bc}s", "ms", "s", "m", "h", "d", "w", "y",
];

/// Splits a query into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c == b'"' {
            let (s, end) = lex_quoted(src, i)?;
            out.push(Token {
                tok: Tok::Str(s),
                pos: start,
            });
            i = end;
            continue;
        }
        if c == b'`' {
            let rest = &src[i + 1..];
            let Some(end) = rest.find('`') else {
                return Err(ParseError::at(src, start, "literal not terminated"));
            };
            out.push(Token {
                tok: Tok::Str(rest[..end].to_string()),
                pos: start,
            });
            i += end + 2;
            continue;
        }
        if c == b'-'
            && bytes.get(i + 1) == Some(&b'-')
            && bytes.get(i + 2).is_some_and(|b| b.is_ascii_alphabetic())
        {
            let mut j = i + 2;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Flag(src[i..j].to_string()),
                pos: start,
            });
            i = j;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, end) = lex_number(src, i)?;
            out.push(Token { tok, pos: start });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Ident(src[i..j].to_string()),
                pos: start,
            });
            i = j;
            continue;
        }
        if let Some(sym) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            out.push(Token {
                tok: Tok::Sym(sym),
                pos: start,
            });
            i += sym.len();
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('?');
        return Err(ParseError::at(
            src,
            start,
            format!("syntax error: unexpected character {ch:?}"),
        ));
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// Reads a double-quoted string with Go escapes; returns it and the offset after it.
fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let d = chars.next().and_then(|(_, h)| h.to_digit(16)).ok_or_else(
                                || ParseError::at(src, start, "invalid syntax: bad escape"),
                            )?;
                            v = v * 16 + d;
                        }
                        let ch = char::from_u32(v).ok_or_else(|| {
                            ParseError::at(src, start, "invalid syntax: bad escape")
                        })?;
                        out.push(ch);
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let d =
                                chars
                                    .next()
                                    .and_then(|(_, h)| h.to_digit(8))
                                    .ok_or_else(|| {
                                        ParseError::at(src, start, "invalid syntax: bad escape")
                                    })?;
                            v = v * 8 + d;
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    _ => {
                        return Err(ParseError::at(
                            src,
                            start,
                            format!("invalid syntax: unknown escape sequence \\{e}"),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::at(src, start, "literal not terminated"))
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = src.as_bytes();
    let digits_end = |mut j: usize| {
        while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
            j += 1;
        }
        j
    };
    let num_end = digits_end(start);
    let rest = &src[num_end..];
    // Bytes: a number with a case-sensitive byte unit not followed by a letter.
    for unit in BYTES_LITERAL_UNITS {
        if rest.starts_with(unit) {
            let end = num_end + unit.len();
            if !bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
                let text = &src[start..end];
                let v = parse_bytes(text).map_err(|e| ParseError::at(src, start, e))?;
                return Ok((Tok::Bytes(v), end));
            }
        }
    }
    // Durations: (number unit)+.
    let mut j = start;
    let mut matched_end = None;
    loop {
        let n_end = digits_end(j);
        if n_end == j {
            break;
        }
        let unit = DURATION_UNITS
            .iter()
            .filter(|u| src[n_end..].starts_with(**u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => {
                j = n_end + u.len();
                matched_end = Some(j);
                if !bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    break;
                }
            }
            None => break,
        }
    }
    if let Some(end) = matched_end {
        let text = &src[start..end];
        let v = parse_query_duration(text).map_err(|e| ParseError::at(src, start, e))?;
        return Ok((Tok::Duration(v), end));
    }
    // A number; scan letters too so that `0x10` is one (invalid) literal.
    let mut end = start;
    while end < bytes.len() {
        let b = bytes[end];
        let exponent_sign = (b == b'+' || b == b'-')
            && end > start
            && matches!(bytes[end - 1], b'e' | b'E')
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            end += 1;
        } else {
            break;
        }
    }
    let text = &src[start..end];
    let valid = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    match text.parse::<f64>() {
        Ok(v) if valid => Ok((Tok::Number(v), end)),
        _ => Err(ParseError::at(
            src,
            start,
            format!("unable to parse literal as a float: {text}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_durations_bytes() {
        assert_eq!(
            toks("1h30m 1.5s 3MB 2KiB 1e3 1mb"),
            vec![
                Tok::Duration(5_400_000_000_000),
                Tok::Duration(1_500_000_000),
                Tok::Bytes(3_000_000),
                Tok::Bytes(2048),
                Tok::Number(1000.0),
                Tok::Duration(60_000_000_000),
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
        assert!(lex("0x10")
            .unwrap_err()
            .msg
            .contains("unable to parse literal"));
    }

    #[test]
    fn strings_and_symbols() {
        assert_eq!(
            toks(r#"{a="x\"y\x1b"} |= `raw\n` # comment"#),
            vec![
                Tok::Sym("{"),
                Tok::Ident("a".into()),
                Tok::Sym("="),
                Tok::Str("x\"y\x1b".into()),
                Tok::Sym("}"),
                Tok::Sym("|="),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("logfmt --keep-empty --strict"),
            vec![
                Tok::Ident("logfmt".into()),
                Tok::Flag("--keep-empty".into()),
                Tok::Flag("--strict".into()),
                Tok::Eof
            ]
        );
    }
}
