//! The report of a conformance run over upstream test scripts (Prometheus' PromQL
//! scripts, Loki's LogQL scripts): per file, evals passed, failed and skipped, and the
//! totals line CI's ratchets read. One shape for both engines' runners.

use std::fmt::Write;

/// One failing eval.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The script file.
    pub file: String,
    /// 1-based line of the eval command.
    pub line: usize,
    /// The query.
    pub query: String,
    /// What went wrong: expected versus got.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.query, self.message
        )
    }
}

/// Results of one script.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// The script file.
    pub file: String,
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed.
    pub failed: usize,
    /// Evals skipped (native histograms).
    pub skipped: usize,
    /// The failures, in script order.
    pub failures: Vec<Failure>,
    /// A script that could not be read or parsed.
    pub error: Option<String>,
}

/// Results of several scripts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per file, in path order.
    pub files: Vec<FileReport>,
}

impl Report {
    /// Evals passed in all files.
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }

    /// Evals failed in all files.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }

    /// Evals skipped in all files.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped).sum()
    }

    /// The per-file table and the totals, as `pitot promqltest` and `pitot logqltest`
    /// print them; the last line is `N passed, M failed, K skipped`.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let width = self
            .files
            .iter()
            .map(|f| f.file.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "{:<width$}  {:>6}  {:>6}  {:>7}",
            "file", "passed", "failed", "skipped"
        );
        for f in &self.files {
            let _ = writeln!(
                s,
                "{:<width$}  {:>6}  {:>6}  {:>7}{}",
                f.file,
                f.passed,
                f.failed,
                f.skipped,
                f.error
                    .as_ref()
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
        // The last line is the contract: `N passed, M failed, K skipped`.
        let _ = writeln!(
            s,
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        );
        s
    }
}
