/// Decodes the escapes of a PromQL string literal (Go's rules: `\\`, `\"`, `\'`, `\n`,
/// `\t`, `\r`, `\a`, `\b`, `\f`, `\v`, `\xNN`, `\NNN` octal, `\uNNNN`, `\UNNNNNNNN`).
///
/// The PromQL parser hands label-matcher values over as written between the quotes;
/// this turns them into the value they denote. Unknown or malformed escapes are an error
/// naming the offending text.
pub fn unescape_string(raw: &str) -> Result<String, String> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    // Bytes from \x and octal escapes may form multi-byte UTF-8 together.
    let mut pending: Vec<u8> = Vec::new();
    let flush = |pending: &mut Vec<u8>, out: &mut String| -> Result<(), String> {
        if !pending.is_empty() {
            let s = String::from_utf8(std::mem::take(pending))
                .map_err(|_| "escape sequences form invalid UTF-8".to_string())?;
            out.push_str(&s);
        }
        Ok(())
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut pending, &mut out)?;
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err(format!("string {raw:?} ends with a lone backslash"));
        };
        let simple = match e {
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            '`' => Some('`'),
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(ch) = simple {
            flush(&mut pending, &mut out)?;
            out.push(ch);
            continue;
        }
        let mut take = |n: usize, radix: u32| -> Result<u32, String> {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return Err(format!("incomplete escape in {raw:?}"));
            }
            u32::from_str_radix(&digits, radix)
                .map_err(|_| format!("invalid escape \\{e}{digits} in {raw:?}"))
        };
        match e {
            'x' => pending.push(take(2, 16)? as u8),
            '0'..='7' => {
                let rest = take(2, 8)?;
                let v = (e as u32 - '0' as u32) * 64 + rest;
                if v > 255 {
                    return Err(format!("octal escape out of range in {raw:?}"));
                }
                pending.push(v as u8);
            }
            'u' | 'U' => {
                let v = take(if e == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v)
                    .ok_or_else(|| format!("invalid Unicode escape in {raw:?}"))?;
                flush(&mut pending, &mut out)?;
                out.push(ch);
            }
            other => return Err(format!("unknown escape sequence \\{other} in {raw:?}")),
        }
    }
    flush(&mut pending, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escapes() {
        assert_eq!(unescape_string(r#"q\"x"#).unwrap(), "q\"x");
        assert_eq!(unescape_string(r"b\\c").unwrap(), "b\\c");
        assert_eq!(unescape_string(r"n\nl\t").unwrap(), "n\nl\t");
        assert_eq!(unescape_string(r"a\\.b").unwrap(), r"a\.b");
        assert_eq!(
            unescape_string(r"\xc3\xa9\u00e9\U0001F600\101").unwrap(),
            "éé😀A"
        );
        assert_eq!(unescape_string("plain").unwrap(), "plain");
        assert!(unescape_string(r"bad\q").is_err());
        assert!(unescape_string("end\\").is_err());
        assert!(unescape_string(r"\xff").is_err());
    }
}
