//! Where a problem is in a rule file's text. YAML parsers give positions for syntax
//! errors but not for valid values, so a validation problem (a bad expression, a
//! repeated group name) is found again by searching the text: the group by its `name:`
//! key, then the rule by counting `alert:`/`record:` keys after it.

/// 1-based line and column of the `name:` key of the group named `group` (its
/// `occurrence`-th, 0 for the first, when the name is repeated), or of the `alert:` or
/// `record:` key of its rule number `rule_index` (1-based); `None` when the text does
/// not show it plainly.
pub(crate) fn locate(
    text: &str,
    group: &str,
    occurrence: usize,
    rule_index: Option<usize>,
) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let group_line = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| key_value(l, "name").is_some_and(|(_, v)| v == group))
        .nth(occurrence)?
        .0;
    let Some(index) = rule_index else {
        let (column, _) = key_value(lines[group_line], "name")?;
        return Some((group_line + 1, column));
    };
    lines[group_line..]
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            key_value(l, "alert")
                .or_else(|| key_value(l, "record"))
                .map(|(column, _)| (group_line + i + 1, column))
        })
        .nth(index.checked_sub(1)?)
}

/// The 1-based column of `key:` on `line` (after any list dash) and its unquoted value.
fn key_value<'a>(line: &'a str, key: &str) -> Option<(usize, &'a str)> {
    let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
    let rest = trimmed.strip_prefix(key)?.strip_prefix(':')?;
    let value = rest.split(" #").next()?.trim().trim_matches(['"', '\'']);
    Some((line.len() - trimmed.len() + 1, value))
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn problems_are_located_at_their_rule_or_group() {
        let text = "groups:\n  - name: a\n    rules:\n      - record: x:up\n        expr: up\n  - name: \"b\"\n    rules:\n      - alert: X\n        expr: up\n      - expr: sum(\n        record: x:up\n";
        assert_eq!(locate(text, "b", 0, Some(2)), Some((11, 9)));
        assert_eq!(locate(text, "a", 0, Some(1)), Some((4, 9)));
        assert_eq!(locate(text, "b", 0, None), Some((6, 5)));
        assert_eq!(locate(text, "b", 1, None), None);
        assert_eq!(locate(text, "c", 0, None), None);
        // A repeated name is found at the repetition.
        let twice = "groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n";
        assert_eq!(locate(twice, "a", 1, None), Some((4, 5)));
        // A group posted alone (the ruler API's body).
        let group = "name: g\nrules:\n- record: r\n  expr: sum(\n";
        assert_eq!(locate(group, "g", 0, Some(1)), Some((3, 3)));
    }
}
