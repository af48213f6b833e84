//! Textual rewrites that let the parser accept Prometheus 3 syntax it does not know.
//!
//! * Duration expressions (`x[5m+1m]`, `x[step()]`, `x offset min_of(step(), 1s)`):
//!   Prometheus 3 accepts arithmetic inside range brackets and after `offset`, including
//!   `step()`, `range()`, `min_of()` and `max_of()`, whose values depend on the query.
//!   The parser only accepts literal durations there, so each such expression is
//!   evaluated (numbers are seconds) and replaced by a literal in milliseconds.
//! * String literals whose bytes are not valid UTF-8 (`"\xff"`) are carried through as
//!   private-use characters, so that label-name validation can reject them.
//! * The label selector of `info()` may hold only matchers that match the empty
//!   string (`{data=~".*"}`), which the parser refuses for ordinary selectors; the
//!   default info metric name, `target_info`, is made explicit so that it parses.

use crate::error::PromqlError;

/// The query's step and range, which `step()` and `range()` return (ms; 0 for instant
/// queries).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DurationContext {
    pub step_ms: i64,
    pub range_ms: i64,
}

/// Applies all rewrites to `query`.
pub(crate) fn expand(query: &str, ctx: DurationContext) -> Result<String, PromqlError> {
    let text = expand_durations(query, ctx)?;
    Ok(explicit_info_name(&text))
}

/// Adds `__name__="target_info"` to the selector argument of `info()` when it has no
/// name matcher; that is the default the function applies anyway.
fn explicit_info_name(query: &str) -> String {
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len() + 32);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let end = skip_string(&chars, i);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if is_word_at(&chars, i, "info") {
            let mut j = i + 4;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j < chars.len() && chars[j] == '(' {
                if let Some(close) = matching_paren(&chars, j) {
                    if let Some(brace) = second_arg_brace(&chars, j, close) {
                        let end = chars[brace..close]
                            .iter()
                            .position(|&c| c == '}')
                            .map_or(close, |p| brace + p);
                        let selector: String = chars[brace..end].iter().collect();
                        if !selector.contains("__name__") {
                            out.extend(&chars[i..=brace]);
                            out.push_str("__name__=\"target_info\"");
                            let rest: String = chars[brace + 1..end].iter().collect();
                            if !rest.trim().is_empty() {
                                out.push(',');
                            }
                            i = brace + 1;
                            continue;
                        }
                    }
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The position of `{` when the second argument of the call between `open` and `close`
/// is a bare label selector.
fn second_arg_brace(chars: &[char], open: usize, close: usize) -> Option<usize> {
    let mut depth = 0;
    let mut k = open + 1;
    while k < close {
        match chars[k] {
            '"' | '\'' | '`' => {
                k = skip_string(chars, k);
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                let mut p = k + 1;
                while p < close && chars[p].is_whitespace() {
                    p += 1;
                }
                return (p < close && chars[p] == '{').then_some(p);
            }
            _ => {}
        }
        k += 1;
    }
    None
}

/// Rewrites duration expressions in `query` into literal durations.
fn expand_durations(query: &str, ctx: DurationContext) -> Result<String, PromqlError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let end = skip_string(&chars, i);
            let literal: String = chars[i..end].iter().collect();
            out.push_str(&carry_invalid_utf8(&literal));
            i = end;
            continue;
        }
        if c == '[' {
            let Some(close) = chars[i + 1..].iter().position(|&x| x == ']') else {
                out.push(c);
                i += 1;
                continue;
            };
            let content: String = chars[i + 1..i + 1 + close].iter().collect();
            out.push('[');
            let parts: Vec<&str> = split_top_level_colon(&content);
            for (k, part) in parts.iter().enumerate() {
                if k > 0 {
                    out.push(':');
                }
                if needs_eval(part) {
                    let ms = eval_ms(part, ctx)?;
                    out.push_str(&format!("{ms}ms"));
                } else {
                    out.push_str(part);
                }
            }
            out.push(']');
            i += close + 2;
            continue;
        }
        if is_word_at(&chars, i, "offset") {
            out.push_str("offset");
            i += "offset".len();
            // The offset applies to one atom: optional signs, then a parenthesized
            // expression, a function call or a literal.
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_whitespace() || chars[j] == '+' || chars[j] == '-')
            {
                j += 1;
            }
            let atom_end = if j < chars.len() && chars[j] == '(' {
                matching_paren(&chars, j).map(|e| e + 1)
            } else {
                let mut k = j;
                while k < chars.len() && (chars[k].is_ascii_alphanumeric() || chars[k] == '_') {
                    k += 1;
                }
                let word: String = chars[j..k].iter().collect::<String>().to_ascii_lowercase();
                let mut p = k;
                while p < chars.len() && chars[p].is_whitespace() {
                    p += 1;
                }
                if matches!(word.as_str(), "step" | "range" | "min_of" | "max_of")
                    && p < chars.len()
                    && chars[p] == '('
                {
                    matching_paren(&chars, p).map(|e| e + 1)
                } else {
                    None
                }
            };
            if let Some(end) = atom_end {
                let atom: String = chars[i..end].iter().collect();
                let ms = eval_ms(&atom, ctx)?;
                if ms == 0 {
                    // A zero offset is no offset (and `offset 0ms` does not parse).
                    out.truncate(out.len() - "offset".len());
                } else {
                    out.push_str(&format!(" {ms}ms"));
                }
                i = end;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// First code point of the range that carries bytes of invalid UTF-8 through the
/// parser: byte `b` becomes `INVALID_BYTE_BASE + b` (plane 16 private use).
pub(crate) const INVALID_BYTE_BASE: u32 = 0x10_FF00;

/// Go string literals are byte strings: `"\xff"` is one byte, not `ÿ`. A literal whose
/// bytes are not valid UTF-8 is rewritten so each invalid byte becomes a private-use
/// character, which label-name validation rejects and error messages print as `\xNN`.
fn carry_invalid_utf8(literal: &str) -> String {
    if literal.starts_with('`') || !literal.contains("\\x") {
        return literal.to_string();
    }
    let Some(bytes) = go_unquote_bytes(literal) else {
        return literal.to_string();
    };
    if std::str::from_utf8(&bytes).is_ok() {
        return literal.to_string();
    }
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\U{:08x}", INVALID_BYTE_BASE + u32::from(*b)));
        }
    }
    out.push('"');
    out
}

/// Decodes a double- or single-quoted Go string literal into bytes.
fn go_unquote_bytes(literal: &str) -> Option<Vec<u8>> {
    let b = literal.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let body = &b[1..b.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let esc = *body.get(i + 1)?;
        i += 2;
        match esc {
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let oct = std::str::from_utf8(body.get(i - 1..i + 2)?).ok()?;
                out.push(u8::from_str_radix(oct, 8).ok()?);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if esc == b'u' { 4 } else { 8 };
                let hex = std::str::from_utf8(body.get(i..i + n)?).ok()?;
                let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            other => out.push(other),
        }
    }
    Some(out)
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' && quote != '`' {
            i += 2;
            continue;
        }
        if chars[i] == quote {
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

fn is_word_at(chars: &[char], i: usize, word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    if i + w.len() > chars.len() {
        return false;
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    if i > 0 && is_ident(chars[i - 1]) {
        return false;
    }
    if i + w.len() < chars.len() && is_ident(chars[i + w.len()]) {
        return false;
    }
    chars[i..i + w.len()]
        .iter()
        .zip(&w)
        .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_level_colon(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Whether a bracket part is more than a literal duration or number.
fn needs_eval(part: &str) -> bool {
    let t = part.trim();
    if t.is_empty() {
        return false;
    }
    !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

fn eval_ms(text: &str, ctx: DurationContext) -> Result<i64, PromqlError> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        ctx,
    };
    let v = p.expr()?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.error());
    }
    if !v.is_finite() {
        return Err(PromqlError::Parse(format!(
            "duration expression {text:?} is not finite"
        )));
    }
    Ok((v * 1000.0).round() as i64)
}

/// Recursive-descent evaluator of duration arithmetic, in seconds. Precedence follows
/// PromQL: `^` (right-associative) binds tighter than unary signs, which bind tighter
/// than `* / %`, then `+ -`.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    ctx: DurationContext,
}

impl Parser<'_> {
    fn error(&self) -> PromqlError {
        PromqlError::Parse(format!(
            "invalid duration expression {:?}",
            String::from_utf8_lossy(self.s)
        ))
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expr(&mut self) -> Result<f64, PromqlError> {
        let mut v = self.term()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = if c == b'+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, PromqlError> {
        let mut v = self.unary()?;
        while let Some(c @ (b'*' | b'/' | b'%')) = self.peek() {
            self.pos += 1;
            let r = self.unary()?;
            v = match c {
                b'*' => v * r,
                b'/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, PromqlError> {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(-self.unary()?)
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, PromqlError> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.pos += 1;
            let exp = self.unary()?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64, PromqlError> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err(self.error());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                let name = String::from_utf8_lossy(&self.s[start..self.pos]).to_ascii_lowercase();
                if self.peek() != Some(b'(') {
                    return Err(self.error());
                }
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() != Some(b')') {
                    loop {
                        args.push(self.expr()?);
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b')') => break,
                            _ => return Err(self.error()),
                        }
                    }
                }
                self.pos += 1;
                match (name.as_str(), args.as_slice()) {
                    ("step", []) => Ok(self.ctx.step_ms as f64 / 1000.0),
                    ("range", []) => Ok(self.ctx.range_ms as f64 / 1000.0),
                    ("min_of", [a, b]) => Ok(if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else {
                        a.min(*b)
                    }),
                    ("max_of", [a, b]) => Ok(if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else {
                        a.max(*b)
                    }),
                    _ => Err(self.error()),
                }
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'.')
                {
                    self.pos += 1;
                }
                let tok = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                if let Ok(v) = tok.parse::<f64>() {
                    return Ok(v);
                }
                match pitot_core::parse_duration_ms(&tok) {
                    Ok(ms) => Ok(ms as f64 / 1000.0),
                    Err(_) => Err(self.error()),
                }
            }
            _ => Err(self.error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DurationContext {
        DurationContext {
            step_ms: 5000,
            range_ms: 10_000,
        }
    }

    #[test]
    fn brackets_and_offsets() {
        assert_eq!(expand("x[26m+4m]", ctx()).unwrap(), "x[1800000ms]");
        assert_eq!(expand("x[5m]", ctx()).unwrap(), "x[5m]");
        assert_eq!(
            expand("x[29s+1s:5s+5s]", ctx()).unwrap(),
            "x[30000ms:10000ms]"
        );
        assert_eq!(expand("x[step():]", ctx()).unwrap(), "x[5000ms:]");
        assert_eq!(
            expand("x offset -step()*2", ctx()).unwrap(),
            "x offset -5000ms*2"
        );
        assert_eq!(
            expand("x offset min_of(step(), 1s)+8000", ctx()).unwrap(),
            "x offset 1000ms+8000"
        );
        assert_eq!(
            expand("x offset (-2 ^ 2)", ctx()).unwrap(),
            "x offset -4000ms"
        );
        assert_eq!(expand(r#"x{a="[1+1]"}"#, ctx()).unwrap(), r#"x{a="[1+1]"}"#);
        assert_eq!(expand("vector(step())", ctx()).unwrap(), "vector(step())");
        assert_eq!(
            expand("x offset range()", DurationContext::default()).unwrap(),
            "x "
        );
    }

    #[test]
    fn info_selector_gets_default_name() {
        let ctx = DurationContext::default();
        assert_eq!(
            expand(r#"info(x, {data=~".*"})"#, ctx).unwrap(),
            r#"info(x, {__name__="target_info",data=~".*"})"#
        );
        assert_eq!(
            expand(r#"info(x, {__name__="build_info"})"#, ctx).unwrap(),
            r#"info(x, {__name__="build_info"})"#
        );
        assert_eq!(expand("info(x)", ctx).unwrap(), "info(x)");
        assert_eq!(
            expand("info(rate(x[5m]), {})", ctx).unwrap(),
            r#"info(rate(x[5m]), {__name__="target_info"})"#
        );
    }
}
