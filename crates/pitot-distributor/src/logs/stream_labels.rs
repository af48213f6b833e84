//! Parsing the label set of a pushed stream, in the selector syntax Loki clients send
//! in protobuf pushes: `{app="api", env="prod"}`.
//!
//! Only `=` is allowed (a push names one stream, it does not match several), values are
//! double-quoted with Go escapes, and a trailing comma is tolerated as Loki does.

/// Parses `{name="value", ...}` into pairs in the order written; the error says what is
/// wrong and where (byte offset).
pub fn parse_stream_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.skip_ws();
    p.expect(b'{')?;
    let mut pairs = Vec::new();
    loop {
        p.skip_ws();
        if p.peek() == Some(b'}') {
            p.i += 1;
            break;
        }
        let name = p.name()?;
        p.skip_ws();
        p.expect(b'=')?;
        if matches!(p.peek(), Some(b'~')) {
            return Err(format!(
                "at offset {}: only '=' matchers may name a pushed stream",
                p.i - 1
            ));
        }
        p.skip_ws();
        let value = p.quoted()?;
        pairs.push((name, value));
        p.skip_ws();
        match p.peek() {
            Some(b',') => p.i += 1,
            Some(b'}') => {}
            Some(c) => {
                return Err(format!(
                    "at offset {}: expected ',' or '}}', found {:?}",
                    p.i, c as char
                ))
            }
            None => return Err("unexpected end of input, expected '}'".into()),
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("at offset {}: unexpected text after '}}'", p.i));
    }
    Ok(pairs)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.i += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "at offset {}: expected {:?}, found {:?}",
                self.i, c as char, x as char
            )),
            None => Err(format!("unexpected end of input, expected {:?}", c as char)),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-' || c == b':')
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("at offset {start}: expected a label name"));
        }
        Ok(self.text[start..self.i].to_string())
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'' | b'`')) => q,
            _ => {
                return Err(format!(
                    "at offset {}: expected a quoted label value",
                    self.i
                ))
            }
        };
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.i..];
            let Some(c) = rest.chars().next() else {
                return Err(format!("at offset {start}: unterminated quoted string"));
            };
            self.i += c.len_utf8();
            if c as u32 == quote as u32 {
                return Ok(out);
            }
            if c != '\\' || quote == b'`' {
                out.push(c);
                continue;
            }
            let Some(e) = self.text[self.i..].chars().next() else {
                return Err(format!("at offset {start}: unterminated quoted string"));
            };
            self.i += e.len_utf8();
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' | '"' | '\'' => out.push(e),
                'u' => {
                    let hex = self
                        .text
                        .get(self.i..self.i + 4)
                        .ok_or("truncated \\u escape")?;
                    let code = u32::from_str_radix(hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("at offset {}: invalid \\u escape", self.i))?;
                    out.push(code);
                    self.i += 4;
                }
                other => {
                    return Err(format!(
                        "at offset {}: unknown escape \\{other}",
                        self.i - 1
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_escapes() {
        assert_eq!(
            parse_stream_labels(r#"{app="api", msg="a \"q\"\n",}"#).unwrap(),
            vec![
                ("app".to_string(), "api".to_string()),
                ("msg".to_string(), "a \"q\"\n".to_string())
            ]
        );
        assert_eq!(parse_stream_labels("{}").unwrap(), vec![]);
        assert_eq!(
            parse_stream_labels("{ job = `a\\b` }").unwrap(),
            vec![("job".to_string(), "a\\b".to_string())]
        );
    }

    #[test]
    fn errors_say_where() {
        for bad in [
            "app=\"x\"",
            "{app=~\"x\"}",
            "{app=\"x\"",
            "{app=x}",
            "{=\"x\"}",
            "{a=\"x\"} junk",
            "{a=\"\\q\"}",
            "{a=\"\\u12\"}",
        ] {
            assert!(parse_stream_labels(bad).is_err(), "{bad}");
        }
        let err = parse_stream_labels("{a=\"x\" b=\"y\"}").unwrap_err();
        assert!(err.contains("offset 7"), "{err}");
    }
}
