//! Invalid durations on the command line stop `pitot serve` at start, with a message
//! that names the setting and the value, instead of running with a surprising value.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `pitot serve` with `args`; returns its stderr if it exits with an error within
/// 5 s, and fails the test if it starts serving instead.
fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pitot"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pitot");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pitot serve {args:?} started instead of refusing the value");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        !status.success(),
        "pitot serve {args:?} exited successfully: {stderr}"
    );
    stderr
}

#[test]
fn malformed_durations_are_refused() {
    for (flag, value, field) in [
        ("--retention", "2x", "storage.retention"),
        ("--block-range", "10q", "storage.block_range"),
        (
            "--creation-grace-period",
            "1h30",
            "limits.creation_grace_period",
        ),
    ] {
        let stderr = refused(&[flag, value]);
        assert!(
            stderr.contains(field) && stderr.contains(value),
            "{flag} {value}: the error should name {field} and the value: {stderr}"
        );
    }
}

/// A word is not a duration: `--retention forever` must not mean a retention of zero
/// (which would delete every block at the next maintenance tick).
#[test]
fn words_are_not_durations() {
    for (flag, value, field) in [
        ("--retention", "forever", "storage.retention"),
        (
            "--out-of-order-window",
            "off",
            "storage.out_of_order_window",
        ),
        ("--block-range", "nonsense", "storage.block_range"),
    ] {
        let stderr = refused(&[flag, value]);
        assert!(
            stderr.contains(field) && stderr.contains(value),
            "{flag} {value}: the error should name {field} and the value: {stderr}"
        );
    }
}

/// The configuration example in the README, copied as it is into `pitot.yaml`, starts a
/// server (it once named an overrides file that had to exist).
#[test]
fn the_readme_configuration_example_starts_a_server() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("read README.md");
    let intro = readme
        .find("pitot serve --config pitot.yaml")
        .expect("the README introduces its configuration example");
    let block = &readme[intro..];
    let start = block.find("```yaml\n").expect("a yaml block follows") + "```yaml\n".len();
    let end = block[start..].find("```").expect("the block ends") + start;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pitot.yaml");
    std::fs::write(&config, &block[start..end]).unwrap();
    // From the directory the file is in, as a user who copied it would run it; the data
    // directory and address come from flags so the test runs anywhere.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pitot"))
        .current_dir(dir.path())
        .args(["serve", "--config", "pitot.yaml", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pitot");
    let mut stdout = child.stdout.take().unwrap();
    let mut line = [0u8; 64];
    let n = stdout.read(&mut line).unwrap_or(0);
    let started = String::from_utf8_lossy(&line[..n]).contains("pitot listening on");
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        started,
        "the README's example did not start a server: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pitot check config` and `pitot check rules`, as promtool's checks: success says so,
/// every problem is named with where it is, and the exit status tells which.
#[test]
fn check_commands_find_problems_without_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let pitot = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pitot"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    std::fs::write(
        dir.path().join("good.yml"),
        "data_dir: ./data\nquery:\n  timeout: 2m\n",
    )
    .unwrap();
    let (ok, out) = pitot(&["check", "config", "good.yml"]);
    assert!(ok && out.contains("SUCCESS"), "{out}");
    std::fs::write(dir.path().join("bad.yml"), "query:\n  timeout: 2 minutes\n").unwrap();
    let (ok, out) = pitot(&["check", "config", "bad.yml"]);
    assert!(!ok && out.contains("query.timeout"), "{out}");
    std::fs::write(
        dir.path().join("missing.yml"),
        "runtime_config:\n  file: overrides.yaml\n",
    )
    .unwrap();
    let (ok, out) = pitot(&["check", "config", "missing.yml"]);
    assert!(!ok && out.contains("overrides.yaml"), "{out}");
    let (ok, out) = pitot(&["check", "config", "nosuch.yml"]);
    assert!(!ok && out.contains("nosuch.yml"), "{out}");

    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yml"),
        "groups:\n  - name: g\n    rules:\n      - record: ok:up\n        expr: up\n      - alert: Broken\n        expr: sum(\n",
    )
    .unwrap();
    let (ok, out) = pitot(&["check", "rules", "rules.yml"]);
    assert!(ok && out.contains("SUCCESS: 1 rules found"), "{out}");
    let (ok, out) = pitot(&["check", "rules", "rules.yml", "broken.yml"]);
    assert!(!ok, "{out}");
    assert!(out.contains("SUCCESS: 1 rules found"), "{out}");
    assert!(
        out.contains("broken.yml:6:9: group \"g\", rule 2, \"Broken\""),
        "the problem is named with its line and column: {out}"
    );
}
