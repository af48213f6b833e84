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
                    match e.position {
                        Some((line, column)) => outln!(
                            "{}:{line}:{column}: {}",
                            file.display(),
                            e.without_position()
                        ),
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
