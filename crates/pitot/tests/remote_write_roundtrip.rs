//! Remote write in, every read API out: samples come back bit for bit (NaN payloads
//! aside, which export cannot show) from the head, after a graceful restart (WAL
//! replay), after a flush into blocks, and after a restart on blocks.

mod common;

use std::collections::BTreeMap;

use common::{
    assert_same_samples, label_map, now_ms, series, write_request, TestServer, STALE_NAN,
};
use serde_json::{json, Value};

type Expected = BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>;
/// Labels as sent, in request order, and samples.
type SentSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

const SERIES: usize = 40;
const SAMPLES: usize = 240;
const STEP_MS: i64 = 1_000;

/// A value for sample `k` of series `j`: the special values early in each series, then
/// arbitrary finite bit patterns, which exercise every branch of the XOR encoding.
fn value(j: usize, k: usize, rng: &mut u64) -> f64 {
    let special = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        f64::from_bits(STALE_NAN),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        1e300,
        0.1,
        1.0 / 3.0,
        std::f64::consts::PI,
    ];
    let slot = (k + j) % 64;
    if slot < special.len() {
        return special[slot];
    }
    if k % 7 == 3 {
        // Repeats and small steps, as real counters and gauges have.
        return (j * 1000 + k / 7) as f64;
    }
    loop {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let v = f64::from_bits(*rng);
        if v.is_finite() {
            return v;
        }
    }
}

fn labels_of(j: usize) -> Vec<(String, String)> {
    let instance = if j == 3 {
        format!("i{j} ünïcødé \"q\"")
    } else {
        format!("i{j}")
    };
    vec![
        ("__name__".into(), "rt_metric".into()),
        ("job".into(), format!("job{}", j % 3)),
        ("instance".into(), instance),
    ]
}

/// Pushes every series in four requests, each a time slice of all of them, in order.
fn push_all(server: &TestServer, base: i64) -> Expected {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut expected: Expected = BTreeMap::new();
    let all: Vec<SentSeries> = (0..SERIES)
        .map(|j| {
            let samples = (0..SAMPLES)
                .map(|k| (base + k as i64 * STEP_MS, value(j, k, &mut rng)))
                .collect();
            (labels_of(j), samples)
        })
        .collect();
    let other = (
        vec![
            ("__name__".to_string(), "rt_other".to_string()),
            ("job".to_string(), "x".to_string()),
        ],
        (0..SAMPLES)
            .map(|k| (base + k as i64 * STEP_MS, k as f64))
            .collect::<Vec<_>>(),
    );
    let mut everything = all;
    everything.push(other);
    let slices = 4;
    let per = SAMPLES / slices;
    for s in 0..slices {
        let batch = everything
            .iter()
            .map(|(labels, samples)| {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                series(&pairs, &samples[s * per..(s + 1) * per])
            })
            .collect();
        let (status, body) = server.push(&server.initial_token, &write_request(batch));
        assert_eq!(status, 204, "push slice {s}: {body}");
    }
    for (labels, samples) in everything {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        expected.insert(label_map(&pairs), samples);
    }
    expected
}

fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect();
    out.sort();
    out
}

/// Every read API answers exactly what was pushed.
fn verify(server: &TestServer, expected: &Expected, when: &str) {
    let token = &server.initial_token;
    let got = server.export_map(token, r#"{__name__=~"rt_.+"}"#);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{when}: exported series differ"
    );
    for (labels, sent) in expected {
        assert_same_samples(&format!("{when}: {labels:?}"), sent, &got[labels]);
    }

    // One series selected by an exact match on a label value with quotes and non-ASCII
    // characters (single-quoted: escapes in selectors are the subject of
    // `selector_string_escapes_are_decoded`).
    let tricky = server.export(token, r#"rt_metric{instance='i3 ünïcødé "q"'}"#);
    assert_eq!(
        tricky.len(),
        1,
        "{when}: exact-match export of the unicode series"
    );
    assert_eq!(
        tricky[0].metric["instance"], "i3 ünïcødé \"q\"",
        "{when}: label value with quotes"
    );

    let data = server.get_data(
        token,
        "/api/v1/series",
        &[("match[]", r#"rt_metric{job="job1"}"#)],
    );
    let mut listed: Vec<BTreeMap<String, String>> =
        serde_json::from_value(data).expect("series answer is a list of label maps");
    listed.sort();
    let wanted: Vec<BTreeMap<String, String>> = expected
        .keys()
        .filter(|l| l.get("job").map(String::as_str) == Some("job1"))
        .cloned()
        .collect();
    assert_eq!(listed, wanted, "{when}: /api/v1/series");

    let data = server.get_data(
        token,
        "/api/v1/series",
        &[
            ("match[]", "rt_other"),
            ("match[]", r#"rt_metric{job="job2"}"#),
        ],
    );
    assert_eq!(
        data.as_array().unwrap().len(),
        1 + expected
            .keys()
            .filter(|l| l.get("job").map(String::as_str) == Some("job2"))
            .count(),
        "{when}: /api/v1/series with two match[]"
    );

    let data = server.get_data(token, "/api/v1/labels", &[("match[]", "rt_other")]);
    assert_eq!(
        sorted_strings(&data),
        ["__name__", "job"],
        "{when}: /api/v1/labels?match[]=rt_other"
    );
    let data = server.get_data(token, "/api/v1/labels", &[]);
    assert_eq!(
        sorted_strings(&data),
        ["__name__", "instance", "job"],
        "{when}: /api/v1/labels"
    );

    let data = server.get_data(
        token,
        "/api/v1/label/job/values",
        &[("match[]", "rt_metric")],
    );
    assert_eq!(
        sorted_strings(&data),
        ["job0", "job1", "job2"],
        "{when}: job values of rt_metric"
    );
    let data = server.get_data(
        token,
        "/api/v1/label/job/values",
        &[("match[]", "rt_other")],
    );
    assert_eq!(
        sorted_strings(&data),
        ["x"],
        "{when}: job values of rt_other"
    );
    let data = server.get_data(token, "/api/v1/label/__name__/values", &[]);
    assert_eq!(
        sorted_strings(&data),
        ["rt_metric", "rt_other"],
        "{when}: metric names"
    );

    // A time range picks exactly the samples inside it.
    let (labels, sent) = expected.iter().next().unwrap();
    let (from, to) = (sent[10].0, sent[20].0);
    let selector = format!(
        "{}{{{}}}",
        labels["__name__"],
        labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let response = server
        .get("/api/v1/export")
        .bearer_auth(token)
        .query(&[
            ("match[]", selector.as_str()),
            ("start", &format!("{}.{:03}", from / 1000, from % 1000)),
            ("end", &format!("{}.{:03}", to / 1000, to % 1000)),
        ])
        .send()
        .unwrap();
    let (status, text) = common::status_and_text(response);
    assert_eq!(status, 200, "{when}: ranged export: {text}");
    let lines: Vec<_> = text.lines().map(common::Exported::parse).collect();
    assert_eq!(
        lines.len(),
        1,
        "{when}: ranged export of {selector}: {text}"
    );
    assert_same_samples(
        &format!("{when}: ranged export"),
        &sent[10..=20],
        &lines[0].samples(),
    );
}

#[test]
fn samples_survive_restart_flush_and_block_reads() {
    let mut server = TestServer::start(&[]);
    let base = now_ms() - 5 * 60_000;
    let mut expected = push_all(&server, base);
    verify(&server, &expected, "from the head");

    server.restart();
    verify(&server, &expected, "after a graceful restart (WAL replay)");

    let (status, body) = server.post_json(
        &server.platform_token,
        "/api/pitot/v1/admin/flush",
        None,
        &json!({}),
    );
    assert_eq!(status, 200, "flush: {body}");
    assert!(
        body["blocks_written"].as_u64().unwrap() >= 1,
        "flush wrote no block: {body}"
    );
    assert_eq!(
        server.metric("pitot_tsdb_head_series"),
        Some(0.0),
        "the head still holds series after a flush"
    );
    verify(&server, &expected, "after a flush (blocks)");

    server.restart();
    assert!(
        server.metric("pitot_tsdb_blocks").unwrap() >= 1.0,
        "no block loaded after restart"
    );
    verify(&server, &expected, "after a restart on blocks");

    // Samples newer than everything flushed are still accepted, and read back merged
    // with the block's.
    let newest = base + (SAMPLES as i64 - 1) * STEP_MS;
    let newer: Vec<(i64, f64)> = (1..=10)
        .map(|k| (newest + k * STEP_MS, 1000.0 + k as f64))
        .collect();
    let (status, body) = server.push(
        &server.initial_token,
        &write_request(vec![series(
            &[("__name__", "rt_other"), ("job", "x")],
            &newer,
        )]),
    );
    assert_eq!(
        status, 204,
        "a sample newer than every flushed one was refused: {body}"
    );
    expected
        .get_mut(&label_map(&[("__name__", "rt_other"), ("job", "x")]))
        .unwrap()
        .extend(&newer);
    verify(&server, &expected, "after new samples on top of blocks");

    server.restart();
    verify(&server, &expected, "after a restart with blocks and WAL");
}

/// A `match[]` selector is PromQL, whose double-quoted strings take Go escapes: `\"`,
/// `\\` and `\n` stand for a quote, a backslash and a newline, as in Prometheus.
#[test]
fn selector_string_escapes_are_decoded() {
    let server = TestServer::start(&[]);
    let t = now_ms() - 60_000;
    let values = ["q\"x", "b\\c", "n\nl", "a.b", "a-b"];
    let batch = values
        .iter()
        .map(|v| series(&[("__name__", "esc"), ("a", v)], &[(t, 1.0)]))
        .collect();
    let (status, body) = server.push(&server.initial_token, &write_request(batch));
    assert_eq!(status, 204, "{body}");
    for (selector, wanted) in [
        (r#"esc{a="q\"x"}"#, "q\"x"),
        (r#"esc{a="b\\c"}"#, "b\\c"),
        (r#"esc{a="n\nl"}"#, "n\nl"),
        // The regex a\.b: a literal dot, so "a-b" does not match.
        (r#"esc{a=~"a\\.b"}"#, "a.b"),
    ] {
        let got = server.export(&server.initial_token, selector);
        let got: Vec<&str> = got.iter().map(|e| e.metric["a"].as_str()).collect();
        assert_eq!(got, [wanted], "selector {selector}");
    }
}

/// `start` and `end` limit `/api/v1/labels` and `/api/v1/label/<name>/values` to series
/// with samples in that range, as they limit `/api/v1/series` (and as Prometheus does
/// for a range the head does not cover).
#[test]
fn label_apis_respect_the_time_range() {
    let server = TestServer::start(&[]);
    let t = now_ms() - 300_000;
    let (status, body) = server.push(
        &server.initial_token,
        &write_request(vec![series(
            &[("__name__", "ranged"), ("job", "a")],
            &[(t, 1.0)],
        )]),
    );
    assert_eq!(status, 204, "{body}");
    let day = 86_400_000;
    let start = ((t - 2 * day) / 1000).to_string();
    let end = ((t - day) / 1000).to_string();
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let with_match = [("match[]", "ranged"), range[0], range[1]];
    let series_data = server.get_data(&server.initial_token, "/api/v1/series", &with_match);
    assert_eq!(series_data, json!([]), "series a day before any sample");
    for (path, params) in [
        ("/api/v1/labels", &range[..]),
        ("/api/v1/labels", &with_match[..]),
        ("/api/v1/label/job/values", &range[..]),
        ("/api/v1/label/job/values", &with_match[..]),
    ] {
        let data = server.get_data(&server.initial_token, path, params);
        assert_eq!(
            data,
            json!([]),
            "{path} {params:?}: a day before any sample"
        );
    }
}
