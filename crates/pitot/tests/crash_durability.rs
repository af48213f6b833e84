//! `kill -9` in the middle of concurrent pushes, several times over on one data
//! directory: every acknowledged sample comes back exactly; a batch that was not
//! acknowledged is either wholly there or wholly absent (one request is one WAL record);
//! nothing appears that was never sent; and what recovery found stays found.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use common::{encode_exact, now_ms, same_samples, series, write_request, TestServer};

type LabelSet = BTreeMap<String, String>;

const ROUNDS: u32 = 3;
const CLIENTS: u32 = 4;

/// One pushed request, identified by round, client and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct BatchId {
    round: u32,
    client: u32,
    seq: u32,
}

/// The series of a batch: unique to it, with values unique to each sample. Client 0
/// sends large requests (large WAL records, more likely torn by the kill), the others
/// small ones of varying size.
fn batch_series(id: BatchId, base: i64) -> Vec<(LabelSet, Vec<(i64, f64)>)> {
    let (n_series, n_samples) = if id.client == 0 {
        (25, 12)
    } else {
        (1 + (id.seq % 4) as usize, 1 + (id.seq % 13) as usize)
    };
    (0..n_series)
        .map(|j| {
            let labels: LabelSet = [
                ("__name__", "crash_test".to_string()),
                ("round", id.round.to_string()),
                ("client", id.client.to_string()),
                ("seq", id.seq.to_string()),
                ("s", j.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let samples = (0..n_samples)
                .map(|k| {
                    let t = base + k as i64 * 1_000 + (id.seq % 1000) as i64;
                    let v = f64::from(id.round) * 1e12
                        + f64::from(id.client) * 1e10
                        + f64::from(id.seq) * 1e5
                        + (j * 100 + k) as f64
                        + 0.25;
                    (t, v)
                })
                .collect();
            (labels, samples)
        })
        .collect()
}

/// Pushes batches until the server stops answering; returns each batch with whether
/// it was acknowledged (204).
fn client_loop(
    url: String,
    token: String,
    round: u32,
    client: u32,
    base: i64,
) -> Vec<(BatchId, bool)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut out = Vec::new();
    for seq in 0.. {
        let id = BatchId { round, client, seq };
        let request = write_request(
            batch_series(id, base)
                .iter()
                .map(|(labels, samples)| {
                    let pairs: Vec<(&str, &str)> = labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    series(&pairs, samples)
                })
                .collect(),
        );
        let result = http
            .post(format!("{url}/api/v1/push"))
            .bearer_auth(&token)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(encode_exact(&request))
            .send();
        match result {
            Ok(response) if response.status().as_u16() == 204 => {
                out.push((id, true));
                // Pace the clients a little, so the data checked after each crash stays
                // small enough to keep the test fast; four of them still overlap.
                std::thread::sleep(Duration::from_millis(3));
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().unwrap_or_default();
                panic!("push {id:?} answered {status} while the server was up: {text}");
            }
            Err(_) => {
                // The server is gone: this batch may or may not have been stored.
                out.push((id, false));
                return out;
            }
        }
    }
    unreachable!("the loop ends when the server is killed")
}

/// What the test knows of every batch sent so far.
#[derive(Default)]
struct Ledger {
    bases: HashMap<u32, i64>,
    batches: BTreeMap<BatchId, bool>,
    /// For unacknowledged batches: whether the first recovery after them found them.
    seen: HashMap<BatchId, bool>,
}

impl Ledger {
    fn check(&mut self, server: &TestServer, when: &str) {
        let got = server.export_map(&server.initial_token, "crash_test");
        let mut sent_series: BTreeSet<&LabelSet> = BTreeSet::new();
        let mut expected_all = Vec::new();
        for (&id, &acked) in &self.batches {
            expected_all.push((id, acked, batch_series(id, self.bases[&id.round])));
        }
        let (mut acked_n, mut unacked_present, mut unacked_absent) = (0, 0, 0);
        for (id, acked, expected) in &expected_all {
            let present = expected
                .iter()
                .filter(|(labels, _)| got.contains_key(labels))
                .count();
            for (labels, samples) in expected {
                sent_series.insert(labels);
                if let Some(stored) = got.get(labels) {
                    assert!(
                        same_samples(samples, stored),
                        "{when}: series {labels:?} of batch {id:?} (acknowledged: {acked}) differs:\nsent {samples:?}\ngot  {stored:?}"
                    );
                }
            }
            if *acked {
                acked_n += 1;
                assert_eq!(
                    present,
                    expected.len(),
                    "{when}: acknowledged batch {id:?} lost {} of its {} series",
                    expected.len() - present,
                    expected.len()
                );
            } else {
                assert!(
                    present == 0 || present == expected.len(),
                    "{when}: unacknowledged batch {id:?} is partly stored: {present} of {} series",
                    expected.len()
                );
                let found = present > 0;
                if found {
                    unacked_present += 1;
                } else {
                    unacked_absent += 1;
                }
                let first = *self.seen.entry(*id).or_insert(found);
                assert_eq!(first, found, "{when}: unacknowledged batch {id:?} was found={first} by an earlier recovery, now {found}");
            }
        }
        for labels in got.keys() {
            assert!(
                sent_series.contains(labels),
                "{when}: series {labels:?} was never sent"
            );
        }
        eprintln!(
            "{when}: {acked_n} acknowledged batches all present; unacknowledged: {unacked_present} present, {unacked_absent} absent"
        );
    }
}

#[test]
fn acknowledged_pushes_survive_kill_9() {
    let mut server = TestServer::start(&[]);
    let mut ledger = Ledger::default();
    for round in 0..ROUNDS {
        let base = now_ms() - 5 * 60_000;
        ledger.bases.insert(round, base);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (url, token) = (server.base_url().to_string(), server.initial_token.clone());
                std::thread::spawn(move || client_loop(url, token, round, client, base))
            })
            .collect();
        // Kill at a different moment of the write cycle each round.
        std::thread::sleep(Duration::from_millis(700 + 230 * u64::from(round)));
        server.kill9();
        for client in clients {
            let results = client.join().expect("client thread panicked");
            assert!(
                results.iter().filter(|(_, acked)| *acked).count() > 0,
                "round {round}: a client got no push acknowledged"
            );
            ledger.batches.extend(results);
        }
        server.start_again();
        ledger.check(&server, &format!("after kill -9 #{}", round + 1));
    }
    // A graceful restart changes nothing, and pushes still work afterwards.
    server.restart();
    ledger.check(&server, "after a final graceful restart");
    let t = now_ms();
    let (status, body) = server.push(
        &server.initial_token,
        &write_request(vec![series(&[("__name__", "after_crashes")], &[(t, 1.0)])]),
    );
    assert_eq!(status, 204, "push after the crashes: {body}");
}

/// A second server on a data directory in use refuses to start and names the holder; once
/// the holder is killed with `kill -9`, a new server starts on it with nothing to clean up.
#[test]
fn a_data_directory_serves_one_process_at_a_time() {
    let mut server = TestServer::start(&[]);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_pitot"))
        .arg("serve")
        .arg("--data-dir")
        .arg(server.data_dir())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("run a second pitot");
    assert!(!second.status.success(), "the second server started");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("is in use by another pitot process") && stderr.contains("--data-dir"),
        "{stderr}"
    );
    let wal_files = |dir: &std::path::Path| std::fs::read_dir(dir.join("wal")).unwrap().count();
    let before = wal_files(server.data_dir());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        wal_files(server.data_dir()),
        before,
        "the second server wrote WAL files"
    );

    server.kill9();
    server.start_again();
    let (status, body) = server.push(
        &server.initial_token.clone(),
        &write_request(vec![series(
            &[("__name__", "after_restart")],
            &[(now_ms(), 1.0)],
        )]),
    );
    assert_eq!(status, 204, "{body}");
}
