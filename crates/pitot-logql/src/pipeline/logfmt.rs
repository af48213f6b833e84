//! The `logfmt` parser: `key=value key="quoted value" flag`, borrowed slices for bare
//! values and a reused buffer for quoted ones.

use super::json::sanitize_key_into;
use super::labels::LabelsBuilder;

/// Error kind Loki sets when strict logfmt parsing fails.
pub const LOGFMT_ERR: &str = "LogfmtParserErr";

/// Reusable logfmt state.
#[derive(Debug, Default)]
pub struct LogfmtExtractor {
    key: String,
    value: String,
}

/// One decoded pair, borrowed from the line where possible.
enum Val<'a> {
    Borrowed(&'a str),
    Buffered,
}

impl LogfmtExtractor {
    /// Decodes `line`, calling `f(key, value)` for each pair (key sanitized). Returns
    /// the first syntax error in strict mode; otherwise malformed pairs are skipped.
    pub fn decode(
        &mut self,
        line: &str,
        strict: bool,
        mut f: impl FnMut(&str, &str),
    ) -> Result<(), String> {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            // Skip spaces.
            while i < b.len() && b[i] <= b' ' {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let key_start = i;
            while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
                i += 1;
            }
            let raw_key = &line[key_start..i];
            if raw_key.is_empty() {
                // `=value` or a stray quote.
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unexpected '{}'",
                        i + 1,
                        b[i] as char
                    ));
                }
                skip_garbage(b, &mut i);
                continue;
            }
            if i < b.len() && b[i] == b'"' {
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unexpected '\"'",
                        i + 1
                    ));
                }
                skip_garbage(b, &mut i);
                continue;
            }
            self.key.clear();
            sanitize_key_into(raw_key, true, &mut self.key);
            if i >= b.len() || b[i] != b'=' {
                // Standalone key.
                f(&self.key, "");
                continue;
            }
            i += 1; // '='
            let val = if i < b.len() && b[i] == b'"' {
                i += 1;
                self.value.clear();
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        b'\\' if i + 1 < b.len() => {
                            let e = b[i + 1];
                            match e {
                                b'n' => self.value.push('\n'),
                                b't' => self.value.push('\t'),
                                b'r' => self.value.push('\r'),
                                b'"' => self.value.push('"'),
                                b'\\' => self.value.push('\\'),
                                b'/' => self.value.push('/'),
                                b'u' if i + 5 < b.len() => {
                                    let h = u32::from_str_radix(&line[i + 2..i + 6], 16)
                                        .unwrap_or(0xfffd);
                                    self.value.push(char::from_u32(h).unwrap_or('\u{fffd}'));
                                    i += 4;
                                }
                                _ => {
                                    self.value.push('\\');
                                    self.value.push(e as char);
                                }
                            }
                            i += 2;
                        }
                        _ => {
                            let s = i;
                            while i < b.len() && b[i] != b'"' && b[i] != b'\\' {
                                i += 1;
                            }
                            self.value.push_str(&line[s..i]);
                        }
                    }
                }
                if !closed {
                    if strict {
                        return Err(format!(
                            "logfmt syntax error at pos {}: unterminated quoted value",
                            i + 1
                        ));
                    }
                    continue;
                }
                if i < b.len() && b[i] > b' ' {
                    if strict {
                        return Err(format!(
                            "logfmt syntax error at pos {}: unexpected '{}'",
                            i + 1,
                            b[i] as char
                        ));
                    }
                    skip_garbage(b, &mut i);
                    continue;
                }
                Val::Buffered
            } else {
                let s = i;
                while i < b.len() && b[i] > b' ' && b[i] != b'"' && b[i] != b'=' {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'=') {
                    if strict {
                        return Err(format!(
                            "logfmt syntax error at pos {}: unexpected '{}'",
                            i + 1,
                            b[i] as char
                        ));
                    }
                    skip_garbage(b, &mut i);
                    continue;
                }
                Val::Borrowed(&line[s..i])
            };
            match val {
                Val::Borrowed(v) => f(&self.key, v),
                Val::Buffered => f(&self.key, &self.value),
            }
        }
        Ok(())
    }

    /// Extracts all pairs into `lbs` (empty values only with `keep_empty`).
    pub fn extract(
        &mut self,
        line: &str,
        strict: bool,
        keep_empty: bool,
        lbs: &mut LabelsBuilder,
        wanted: Option<&[String]>,
    ) -> Result<(), String> {
        self.decode(line, strict, |k, v| {
            if k.is_empty() || (v.is_empty() && !keep_empty) {
                return;
            }
            if wanted.is_some_and(|w| !w.iter().any(|n| n == k)) {
                return;
            }
            lbs.set_parsed(k, v);
        })
    }
}

fn skip_garbage(b: &[u8], i: &mut usize) {
    while *i < b.len() && b[*i] > b' ' {
        if b[*i] == b'"' {
            *i += 1;
            while *i < b.len() && b[*i] != b'"' {
                if b[*i] == b'\\' {
                    *i += 1;
                }
                *i += 1;
            }
        }
        *i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        LogfmtExtractor::default().decode(line, strict, |k, v| out.push((k.into(), v.into())))?;
        Ok(out)
    }

    #[test]
    fn decodes() {
        let p = pairs(
            r#"at=info method=GET fwd="124.1 \"x\"" flag service=8ms a.b=1"#,
            false,
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                ("at".into(), "info".into()),
                ("method".into(), "GET".into()),
                ("fwd".into(), "124.1 \"x\"".into()),
                ("flag".into(), "".into()),
                ("service".into(), "8ms".into()),
                ("a_b".into(), "1".into()),
            ]
        );
        assert_eq!(pairs("=v a=b foo=bar=buzz c=d", false).unwrap().len(), 2);
        assert!(pairs("foo=bar=buzz", true).is_err());
        assert!(pairs("=value", true).is_err());
        assert!(pairs(r#"fo"o=bar"#, true).is_err());
    }
}
