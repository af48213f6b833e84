//! Automatic block cuts: with a one-minute block range, five minutes of samples are cut
//! into blocks by the maintenance loop; after `kill -9` every sample is back exactly,
//! from blocks and the checkpointed WAL together, none twice; the blocks are complete
//! on disk; samples older than the last cut are refused unless they are new for their
//! series and within the out-of-order window; and a forced flush under live ingest
//! refuses nothing a client sends in order.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    assert_same_samples, label_map, now_ms, series, wait_until, write_request, TestServer,
};
use serde_json::Value;

const SERIES: usize = 20;
const STEP_MS: i64 = 5_000;
/// Five minutes of samples.
const SAMPLES: i64 = 60;

fn labels(j: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), "cut_test".into()),
        ("series".into(), format!("s{j:02}")),
        ("parity".into(), ["even", "odd"][j % 2].into()),
    ]
}

fn pairs(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Pushes samples `from..to` (indexes) of every series in one request.
fn push_range(
    server: &TestServer,
    base: i64,
    from: i64,
    to: i64,
    expected: &mut BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>,
) {
    let mut batch = Vec::new();
    for j in 0..SERIES {
        let l = labels(j);
        let samples: Vec<(i64, f64)> = (from..to)
            .map(|k| (base + k * STEP_MS, (j as f64) * 1000.0 + k as f64 * 0.5))
            .collect();
        batch.push(series(&pairs(&l), &samples));
        expected
            .entry(label_map(&pairs(&l)))
            .or_default()
            .extend(samples);
    }
    let (status, body) = server.push(&server.initial_token, &write_request(batch));
    assert_eq!(status, 204, "push samples {from}..{to}: {body}");
}

fn verify(
    server: &TestServer,
    expected: &BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>,
    when: &str,
) {
    let got = server.export_map(&server.initial_token, "cut_test");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{when}: series"
    );
    for (l, sent) in expected {
        assert_same_samples(&format!("{when}: {l:?}"), sent, &got[l]);
    }
    // A label-only read merges blocks and head without duplicates.
    let data = server.get_data(
        &server.initial_token,
        "/api/v1/series",
        &[("match[]", r#"cut_test{parity="odd"}"#)],
    );
    assert_eq!(
        data.as_array().unwrap().len(),
        SERIES / 2,
        "{when}: series API over blocks and head"
    );
}

/// `(ulid, minTime, maxTime, numSamples)` of every block of tenant `default` on disk,
/// after checking each block directory is complete.
fn blocks_on_disk(server: &TestServer) -> Vec<(String, i64, i64, u64)> {
    let dir = server.data_dir().join("blocks").join("default");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let ulid = path.file_name().unwrap().to_string_lossy().to_string();
        for file in ["meta.json", "index", "chunks"] {
            let f = path.join(file);
            assert!(f.is_file(), "block {ulid} lacks {file}");
            assert!(
                f.metadata().unwrap().len() > 0,
                "block {ulid} has an empty {file}"
            );
        }
        let meta: Value =
            serde_json::from_slice(&std::fs::read(path.join("meta.json")).unwrap()).unwrap();
        assert_eq!(
            meta["ulid"],
            ulid.as_str(),
            "meta.json of block directory {ulid}"
        );
        out.push((
            ulid,
            meta["minTime"].as_i64().expect("minTime"),
            meta["maxTime"].as_i64().expect("maxTime"),
            meta["stats"]["numSamples"]
                .as_u64()
                .expect("stats.numSamples"),
        ));
    }
    out.sort_by_key(|b| b.1);
    out
}

#[test]
fn blocks_are_cut_and_survive_kill_9() {
    let mut server = TestServer::start(&["--block-range", "1m", "--maintenance-interval", "1s"]);
    let base = now_ms() - 6 * 60_000;
    let mut expected = BTreeMap::new();
    // In order, a minute of samples per request.
    let per_request = SAMPLES / 5;
    for minute in 0..5 {
        push_range(
            &server,
            base,
            minute * per_request,
            (minute + 1) * per_request,
            &mut expected,
        );
    }

    // The head spans five minutes: at least four one-minute ranges end 30 s (half a
    // range) before its newest sample and are cut.
    let cut = wait_until(Duration::from_secs(20), || {
        server.metric("pitot_tsdb_blocks").unwrap_or(0.0) >= 4.0
    });
    assert!(
        cut,
        "blocks were not cut within 20 s: pitot_tsdb_blocks = {:?}; stderr:\n{}",
        server.metric("pitot_tsdb_blocks"),
        server.stderr()
    );
    verify(&server, &expected, "after the cut");

    // New samples after the cut go to the WAL written after the checkpoint.
    push_range(&server, base, SAMPLES, SAMPLES + 6, &mut expected);
    verify(&server, &expected, "after pushing more");

    server.kill9();
    let blocks = blocks_on_disk(&server);
    assert!(
        blocks.len() >= 4,
        "expected at least 4 blocks on disk, found {blocks:?}"
    );
    for w in blocks.windows(2) {
        assert!(w[0].2 <= w[1].1, "blocks overlap: {w:?}");
    }
    let last_cut = blocks.iter().map(|b| b.2).max().unwrap();
    let in_blocks: u64 = blocks.iter().map(|b| b.3).sum();
    let sent_before_cut = expected
        .values()
        .flatten()
        .filter(|(t, _)| *t < last_cut)
        .count() as u64;
    assert_eq!(
        in_blocks, sent_before_cut,
        "samples in blocks vs samples sent before the last cut ({blocks:?})"
    );

    server.start_again();
    assert!(
        server.metric("pitot_tsdb_blocks").unwrap() >= 4.0,
        "blocks not loaded after restart"
    );
    verify(&server, &expected, "after kill -9 and restart");

    // Older than the last cut and older than its series' newest sample: refused, since
    // a block may hold that timestamp, and named as such.
    let l = labels(0);
    let (status, body) = server.push(
        &server.initial_token,
        &write_request(vec![series(&pairs(&l), &[(last_cut - 1, 42.0)])]),
    );
    assert_eq!(
        status, 400,
        "a sample the series already passed was accepted: {body}"
    );
    assert!(
        body.contains("err-pitot-sample-timestamp-too-old"),
        "{body}"
    );
    verify(&server, &expected, "after a refused old sample");

    // Older than the last cut by more than the window: refused, and named as such.
    let (status, body) = server.push(
        &server.initial_token,
        &write_request(vec![series(
            &[("__name__", "cut_test_too_old")],
            &[(last_cut - 11 * 60_000, 42.0)],
        )]),
    );
    assert_eq!(
        status, 400,
        "a sample older than the last cut by more than the window was accepted: {body}"
    );
    assert!(
        body.contains("err-pitot-sample-timestamp-too-old"),
        "{body}"
    );
    verify(&server, &expected, "after a refused old sample");
}

/// `POST /api/pitot/v1/admin/flush` while a client is still sending: a batch that
/// arrives after the flush with samples older than the flushed data (but within the
/// out-of-order window) is stored, read back beside the block, kept across `kill -9`,
/// and cut into a block of its own on the next flush. Prometheus used to get a 400 here
/// and drop the batch for good.
#[test]
fn a_flush_under_live_ingest_refuses_nothing_inside_the_window() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let platform = server.platform_token.clone();
    let t0 = now_ms();
    let a = [("__name__", "flush_live"), ("series", "a")];
    let b = [("__name__", "flush_live"), ("series", "b")];
    // Series b lags series a, as shards of one client do.
    let mut sent_a = vec![(t0 - 60_000, 1.0), (t0, 2.0)];
    let mut sent_b = vec![(t0 - 60_000, 10.0), (t0 - 30_000, 11.0)];
    let (status, body) = server.push(
        &token,
        &write_request(vec![series(&a, &sent_a), series(&b, &sent_b)]),
    );
    assert_eq!(status, 204, "{body}");
    let flush = |server: &TestServer| {
        let response = server
            .post("/api/pitot/v1/admin/flush")
            .bearer_auth(&platform)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "flush");
    };
    flush(&server);

    // The next batch: in order for each series; b's sample is older than a's newest,
    // so older than the end of the flushed block.
    let late_b = vec![(t0 - 15_000, 12.0)];
    let late_a = vec![(t0 + 5_000, 3.0)];
    let (status, body) = server.push(
        &token,
        &write_request(vec![series(&b, &late_b), series(&a, &late_a)]),
    );
    assert_eq!(status, 204, "the batch after the flush was refused: {body}");
    sent_b.extend(late_b);
    sent_a.extend(late_a);
    let check = |server: &TestServer, when: &str| {
        let got = server.export_map(&token, "flush_live");
        assert_same_samples(&format!("{when}: a"), &sent_a, &got[&label_map(&a)]);
        assert_same_samples(&format!("{when}: b"), &sent_b, &got[&label_map(&b)]);
        assert_eq!(got[&label_map(&a)].len(), sent_a.len(), "{when}: a");
        assert_eq!(got[&label_map(&b)].len(), sent_b.len(), "{when}: b");
    };
    check(&server, "after the late batch");
    server.kill9();
    server.start_again();
    check(&server, "after kill -9");
    flush(&server);
    check(&server, "after the second flush");
    server.restart();
    check(&server, "from blocks after a restart");

    // A timestamp a series already passed, below the cut, is refused (a block may hold
    // it); so is a new series' sample beyond the window (10m behind the flushed data).
    let (status, body) = server.push(
        &token,
        &write_request(vec![series(&b, &[(t0 - 45_000, 1.0)])]),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.push(
        &token,
        &write_request(vec![series(
            &[("__name__", "flush_live"), ("series", "c")],
            &[(t0 - 11 * 60_000, 1.0)],
        )]),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too-old"), "{body}");
}
