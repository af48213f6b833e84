//! A runner for Loki's LogQL test scripts (the `.logqltest` format).
//!
//! Scripts `load` entries into a [`MemLogStore`] and `eval` metric queries against the
//! engine, comparing results with the expectations written in the script. Only the
//! "direct" execution stack exists in Pitot, so `skip values-comparison on "<stack>"`
//! lines are ignored. Every eval counts as one test.

mod script;
mod storage;

use std::io::Write;
use std::path::{Path, PathBuf};

use pitot_core::{Labels, TenantId};
use pitot_storage_api::LogEntry;

pub use script::{parse_script, Command, Eval, Expect, LoadLine, ScriptError};
pub use storage::MemLogStore;

use crate::{Direction, LogqlEngine, LogqlOptions, QueryData, QueryParams};

pub use pitot_core::conformance::{Failure, FileReport, Report};

/// The `.logqltest` files directly in `dir`, sorted.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "logqltest"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every script in `dir`.
pub fn run_dir(dir: &Path) -> std::io::Result<Report> {
    Ok(Report {
        files: test_files(dir)?.iter().map(|f| run_file(f)).collect(),
    })
}

/// Runs one script file.
pub fn run_file(path: &Path) -> FileReport {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&name, &text),
        Err(e) => FileReport {
            file: name,
            error: Some(e.to_string()),
            ..FileReport::default()
        },
    }
}

/// The entry point of `pitot logqltest PATH...`: runs files and directories, prints
/// one line per failure, the per-file table and the totals; returns the exit code (0
/// when every eval passed).
pub fn run_cli(args: &[String]) -> i32 {
    let mut out = std::io::stdout().lock();
    if args.is_empty() {
        let _ = writeln!(out, "usage: logqltest PATH...");
        return 2;
    }
    let mut report = Report::default();
    for a in args {
        let p = PathBuf::from(a);
        let files = if p.is_dir() {
            match test_files(&p) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(out, "cannot read {}: {e}", p.display());
                    return 2;
                }
            }
        } else {
            vec![p]
        };
        for f in files {
            let fr = run_file(&f);
            for failure in &fr.failures {
                let _ = writeln!(out, "FAIL {failure}");
            }
            report.files.push(fr);
        }
    }
    let _ = write!(out, "{}", report.table());
    if report.failed() == 0 && report.files.iter().all(|f| f.error.is_none()) {
        0
    } else {
        1
    }
}

/// Runs a script given as text.
pub fn run_script(name: &str, text: &str) -> FileReport {
    let mut report = FileReport {
        file: name.to_string(),
        ..FileReport::default()
    };
    let commands = match parse_script(text) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    let store = MemLogStore::new();
    let tenant = TenantId::new("logqltest").expect("valid tenant");
    let engine = LogqlEngine::new(LogqlOptions {
        max_series: 10_000,
        ..LogqlOptions::default()
    });
    for cmd in &commands {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load(lines) => {
                for l in lines {
                    let entries = l
                        .entries
                        .iter()
                        .map(|(ts, line, md)| LogEntry {
                            ts: *ts,
                            line: line.clone(),
                            metadata: md.clone(),
                        })
                        .collect();
                    store.append(&tenant, &l.labels, entries);
                }
            }
            Command::Eval(eval) => match run_eval(&engine, &store, &tenant, eval) {
                Ok(()) => report.passed += 1,
                Err(message) => {
                    report.failed += 1;
                    report.failures.push(Failure {
                        file: report.file.clone(),
                        line: eval.line,
                        query: eval.query.clone(),
                        message,
                    });
                }
            },
        }
    }
    report
}

fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-9 || diff / a.abs().max(b.abs()) <= 1e-6
}

fn run_eval(
    engine: &LogqlEngine,
    store: &MemLogStore,
    tenant: &TenantId,
    eval: &Eval,
) -> Result<(), String> {
    let params = QueryParams {
        query: eval.query.clone(),
        start: eval.start,
        end: eval.end,
        step: eval.step,
        interval: None,
        limit: 1000,
        direction: Direction::Backward,
        instant: eval.instant,
    };
    let result = futures::executor::block_on(engine.query(store, tenant, &params));
    let data = match (&eval.expect, result) {
        (Expect::Fail { msg, regex }, Err(e)) => {
            let text = e.to_string();
            if let Some(m) = msg {
                if !text.contains(m.as_str()) {
                    return Err(format!("expected error containing {m:?}, got {text:?}"));
                }
            }
            if let Some(r) = regex {
                let re = regex::Regex::new(r).map_err(|e| format!("bad expectation regex: {e}"))?;
                if !re.is_match(&text) {
                    return Err(format!("expected error matching {r:?}, got {text:?}"));
                }
            }
            return Ok(());
        }
        (Expect::Fail { .. }, Ok(out)) => {
            return Err(format!("expected failure, got {}", describe(&out.data)));
        }
        (_, Err(e)) => return Err(format!("unexpected error: {e}")),
        (_, Ok(out)) => out.data,
    };
    let n_steps = if eval.instant {
        1
    } else {
        ((eval.end - eval.start) / eval.step) as usize + 1
    };
    let steps_ms: Vec<i64> = (0..n_steps)
        .map(|i| (eval.start + i as i64 * eval.step) / 1_000_000)
        .collect();
    // Normalise the result to series with one optional point per step.
    let got: Vec<(Labels, Vec<Option<f64>>)> = match &data {
        QueryData::Vector(v) => v
            .iter()
            .map(|(l, _, x)| (l.clone(), vec![Some(*x)]))
            .collect(),
        QueryData::Matrix(m) => m
            .iter()
            .map(|(l, pts)| {
                let mut row = vec![None; n_steps];
                for (t, v) in pts {
                    if let Some(i) = steps_ms.iter().position(|s| s == t) {
                        row[i] = Some(*v);
                    }
                }
                (l.clone(), row)
            })
            .collect(),
        QueryData::Scalar(_, v) => {
            return match &eval.expect {
                Expect::Scalar(e) if almost_equal(*e, *v) => Ok(()),
                _ => Err(format!("got scalar {v}, expected {:?}", eval.expect)),
            }
        }
        QueryData::Streams(_) => return Err("got streams from a metric eval".into()),
    };
    match &eval.expect {
        Expect::Empty => {
            if got.is_empty() {
                Ok(())
            } else {
                Err(format!("expected empty, got {}", describe(&data)))
            }
        }
        Expect::Scalar(e) => match got.as_slice() {
            [(l, p)]
                if l.is_empty() && p.len() == 1 && p[0].is_some_and(|v| almost_equal(v, *e)) =>
            {
                Ok(())
            }
            _ => Err(format!("expected scalar {e}, got {}", describe(&data))),
        },
        Expect::Series { ordered, series } => {
            let mismatch = || {
                format!(
                    "expected {}, got {}",
                    describe_expected(series),
                    describe(&data)
                )
            };
            if got.len() != series.len() {
                return Err(mismatch());
            }
            for (i, (el, ep)) in series.iter().enumerate() {
                let found = if *ordered {
                    got.get(i).filter(|(l, _)| l == el)
                } else {
                    got.iter().find(|(l, _)| l == el)
                };
                let Some((_, gp)) = found else {
                    return Err(mismatch());
                };
                if ep.len() != gp.len() {
                    return Err(mismatch());
                }
                for (e, g) in ep.iter().zip(gp) {
                    match (e, g) {
                        (None, None) => {}
                        (Some(a), Some(b)) if almost_equal(*a, *b) => {}
                        _ => return Err(mismatch()),
                    }
                }
            }
            Ok(())
        }
        Expect::Fail { .. } => unreachable!("handled above"),
    }
}

fn fmt_point(p: &Option<f64>) -> String {
    match p {
        None => "_".into(),
        Some(v) => format!("{v}"),
    }
}

fn describe_expected(series: &[(Labels, Vec<Option<f64>>)]) -> String {
    let parts: Vec<String> = series
        .iter()
        .map(|(l, p)| {
            format!(
                "{l} {}",
                p.iter().map(fmt_point).collect::<Vec<_>>().join(" ")
            )
        })
        .collect();
    format!("[{}]", parts.join("; "))
}

fn describe(data: &QueryData) -> String {
    match data {
        QueryData::Scalar(_, v) => format!("scalar {v}"),
        QueryData::Vector(v) => {
            let parts: Vec<String> = v.iter().map(|(l, _, x)| format!("{l} {x}")).collect();
            format!("[{}]", parts.join("; "))
        }
        QueryData::Matrix(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(l, pts)| {
                    format!(
                        "{l} {}",
                        pts.iter()
                            .map(|(t, v)| format!("{v}@{t}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })
                .collect();
            format!("[{}]", parts.join("; "))
        }
        QueryData::Streams(s) => format!("{} streams", s.len()),
    }
}
