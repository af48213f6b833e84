//! `promtool test rules`: unit tests for rule files, in promtool's file format and with
//! its verdicts and report.
//!
//! Each test group loads its input series into an in-memory store, evaluates every rule
//! group at each evaluation interval from the start up to the last `eval_time` (writing
//! recording results and `ALERTS` back, so later rules and expressions see them),
//! records the firing alerts at each alert test's time, and finally evaluates the
//! PromQL tests. `--run` patterns (regular expressions) select test groups by name.

mod file;
mod format;
mod histogram;
mod runner;
mod series;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use file::{
    AlertTestCase, ExpectedAlert, ExpectedSample, InputSeries, PromqlTestCase, TestFile, TestGroup,
};
pub use histogram::Histogram;
pub use series::{parse_labels, parse_values, Slot};

use crate::model::{RuleFile, RuleGroup};
use crate::validate::ValidationOptions;

/// The verdict on one test file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The test file.
    pub path: PathBuf,
    /// Failure blocks, as printed under `FAILED:`; empty when the file passed.
    pub failures: Vec<String>,
}

impl FileReport {
    /// Whether every selected test passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs the test files and prints promtool's report to `out`; true when all passed.
/// `run` holds `--run` regular expressions: only test groups whose name matches one
/// run (all run when empty). This is what `pitot test rules` calls.
pub fn run_cli(files: &[PathBuf], run: &[String], out: &mut dyn Write) -> bool {
    let mut all = true;
    for f in files {
        let report = run_file(f, run);
        all &= report.passed();
        let _ = write_report(&report, out);
    }
    all
}

/// Prints one file's report as promtool does.
pub fn write_report(report: &FileReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "Unit Testing:  {}", report.path.display())?;
    if report.passed() {
        writeln!(out, "  SUCCESS")?;
    } else {
        writeln!(out, "  FAILED:")?;
        for f in &report.failures {
            writeln!(out, "{f}")?;
        }
    }
    writeln!(out)
}

/// Runs one test file; see [`run_cli`] for `run`.
pub fn run_file(path: &Path, run: &[String]) -> FileReport {
    let failures = match run_file_inner(path, run) {
        Ok(f) => f,
        Err(e) => vec![format!("    {e}")],
    };
    FileReport {
        path: path.to_path_buf(),
        failures,
    }
}

fn run_file_inner(path: &Path, run: &[String]) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tf: TestFile =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let patterns = run
        .iter()
        .map(|r| regex::Regex::new(r).map_err(|e| format!("invalid --run pattern {r:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let groups = load_groups(dir, &tf)?;
    let mut failures = Vec::new();
    for tg in &tf.tests {
        if !patterns.is_empty() && !patterns.iter().any(|p| p.is_match(&tg.name)) {
            continue;
        }
        let errs = runner::run_group(&tf, &groups, tg);
        if errs.is_empty() {
            continue;
        }
        if !tg.name.is_empty() {
            failures.push(format!("    name: {},", tg.name));
        }
        failures.extend(errs);
    }
    Ok(failures)
}

/// Loads the rule files and orders their groups: `group_eval_order` first, then the
/// rest in file order.
fn load_groups(dir: &Path, tf: &TestFile) -> Result<Vec<RuleGroup>, String> {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for pattern in &tf.rule_files {
        for file in expand_glob(dir, pattern)? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let rf = RuleFile::parse(&text, &ValidationOptions::default())
                .map_err(|e| format!("{}: {e}", file.display()))?;
            groups.extend(rf.groups);
        }
    }
    let mut ordered = Vec::new();
    for name in &tf.group_eval_order {
        let i = groups.iter().position(|g| &g.name == name).ok_or_else(|| {
            format!("group name provided in group_eval_order not present in any of the rule files: {name}")
        })?;
        ordered.push(groups.remove(i));
    }
    ordered.extend(groups);
    Ok(ordered)
}

/// Expands `*`, `?` and `[…]` in the last path component; plain paths pass through.
fn expand_glob(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = dir.join(pattern);
    if !pattern.contains(['*', '?', '[']) {
        return Ok(vec![full]);
    }
    let parent = full.parent().unwrap_or(dir).to_path_buf();
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut re = String::from("^");
    for c in name.chars() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push('.'),
            '[' | ']' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    let re = regex::Regex::new(&re).map_err(|e| format!("invalid glob {pattern:?}: {e}"))?;
    let mut out: Vec<PathBuf> = std::fs::read_dir(&parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}
