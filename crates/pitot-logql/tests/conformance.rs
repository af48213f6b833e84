//! Runs Loki's LogQL test scripts from `shared/conformance/logql` and fails when fewer
//! evals pass than the ratchet in `conformance_ratchet.txt` records.

use std::path::PathBuf;

use pitot_logql::logqltest::run_dir;

#[test]
fn loki_logql_scripts() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = crate_dir.join("../../../shared/conformance/logql");
    if !dir.is_dir() {
        eprintln!(
            "skipping: conformance scripts not found at {}",
            dir.display()
        );
        return;
    }
    let report = run_dir(&dir).expect("read conformance directory");
    for file in &report.files {
        for failure in &file.failures {
            println!("FAIL {failure}");
        }
    }
    print!("{}", report.table());
    let ratchet: usize = std::fs::read_to_string(crate_dir.join("tests/conformance_ratchet.txt"))
        .expect("read ratchet")
        .trim()
        .parse()
        .expect("ratchet is a number");
    assert!(
        report.passed() >= ratchet,
        "conformance regressed: {} evals passed, the ratchet is {ratchet}",
        report.passed()
    );
}

/// The runner itself must be able to fail: wrong values, labels, gaps, emptiness and
/// failure expectations are all reported.
#[test]
fn runner_reports_wrong_expectations() {
    let script = r#"
load
  {app="a"} "x" @ 10s [repeat every 10s for 6]

eval instant at 60s count_over_time({app="a"}[1m])
  {app="a"} 7

eval instant at 60s count_over_time({app="a"}[1m])
  {app="b"} 6

eval range from 0 to 60s step 30s count_over_time({app="a"}[30s])
  {app="a"} 0 3 3

eval instant at 60s count_over_time({app="a"}[1m])
  expect empty

eval instant at 60s count_over_time({app="a"}[1m])
  expect fail

eval instant at 60s count_over_time({app="a"}[1m])
  {app="a"} 6

eval range from 0 to 60s step 30s count_over_time({app="a"}[30s])
  {app="a"} _ 3 3
"#;
    let report = pitot_logql::logqltest::run_script("bad", script);
    for f in &report.failures {
        println!("{f}");
    }
    assert_eq!((report.passed, report.failed), (2, 5));
}

/// Pitot's own hand-computed scripts (parsers, aggregations, binary operations) must
/// all pass.
#[test]
fn pitot_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let report = run_dir(&dir).expect("read scripts");
    for file in &report.files {
        assert!(file.error.is_none(), "{}: {:?}", file.file, file.error);
        for failure in &file.failures {
            println!("FAIL {failure}");
        }
    }
    print!("{}", report.table());
    assert_eq!(report.failed(), 0);
    assert!(report.passed() > 50);
}
