//! `promtool test rules` verdicts on the conformance files: the passing files pass, the
//! failing and `bad-*` files fail, and `rules_run.yml` passes only with `--run`.

use std::path::{Path, PathBuf};

use pitot_rules::unittest::{run_file, write_report};

fn dir() -> Option<PathBuf> {
    let d =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promtool-rules");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: {} is absent", d.display());
        None
    }
}

fn verdict(d: &Path, name: &str, run: &[String]) -> (bool, String) {
    let report = run_file(&d.join(name), run);
    let mut out = Vec::new();
    write_report(&report, &mut out).unwrap();
    (report.passed(), String::from_utf8(out).unwrap())
}

#[test]
fn passing_files_pass() {
    let Some(d) = dir() else { return };
    for f in ["unittest.yml", "long-period.yml", "at-modifier-test.yml"] {
        let (ok, out) = verdict(&d, f, &[]);
        assert!(ok, "{f} should pass:\n{out}");
        assert!(out.contains("  SUCCESS"), "{out}");
    }
}

#[test]
fn failing_files_fail() {
    let Some(d) = dir() else { return };
    let mut bad: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("bad-") && n.ends_with("-test.yml")
                || n == "bad-input-series.yml"
                || n == "bad-promql.yml"
        })
        .collect();
    bad.push("failing.yml".into());
    bad.sort();
    assert!(bad.len() >= 5, "{bad:?}");
    for f in &bad {
        let (ok, out) = verdict(&d, f, &[]);
        assert!(!ok, "{f} should fail:\n{out}");
        assert!(out.contains("  FAILED:"), "{out}");
    }
}

#[test]
fn failing_report_shows_expected_and_got() {
    let Some(d) = dir() else { return };
    let (_, out) = verdict(&d, "failing.yml", &[]);
    assert!(out.contains("    name: Failing test,"), "{out}");
    assert!(out.contains("exp: {__name__=\"test\"} 1E+00"), "{out}");
    assert!(out.contains("got: {__name__=\"test\"} 0E+00"), "{out}");
    assert!(out.contains("alertname: InstanceDown, time: 5m0s"), "{out}");
    assert!(out.contains("alertname: AlwaysFiring, time: 5m0s"), "{out}");
    let (_, out) = verdict(&d, "bad-rules-error-test.yml", &[]);
    assert!(out.contains("rule: joined, time: 0s, err:"), "{out}");
    let (_, out) = verdict(&d, "bad-rules-syntax-test.yml", &[]);
    assert!(out.contains("group \"bad-syntax\", rule 1, \"x\""), "{out}");
}

#[test]
fn run_selects_test_groups() {
    let Some(d) = dir() else { return };
    let (ok, out) = verdict(&d, "rules_run.yml", &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("name: wrong test"), "{out}");
    let (ok, out) = verdict(&d, "rules_run.yml", &["correct".to_string()]);
    assert!(ok, "{out}");
}
