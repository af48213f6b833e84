//! Runs Prometheus' PromQL test scripts from `../shared/conformance/promql` and fails when
//! fewer evals pass than the ratchet in `conformance_ratchet.txt` records.

use std::path::PathBuf;

use pitot_promql::promqltest::run_dir;

#[test]
fn prometheus_promql_scripts() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = crate_dir.join("../../../shared/conformance/promql");
    if !dir.is_dir() {
        eprintln!(
            "skipping: conformance scripts not found at {}",
            dir.display()
        );
        return;
    }
    let report = run_dir(&dir, true).expect("read conformance directory");
    for file in &report.files {
        for failure in file.failures.iter() {
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
