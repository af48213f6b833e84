//! Acknowledged logs survive restarts and `kill -9`, pushed by our own concurrent
//! clients and by a real Loki client library from PyPI (python-logging-loki).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{now_ns, TestServer};
use serde_json::json;

/// Lines of `query` as a set (at most 5,000, the per-query maximum).
fn line_set(server: &TestServer, token: &str, query: &str, start: i64) -> BTreeSet<String> {
    server
        .loki_lines(token, query, start, 5000)
        .into_iter()
        .map(|(_, _, l)| l)
        .collect()
}

#[test]
fn concurrent_pushes_lose_nothing_acknowledged_on_kill9() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let start = now_ns() - 1_000_000_000;
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let sent = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = server.base_url().to_string();
    let mut clients = Vec::new();
    for c in 0..3 {
        let (acked, sent, stop, base, token) = (
            Arc::clone(&acked),
            Arc::clone(&sent),
            Arc::clone(&stop),
            base.clone(),
            token.clone(),
        );
        clients.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            for batch in 0..150 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let lines: Vec<String> = (0..8).map(|i| format!("client={c} batch={batch} i={i}")).collect();
                sent.lock().unwrap().extend(lines.iter().cloned());
                let t = now_ns();
                let values: Vec<_> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| json!([(t + i as i64).to_string(), l]))
                    .collect();
                let body = json!({"streams": [{"stream": {"app": "crash", "client": c.to_string()}, "values": values}]});
                match client
                    .post(format!("{base}/loki/api/v1/push"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                {
                    Ok(r) if r.status().as_u16() == 204 => acked.lock().unwrap().extend(lines),
                    _ => break,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(700));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    server.start_again();
    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few pushes acknowledged to test anything: {}",
        acked.len()
    );
    let stored = line_set(&server, &token, "{app=\"crash\"}", start);
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged lines lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let invented: Vec<_> = stored.difference(&sent).collect();
    assert!(invented.is_empty(), "lines never sent: {invented:?}");
}

/// Whether python3 can import logging_loki; CI sets `PITOT_REQUIRE_PY_LOKI=1` to make
/// its absence a failure instead of a skip.
fn python_client_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import logging_loki"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("PITOT_REQUIRE_PY_LOKI").as_deref() == Ok("1") {
        panic!("python-logging-loki is required (pip install python-logging-loki)");
    }
    ok
}

/// Runs the Python client; returns the indexes it saw acknowledged.
fn run_python(
    server_url: &str,
    token: &str,
    count: usize,
    app: &str,
    kill_after: Option<(Duration, &mut TestServer)>,
) -> BTreeSet<usize> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/loki_python_client.py"
    );
    let mut child = Command::new("python3")
        .args([
            script,
            &format!("{server_url}/loki/api/v1/push"),
            token,
            &count.to_string(),
            app,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3");
    let stdout = child.stdout.take().unwrap();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let reader = {
        let acked = Arc::clone(&acked);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.strip_prefix("ACK ") {
                    acked.lock().unwrap().insert(i.parse::<usize>().unwrap());
                }
            }
        })
    };
    if let Some((after, server)) = kill_after {
        std::thread::sleep(after);
        server.kill9();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "python client exited with {status}");
    let acked = acked.lock().unwrap().clone();
    acked
}

#[test]
fn python_logging_loki_pushes_survive_restart_and_kill9() {
    if !python_client_available() {
        eprintln!(
            "skipped: python-logging-loki is not installed (pip install python-logging-loki)"
        );
        return;
    }
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let start = now_ns() - 1_000_000_000;
    let url = server.base_url().to_string();

    let acked = run_python(&url, &token, 50, "pyclient", None);
    assert_eq!(acked.len(), 50, "every record acknowledged");
    let expected: BTreeSet<String> = (0..50).map(|i| format!("record {i} of pyclient")).collect();
    let lines = server.loki_lines(&token, "{application=\"pyclient\"}", start, 5000);
    assert!(
        lines
            .iter()
            .all(|(l, _, _)| l.get("severity").map(String::as_str) == Some("info")),
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .map(|(_, _, l)| l.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );

    server.restart();
    assert_eq!(
        line_set(&server, &token, "{application=\"pyclient\"}", start),
        expected,
        "after restart"
    );

    let url = server.base_url().to_string();
    let acked = run_python(
        &url,
        &token,
        100_000,
        "pykill",
        Some((Duration::from_millis(800), &mut server)),
    );
    assert!(!acked.is_empty(), "nothing acknowledged before the kill");
    server.start_again();
    let stored = line_set(&server, &token, "{application=\"pykill\"}", start);
    for i in &acked {
        assert!(
            stored.contains(&format!("record {i} of pykill")),
            "acknowledged record {i} lost"
        );
    }
    assert!(
        stored.len() <= acked.len() + 1,
        "at most the one unacknowledged in-flight record extra"
    );
    assert_eq!(
        line_set(&server, &token, "{application=\"pyclient\"}", start),
        expected,
        "first batch still there"
    );
}
