//! The `json` and `unpack` parsers.
//!
//! Without parameters, a single pass over the line's bytes flattens nested objects
//! into `a_b_c` labels (arrays skipped) without building a document: keys are
//! assembled in a reused buffer and values unescaped into another. With parameters,
//! the line is decoded once and each path expression (`a.b[0]["c"]`) is looked up.

use super::labels::LabelsBuilder;

/// Error kind Loki sets when a line is not JSON.
pub const JSON_ERR: &str = "JSONParserErr";

/// Appends `key` to `out` as Loki sanitizes label keys (non `[a-zA-Z0-9_]` → `_`; a
/// leading digit gets a `_` prefix when the key starts a label name).
pub fn sanitize_key_into(key: &str, is_prefix: bool, out: &mut String) {
    let key = key.trim();
    if key.is_empty() {
        return;
    }
    if is_prefix && key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Reusable state of the parameterless parser.
#[derive(Debug, Default)]
pub struct JsonExtractor {
    key: String,
    value: String,
    raw_key: String,
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

type PResult<T> = Result<T, &'static str>;

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Reads a string (after the opening quote) into `out`.
    fn string_into(&mut self, out: &mut String) -> PResult<()> {
        let start = self.i;
        // Fast path: no escapes.
        match memchr::memchr2(b'"', b'\\', &self.b[self.i..]) {
            Some(off) if self.b[self.i + off] == b'"' => {
                out.push_str(&self.s[start..self.i + off]);
                self.i += off + 1;
                return Ok(());
            }
            Some(off) => self.i += off,
            None => return Err("unterminated string"),
        }
        out.push_str(&self.s[start..self.i]);
        while self.i < self.b.len() {
            let c = self.b[self.i];
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek().ok_or("unterminated string")?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\x08'),
                        b'f' => out.push('\x0c'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err("invalid escape"),
                    }
                }
                _ => {
                    let s = self.i;
                    while self.i < self.b.len() && self.b[self.i] != b'"' && self.b[self.i] != b'\\'
                    {
                        self.i += 1;
                    }
                    out.push_str(
                        std::str::from_utf8(&self.b[s..self.i]).map_err(|_| "invalid UTF-8")?,
                    );
                }
            }
        }
        Err("unterminated string")
    }

    fn hex4(&mut self) -> PResult<u32> {
        let h = self.b.get(self.i..self.i + 4).ok_or("bad unicode escape")?;
        self.i += 4;
        let s = std::str::from_utf8(h).map_err(|_| "bad unicode escape")?;
        u32::from_str_radix(s, 16).map_err(|_| "bad unicode escape")
    }

    fn skip_string(&mut self) -> PResult<()> {
        while let Some(off) = memchr::memchr2(b'"', b'\\', self.b.get(self.i..).unwrap_or(&[])) {
            self.i += off;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            self.i += 2;
        }
        Err("unterminated string")
    }

    /// Skips any value.
    fn skip_value(&mut self) -> PResult<()> {
        self.ws();
        match self.peek().ok_or("unexpected end")? {
            b'"' => {
                self.i += 1;
                self.skip_string()
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            self.i += 1;
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                Err("unterminated value")
            }
            _ => self.scalar().map(|_| ()),
        }
    }

    /// A number, `true`, `false` or `null`: returns its text.
    fn scalar(&mut self) -> PResult<(usize, usize)> {
        let s = self.i;
        while self.i < self.b.len()
            && !matches!(
                self.b[self.i],
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            )
        {
            self.i += 1;
        }
        if s == self.i {
            return Err("unexpected character");
        }
        let text = &self.b[s..self.i];
        let ok = matches!(text, b"true" | b"false" | b"null")
            || text
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'));
        if !ok {
            return Err("invalid value");
        }
        Ok((s, self.i))
    }
}

impl JsonExtractor {
    /// Extracts every field of `line` into `lbs`; returns the error message when the line
    /// is not a JSON object.
    pub fn extract(&mut self, line: &str, lbs: &mut LabelsBuilder) -> Result<(), &'static str> {
        self.extract_only(line, lbs, None)
    }

    /// Like [`Self::extract`], but with `wanted` only those keys become labels (values
    /// of other keys are skipped without decoding).
    pub fn extract_only(
        &mut self,
        line: &str,
        lbs: &mut LabelsBuilder,
        wanted: Option<&[String]>,
    ) -> Result<(), &'static str> {
        let mut c = Cursor {
            s: line,
            b: line.as_bytes(),
            i: 0,
        };
        c.ws();
        if c.peek() != Some(b'{') {
            return Err("Value looks like object, but can't find closing '}' symbol");
        }
        self.key.clear();
        self.object(&mut c, lbs, wanted)?;
        c.ws();
        if c.i != c.b.len() {
            return Err("Value looks like object, but can't find closing '}' symbol");
        }
        Ok(())
    }

    fn object(
        &mut self,
        c: &mut Cursor<'_>,
        lbs: &mut LabelsBuilder,
        wanted: Option<&[String]>,
    ) -> PResult<()> {
        c.i += 1; // '{'
        c.ws();
        if c.peek() == Some(b'}') {
            c.i += 1;
            return Ok(());
        }
        loop {
            c.ws();
            if c.peek() != Some(b'"') {
                return Err("Value looks like object, but can't find closing '}' symbol");
            }
            c.i += 1;
            self.raw_key.clear();
            let mut raw = std::mem::take(&mut self.raw_key);
            c.string_into(&mut raw)?;
            c.ws();
            if c.peek() != Some(b':') {
                self.raw_key = raw;
                return Err("Value looks like object, but can't find closing '}' symbol");
            }
            c.i += 1;
            c.ws();
            let prefix_len = self.key.len();
            if prefix_len > 0 {
                self.key.push('_');
            }
            sanitize_key_into(&raw, prefix_len == 0, &mut self.key);
            self.raw_key = raw;
            match c.peek().ok_or("unexpected end")? {
                b'{' => self.object(c, lbs, wanted)?,
                b'[' => c.skip_value()?,
                b'"' => {
                    c.i += 1;
                    if wanted.is_some_and(|w| !w.contains(&self.key)) {
                        c.skip_string()?;
                    } else {
                        self.value.clear();
                        c.string_into(&mut self.value)?;
                        lbs.set_parsed(&self.key, &self.value);
                    }
                }
                _ => {
                    let (s, e) = c.scalar()?;
                    if wanted.is_none_or(|w| w.contains(&self.key)) {
                        let text = &c.s[s..e];
                        let v = if text == "null" { "" } else { text };
                        lbs.set_parsed(&self.key, v);
                    }
                }
            }
            self.key.truncate(prefix_len);
            c.ws();
            match c.peek() {
                Some(b',') => c.i += 1,
                Some(b'}') => {
                    c.i += 1;
                    return Ok(());
                }
                _ => return Err("Value looks like object, but can't find closing '}' symbol"),
            }
        }
    }
}

/// One step of a json parameter path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.name` or `["name"]`.
    Key(String),
    /// `[3]`.
    Index(usize),
}

/// A parsed json parameter expression such as `request.headers["User-Agent"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(pub Vec<PathStep>);

impl JsonPath {
    /// Parses a path expression.
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        let err = || format!("invalid json expression: {s}");
        let b = s.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        let mut cur = String::new();
        while i < b.len() {
            match b[i] {
                b'.' => {
                    if !cur.is_empty() {
                        steps.push(PathStep::Key(std::mem::take(&mut cur)));
                    }
                    i += 1;
                }
                b'[' => {
                    if !cur.is_empty() {
                        steps.push(PathStep::Key(std::mem::take(&mut cur)));
                    }
                    let end = s[i..].find(']').ok_or_else(err)? + i;
                    let inner = s[i + 1..end].trim();
                    if let Some(q) = inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                        steps.push(PathStep::Key(q.replace("\\\"", "\"")));
                    } else if let Some(q) =
                        inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                    {
                        steps.push(PathStep::Key(q.to_string()));
                    } else {
                        steps.push(PathStep::Index(inner.parse().map_err(|_| err())?));
                    }
                    i = end + 1;
                }
                _ => {
                    let c = s[i..].chars().next().ok_or_else(err)?;
                    cur.push(c);
                    i += c.len_utf8();
                }
            }
        }
        if !cur.is_empty() {
            steps.push(PathStep::Key(cur));
        }
        if steps.is_empty() {
            return Err(err());
        }
        Ok(JsonPath(steps))
    }

    /// The value at the path, rendered as Loki does (strings raw, objects as JSON).
    pub fn lookup(&self, doc: &serde_json::Value) -> Option<String> {
        let mut v = doc;
        for step in &self.0 {
            v = match step {
                PathStep::Key(k) => v.get(k.as_str())?,
                PathStep::Index(i) => v.get(*i)?,
            };
        }
        Some(match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pitot_core::Labels;

    #[test]
    fn flattens_nested_objects_and_skips_arrays() {
        let mut b = LabelsBuilder::new();
        b.reset(&Labels::from_pairs([("app", "x")]), &[]);
        b.begin_parse();
        let mut j = JsonExtractor::default();
        j.extract(
            r#"{"a.b": {"c": "d\n\u00e9"}, "e": 5, "arr": [1, {"x": 2}], "app": "y", "1x": true, "n": null, "e": 6}"#,
            &mut b,
        )
        .unwrap();
        let l = b.labels();
        assert_eq!(l.get("a_b_c"), Some("d\né"));
        assert_eq!(l.get("e"), Some("5"));
        assert_eq!(l.get("arr"), None);
        assert_eq!(l.get("app_extracted"), Some("y"));
        assert_eq!(l.get("_1x"), Some("true"));
        assert_eq!(l.get("n"), Some(""));
        assert!(j.extract("not json", &mut b).is_err());
        assert!(j.extract(r#"{"a": "b""#, &mut b).is_err());
    }

    #[test]
    fn paths() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"servers":["a","b"],"request":{"headers":{"User-Agent":"curl"}}}"#,
        )
        .unwrap();
        let p = JsonPath::parse(r#"request.headers["User-Agent"]"#).unwrap();
        assert_eq!(p.lookup(&doc), Some("curl".into()));
        assert_eq!(
            JsonPath::parse("servers[0]").unwrap().lookup(&doc),
            Some("a".into())
        );
        assert_eq!(
            JsonPath::parse("servers").unwrap().lookup(&doc),
            Some(r#"["a","b"]"#.into())
        );
        assert_eq!(JsonPath::parse("nope").unwrap().lookup(&doc), None);
    }
}
