//! `pitot check config|rules`: what `promtool check config|rules` is to Prometheus,
//! every problem found without starting anything, each with where it is.

use std::path::{Path, PathBuf};

use pitot_rules::{ExprLanguage, RuleFile, RuleFileError, ValidationOptions};

use crate::config::Config;
use crate::out::outln;

/// Checks a configuration file as `pitot serve --config` reads it, and the runtime
/// overrides file it names.
pub fn config(file: &Path) -> anyhow::Result<()> {
    outln!("Checking {}", file.display());
    let config = Config::from_file(file)?;
    config.validate()?;
    let limits = pitot_limits::Limits::new(config.tenant_limit_defaults()?);
    if let Some(overrides) = &config.runtime_config.file {
        // Relative to where `pitot serve` would run: here.
        crate::runtime_overrides::load_file(overrides, &limits)?;
    }
    outln!(
        "  SUCCESS: {} is a valid Pitot configuration",
        file.display()
    );
    Ok(())
}

/// Checks rule files; every problem of every file is printed before the command fails.
pub fn rules(files: &[PathBuf]) -> anyhow::Result<()> {
    let opts = ValidationOptions {
        language: ExprLanguage::PromQL,
        max_groups: 0,
        max_rules_per_group: 0,
    };
    let mut failed = 0;
    for file in files {
        outln!("Checking {}", file.display());
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                outln!("  FAILED: cannot read it: {e}");
                failed += 1;
                continue;
            }
        };
        match RuleFile::parse(&text, &opts) {
            Ok(parsed) => {
                let rules: usize = parsed.groups.iter().map(|g| g.rules.len()).sum();
                outln!("  SUCCESS: {rules} rules found");
            }
            Err(RuleFileError::Yaml(message)) => {
                outln!("  FAILED:\n{}: {message}", file.display());
                failed += 1;
            }
            Err(RuleFileError::Invalid(errors)) => {
                outln!("  FAILED:");
                for e in &errors {
                    match locate(&text, &e.group, e.rule_name.as_deref()) {
                        Some((line, column)) => {
                            outln!("{}:{line}:{column}: {e}", file.display())
                        }
                        None => outln!("{}: {e}", file.display()),
                    }
                }
                failed += 1;
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} rule files have problems (above)",
        files.len()
    );
    Ok(())
}

/// Where a problem of group `group` (and of its rule `rule`) is in `text`: the 1-based
/// line and column of the rule's `alert:`/`record:` key after the group's `name:`, or
/// of the group's `name:` key. YAML parsers give no positions for valid values, so this
/// searches the text; `None` when it cannot tell.
fn locate(text: &str, group: &str, rule: Option<&str>) -> Option<(usize, usize)> {
    let value_is = |line: &str, key: &str, want: &str| -> Option<usize> {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let rest = trimmed.strip_prefix(key)?.strip_prefix(':')?;
        let value = rest.split(" #").next()?.trim().trim_matches(['"', '\'']);
        (value == want).then(|| line.len() - trimmed.len() + 1)
    };
    let lines: Vec<&str> = text.lines().collect();
    let group_line = lines
        .iter()
        .position(|l| value_is(l, "name", group).is_some())?;
    let Some(rule) = rule else {
        let column = value_is(lines[group_line], "name", group)?;
        return Some((group_line + 1, column));
    };
    lines[group_line..].iter().enumerate().find_map(|(i, l)| {
        value_is(l, "alert", rule)
            .or_else(|| value_is(l, "record", rule))
            .map(|column| (group_line + i + 1, column))
    })
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn problems_are_located_at_their_rule_or_group() {
        let text = "groups:\n  - name: a\n    rules:\n      - record: x:up\n        expr: up\n  - name: \"b\"\n    rules:\n      - alert: X\n        expr: up\n      - record: x:up\n        expr: sum(\n";
        assert_eq!(locate(text, "b", Some("x:up")), Some((10, 9)));
        assert_eq!(locate(text, "a", Some("x:up")), Some((4, 9)));
        assert_eq!(locate(text, "b", None), Some((6, 5)));
        assert_eq!(locate(text, "c", None), None);
    }
}
