//! The `pattern` parser (`<name>` captures between literals) and the `|>` line filter.

use memchr::memmem;
use regex::Regex;

#[derive(Debug, Clone)]
enum Node {
    Literal(String),
    /// A capture; `None` for `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern expression.
#[derive(Debug, Clone)]
pub struct Pattern {
    nodes: Vec<Node>,
    finders: Vec<Option<memmem::Finder<'static>>>,
}

fn split(p: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut lit = String::new();
    let mut rest = p;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                let valid = name == "_"
                    || (!name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit()));
                if valid {
                    if !lit.is_empty() {
                        nodes.push(Node::Literal(std::mem::take(&mut lit)));
                    }
                    nodes.push(Node::Capture(if name == "_" {
                        None
                    } else {
                        Some(name.to_string())
                    }));
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        nodes.push(Node::Literal(lit));
    }
    nodes
}

impl Pattern {
    /// Parses and validates a parser pattern: at least one named capture, no two
    /// captures in a row.
    pub fn parse(p: &str) -> Result<Self, String> {
        let nodes = split(p);
        if !nodes.iter().any(|n| matches!(n, Node::Capture(Some(_)))) {
            return Err("at least one capture is required".into());
        }
        for w in nodes.windows(2) {
            if matches!(w[0], Node::Capture(_)) && matches!(w[1], Node::Capture(_)) {
                return Err("found consecutive capture: invalid expression".into());
            }
        }
        let mut seen = Vec::new();
        for n in &nodes {
            if let Node::Capture(Some(name)) = n {
                if seen.contains(name) {
                    return Err(format!(
                        "duplicate capture name ({name}): invalid expression"
                    ));
                }
                seen.push(name.clone());
            }
        }
        let finders = nodes
            .iter()
            .map(|n| match n {
                Node::Literal(l) => Some(memmem::Finder::new(l.as_bytes()).into_owned()),
                Node::Capture(_) => None,
            })
            .collect();
        Ok(Pattern { nodes, finders })
    }

    /// The named captures, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Capture(Some(name)) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Matches `line`, calling `f(capture_index, value)` for each named capture found.
    /// A capture whose next literal is missing takes the rest of the line and stops.
    pub fn captures<'l>(&self, line: &'l str, mut f: impl FnMut(usize, &'l str)) {
        if line.is_empty() || self.nodes.is_empty() {
            return;
        }
        let mut input = line;
        let mut i = 0;
        let mut capture_idx = 0;
        if let Node::Literal(l) = &self.nodes[0] {
            if !input.starts_with(l.as_str()) {
                return;
            }
            input = &input[l.len()..];
            i = 1;
        }
        while i < self.nodes.len() {
            let Node::Capture(name) = &self.nodes[i] else {
                return;
            };
            if i + 1 == self.nodes.len() {
                if name.is_some() {
                    f(capture_idx, input);
                }
                return;
            }
            let finder = self.finders[i + 1].as_ref();
            let lit_len = match &self.nodes[i + 1] {
                Node::Literal(l) => l.len(),
                Node::Capture(_) => 0,
            };
            match finder.and_then(|fd| fd.find(input.as_bytes())) {
                None => {
                    if name.is_some() {
                        f(capture_idx, input);
                    }
                    return;
                }
                Some(j) => {
                    if name.is_some() {
                        f(capture_idx, &input[..j]);
                        capture_idx += 1;
                    }
                    input = &input[j + lit_len..];
                }
            }
            i += 2;
        }
    }
}

/// Checks a `|>` pattern: only `<_>` captures are allowed.
pub fn validate_filter_pattern(p: &str) -> Result<(), String> {
    for n in split(p) {
        if let Node::Capture(Some(_)) = n {
            return Err(
                "invalid pattern: named captures are not allowed in pattern line filters".into(),
            );
        }
    }
    Ok(())
}

/// Compiles a `|>` pattern into an anchored regex where `<_>` matches anything.
pub fn filter_regex(p: &str) -> Regex {
    let mut re = String::from("(?s)^");
    for n in split(p) {
        match n {
            Node::Literal(l) => re.push_str(&regex::escape(&l)),
            Node::Capture(_) => re.push_str(".*?"),
        }
    }
    re.push('$');
    Regex::new(&re).unwrap_or_else(|_| Regex::new("$^").expect("static regex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_captures() {
        let p = Pattern::parse(r#"<ip> - - <_> "<method> <uri> <_>" <status> <size>"#).unwrap();
        let line = r#"1.2.3.4 - - [10/Jun/2021:09:14:29 +0000] "GET /api HTTP/1.1" 200 2 "-""#;
        let mut got = Vec::new();
        p.captures(line, |i, v| got.push((i, v.to_string())));
        assert_eq!(
            got,
            vec![
                (0, "1.2.3.4".to_string()),
                (1, "GET".into()),
                (2, "/api".into()),
                (3, "200".into()),
                (4, "2 \"-\"".into())
            ]
        );
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("<_> x").is_err());
    }

    #[test]
    fn filter_is_whole_line() {
        let re = filter_regex("GET <_> 200");
        assert!(re.is_match("GET /api 200"));
        assert!(!re.is_match("POST /api 500"));
        assert!(!filter_regex("GET /api").is_match("GET /api 200"));
        assert!(validate_filter_pattern("<verb> /api").is_err());
    }
}
