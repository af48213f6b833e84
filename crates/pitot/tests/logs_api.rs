//! The Loki API end to end: pushes in JSON, gzip JSON and protobuf come back through
//! `query_range`, `query`, `labels`, `label/<name>/values`, `series` and `index/stats`,
//! also after a restart; bad input gets a clear 4xx and changes nothing.

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use common::{now_ns, TestServer};
use pitot_proto::loki_push::{encode_push_protobuf, PushEntry, PushStream, StreamLabels};
use serde_json::{json, Value};

fn data(text: &str) -> Value {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pushed_logs_come_back_through_every_read_endpoint() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t0 = now_ns() - 60_000_000_000;

    // JSON, with structured metadata on one line.
    let (status, body) = server.loki_push_json(
        &token,
        &json!({"streams": [
            {"stream": {"app": "api", "env": "prod"}, "values": [
                [(t0).to_string(), "level=info msg=\"started\" dur=12ms"],
                [(t0 + 1_000_000_000).to_string(), "level=error msg=\"boom\" dur=250ms", {"trace_id": "abc123"}],
                [(t0 + 2_000_000_000).to_string(), "level=info msg=\"ok\" dur=3ms"]
            ]},
            {"stream": {"app": "web", "env": "dev"}, "values": [
                [(t0 + 500_000_000).to_string(), "GET /index.html 200"]
            ]}
        ]}),
    );
    assert_eq!(status, 204, "{body}");

    // Protobuf + snappy, as Promtail sends it.
    let proto = encode_push_protobuf(&[PushStream {
        labels: StreamLabels::Selector("{app=\"web\", env=\"dev\"}".into()),
        entries: vec![PushEntry {
            ts: t0 + 3_000_000_000,
            line: "GET /cart 500".into(),
            metadata: vec![],
        }],
    }]);
    let (status, body) = server.loki_push_raw(Some(&token), "application/x-protobuf", proto);
    assert_eq!(status, 204, "{body}");

    // gzip-compressed JSON.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        json!({"streams": [{"stream": {"app": "web", "env": "dev"}, "values": [[(t0 + 4_000_000_000i64).to_string(), "GET /gz 200"]]}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let response = server
        .post("/loki/api/v1/push")
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        204,
        "{}",
        response.text().unwrap()
    );

    for round in 0..2 {
        let lines = server.loki_lines(&token, "{env=~\"prod|dev\"}", t0 - 1, 100);
        let got: Vec<(String, i64, String)> = lines
            .iter()
            .map(|(l, ts, line)| (l["app"].clone(), *ts, line.clone()))
            .collect();
        let mut sorted = got.clone();
        sorted.sort_by_key(|(_, ts, _)| *ts);
        assert_eq!(
            sorted,
            vec![
                (
                    "api".into(),
                    t0,
                    "level=info msg=\"started\" dur=12ms".into()
                ),
                ("web".into(), t0 + 500_000_000, "GET /index.html 200".into()),
                (
                    "api".into(),
                    t0 + 1_000_000_000,
                    "level=error msg=\"boom\" dur=250ms".into()
                ),
                (
                    "api".into(),
                    t0 + 2_000_000_000,
                    "level=info msg=\"ok\" dur=3ms".into()
                ),
                ("web".into(), t0 + 3_000_000_000, "GET /cart 500".into()),
                ("web".into(), t0 + 4_000_000_000, "GET /gz 200".into()),
            ],
            "round {round}"
        );
        // service_name is discovered from `app`, as Loki 3 does.
        assert!(lines
            .iter()
            .all(|(l, _, _)| l.get("service_name") == l.get("app")));

        // A filter and a parser.
        let errors = server.loki_lines(
            &token,
            "{app=\"api\"} | logfmt | level=\"error\"",
            t0 - 1,
            100,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0["msg"], "boom");
        assert_eq!(
            errors[0].0["trace_id"], "abc123",
            "structured metadata is a label"
        );
        let needle = server.loki_lines(&token, "{app=\"web\"} |= \"/cart\"", t0 - 1, 100);
        assert_eq!(needle.len(), 1);

        // Backward (the default) with a limit gives the newest entries.
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[
                ("query", "{app=\"api\"}"),
                ("start", &(t0 - 1).to_string()),
                ("end", &now_ns().to_string()),
                ("limit", "2"),
            ],
        );
        assert_eq!(status, 200, "{text}");
        let d = data(&text);
        // The line with structured metadata is its own result stream, as in Loki.
        let mut stamps: Vec<String> = d["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().iter())
            .map(|v| v[0].as_str().unwrap().to_string())
            .collect();
        stamps.sort();
        assert_eq!(
            stamps,
            vec![
                (t0 + 1_000_000_000).to_string(),
                (t0 + 2_000_000_000).to_string()
            ],
            "{d}"
        );
        assert!(d["stats"]["summary"]["execTime"].is_number(), "{d}");

        // A metric query, instant and range.
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    "sum by (app) (count_over_time({env=~\".+\"}[10m]))",
                ),
                ("time", &now_ns().to_string()),
            ],
        );
        assert_eq!(status, 200, "{text}");
        let d = data(&text);
        assert_eq!(d["resultType"], "vector");
        let mut counts: BTreeMap<String, String> = BTreeMap::new();
        for r in d["result"].as_array().unwrap() {
            counts.insert(
                r["metric"]["app"].as_str().unwrap().into(),
                r["value"][1].as_str().unwrap().into(),
            );
        }
        assert_eq!(
            counts,
            BTreeMap::from([("api".into(), "3".into()), ("web".into(), "3".into())])
        );
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[
                ("query", "count_over_time({app=\"api\"}[1h])"),
                ("start", &(t0 + 10_000_000_000).to_string()),
                ("end", &(t0 + 70_000_000_000).to_string()),
                ("step", "30s"),
            ],
        );
        assert_eq!(status, 200, "{text}");
        let d = data(&text);
        assert_eq!(d["resultType"], "matrix");
        assert_eq!(d["result"][0]["values"].as_array().unwrap().len(), 3, "{d}");

        // Labels, values, series, stats.
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/labels",
            &[("start", &(t0 - 1).to_string())],
        );
        assert_eq!(status, 200, "{text}");
        assert_eq!(strings(&data(&text)), vec!["app", "env", "service_name"]);
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/label/app/values",
            &[("start", &(t0 - 1).to_string())],
        );
        assert_eq!(status, 200, "{text}");
        assert_eq!(strings(&data(&text)), vec!["api", "web"]);
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/series",
            &[
                ("match[]", "{app=\"web\"}"),
                ("start", &(t0 - 1).to_string()),
            ],
        );
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            data(&text),
            json!([{"app": "web", "env": "dev", "service_name": "web"}])
        );
        let (status, text) = server.loki_get(
            &token,
            "/loki/api/v1/index/stats",
            &[("query", "{app=\"web\"}"), ("start", &(t0 - 1).to_string())],
        );
        assert_eq!(status, 200, "{text}");
        let stats: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(stats["streams"], 1, "{stats}");
        assert_eq!(stats["entries"], 3, "{stats}");
        assert_eq!(
            stats["bytes"],
            ("GET /index.html 200".len() + "GET /cart 500".len() + "GET /gz 200".len()) as u64,
            "{stats}"
        );

        if round == 0 {
            server.restart();
        }
    }
}

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let server = TestServer::start(&["--logs-max-line-size", "100"]);
    let token = server.initial_token.clone();
    let t = now_ns();
    let check = |what: &str, (status, body): (u16, String), want: u16, needle: &str| {
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            body.contains(needle),
            "{what}: {body:?} should mention {needle:?}"
        );
    };
    check(
        "garbage JSON",
        server.loki_push_raw(Some(&token), "application/json", b"{not json".to_vec()),
        400,
        "JSON",
    );
    check(
        "bad snappy",
        server.loki_push_raw(
            Some(&token),
            "application/x-protobuf",
            b"\xff\xff\xff\x00garbage".to_vec(),
        ),
        400,
        "snappy",
    );
    let good = encode_push_protobuf(&[PushStream {
        labels: StreamLabels::Selector("{app=\"x\"}".into()),
        entries: vec![PushEntry {
            ts: t,
            line: "hello".into(),
            metadata: vec![],
        }],
    }]);
    let raw = snap::raw::Decoder::new().decompress_vec(&good).unwrap();
    let truncated = snap::raw::Encoder::new()
        .compress_vec(&raw[..raw.len() - 2])
        .unwrap();
    check(
        "truncated protobuf",
        server.loki_push_raw(Some(&token), "application/x-protobuf", truncated),
        400,
        "protobuf",
    );
    check(
        "invalid labels",
        server.loki_push_raw(
            Some(&token),
            "application/x-protobuf",
            encode_push_protobuf(&[PushStream {
                labels: StreamLabels::Selector("{app=x}".into()),
                entries: vec![PushEntry {
                    ts: t,
                    line: "hello".into(),
                    metadata: vec![],
                }],
            }]),
        ),
        400,
        "{app=x}",
    );
    check(
        "oversized line",
        server.loki_push_json(
            &token,
            &json!({"streams": [{"stream": {"app": "big"}, "values": [[t.to_string(), "x".repeat(101)]]}]}),
        ),
        400,
        "max entry size '100' bytes exceeded for stream '{app=\"big\", service_name=\"big\"}'",
    );
    check(
        "timestamp far in the future",
        server.loki_push_json(
            &token,
            &json!({"streams": [{"stream": {"app": "future"}, "values": [[(t + 3_600_000_000_000i64).to_string(), "x"]]}]}),
        ),
        400,
        "timestamp too new",
    );
    check(
        "no token",
        server.loki_push_raw(None, "application/json", b"{}".to_vec()),
        401,
        "",
    );
    let (status, body) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["metrics:write", "metrics:read"], "name": "metrics-only"}),
    );
    assert_eq!(status, 201, "{body}");
    let metrics_only = body["token"].as_str().unwrap().to_string();
    check(
        "wrong scope on push",
        server.loki_push_json(
            &metrics_only,
            &json!({"streams": [{"stream": {"app": "x"}, "values": [[t.to_string(), "x"]]}]}),
        ),
        403,
        "logs:write",
    );
    check(
        "wrong scope on query",
        server.loki_get(
            &metrics_only,
            "/loki/api/v1/query_range",
            &[("query", "{app=\"x\"}")],
        ),
        403,
        "logs:read",
    );
    check(
        "bad query",
        server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[("query", "{app=\"x\"")],
        ),
        400,
        "parse error",
    );
    check(
        "log query as instant query",
        server.loki_get(&token, "/loki/api/v1/query", &[("query", "{app=\"x\"}")]),
        400,
        "instant",
    );
    check(
        "limit above the maximum",
        server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[("query", "{app=\"x\"}"), ("limit", "5001")],
        ),
        400,
        "max_entries_limit",
    );
    check(
        "range above the maximum",
        server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[
                ("query", "{app=\"x\"}"),
                ("start", "0"),
                ("end", &t.to_string()),
            ],
        ),
        400,
        "query time range exceeds the limit",
    );
    check(
        "bad time",
        server.loki_get(
            &token,
            "/loki/api/v1/query_range",
            &[("query", "{app=\"x\"}"), ("start", "soon")],
        ),
        400,
        "\"start\"",
    );
    // None of it stored anything, and the server still serves.
    let (status, text) = server.loki_get(
        &token,
        "/loki/api/v1/series",
        &[("match[]", "{app=~\".+\"}"), ("start", "0")],
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(data(&text), json!([]));
}
