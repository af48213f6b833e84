//! Bad remote-write input and bad credentials: each answers the right 4xx with a
//! message that names the problem, stores nothing it should not, and leaves the server
//! healthy; valid series sent alongside invalid ones are still stored.

mod common;

use common::{encode_exact, label_map, now_ms, series, write_request, TestServer};
use pitot_proto::remote_write::{Label, TimeSeries};
use serde_json::{json, Value};

const BODY_LIMIT: usize = 4096;

fn start() -> TestServer {
    TestServer::start(&[
        "--max-label-names-per-series",
        "5",
        "--max-request-body-bytes",
        &BODY_LIMIT.to_string(),
    ])
}

/// Asserts the status, the Prometheus error shape, and that the message contains every
/// one of `needles`.
fn expect_error(
    what: &str,
    (status, body): (u16, String),
    want_status: u16,
    error_type: &str,
    needles: &[&str],
) {
    assert_eq!(status, want_status, "{what}: wrong status; body: {body}");
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {body}"));
    assert_eq!(v["status"], "error", "{what}: {body}");
    assert_eq!(v["errorType"], error_type, "{what}: {body}");
    let message = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error message: {body}"));
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: message does not mention {needle:?}: {message}"
        );
    }
}

fn token_with(server: &TestServer, scopes: &[&str]) -> String {
    let (status, body) = server.post_json(
        &server.initial_token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": scopes, "name": scopes.join("+")}),
    );
    assert_eq!(status, 201, "create token with {scopes:?}: {body}");
    body["token"].as_str().expect("token in answer").to_string()
}

fn one(labels: &[(&str, &str)], t: i64) -> Vec<TimeSeries> {
    vec![series(labels, &[(t, 1.0)])]
}

#[test]
fn bad_requests_are_refused_clearly_and_harmlessly() {
    let server = start();
    let token = server.initial_token.clone();
    let t = now_ms() - 60_000;

    // Bodies that are not a remote-write request at all.
    expect_error(
        "empty body",
        server.push_raw(Some(&token), Vec::new()),
        400,
        "bad_data",
        &["empty"],
    );
    expect_error(
        "garbage",
        server.push_raw(
            Some(&token),
            b"hello, this is not a remote-write request".to_vec(),
        ),
        400,
        "bad_data",
        &["cannot decode remote-write request"],
    );
    expect_error(
        "bad snappy",
        server.push_raw(Some(&token), vec![0xff, 0xff, 0xff, 0xff, 0xff]),
        400,
        "bad_data",
        &["snappy"],
    );
    let good = write_request(one(&[("__name__", "bad_input_never"), ("job", "x")], t));
    let raw = pitot_proto::decode_snappy(&encode_exact(&good), 1 << 20).unwrap();
    expect_error(
        "truncated protobuf",
        server.push_raw(
            Some(&token),
            pitot_proto::encode_snappy(&raw[..raw.len() / 2]),
        ),
        400,
        "bad_data",
        &["protobuf"],
    );
    // A tiny body announcing 200 MiB once decompressed (the default limit is 100 MiB).
    let mut bomb = Vec::new();
    let mut size: u64 = 200 << 20;
    while size >= 0x80 {
        bomb.push((size as u8) | 0x80);
        size >>= 7;
    }
    bomb.push(size as u8);
    bomb.extend_from_slice(&[0; 16]);
    expect_error(
        "decompression bomb",
        server.push_raw(Some(&token), bomb),
        413,
        "bad_data",
        &["max_decompressed_bytes"],
    );
    // Incompressible bytes over the body limit.
    let mut rng = 0x1234_5678_9abc_def0u64;
    let big: Vec<u8> = (0..BODY_LIMIT * 5)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    expect_error(
        "body too large",
        server.push_raw(Some(&token), big),
        413,
        "bad_data",
        &["max_request_body_bytes", "4096"],
    );

    // Requests that decode, with one invalid series.
    let cases: Vec<(&str, Vec<TimeSeries>, &[&str])> = vec![
        (
            "invalid metric name",
            one(&[("__name__", "1bad-name"), ("job", "x")], t),
            &["err-pitot-metric-name-invalid", "1bad-name"],
        ),
        (
            "invalid label name",
            one(&[("__name__", "bad_input_never"), ("bad-label", "x")], t),
            &["err-pitot-label-invalid", "bad-label"],
        ),
        (
            "duplicate label names",
            one(
                &[("__name__", "bad_input_never"), ("job", "x"), ("job", "y")],
                t,
            ),
            &["err-pitot-duplicate-label-names", "job"],
        ),
        (
            "too many labels",
            one(
                &[
                    ("__name__", "bad_input_never"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                    ("d", "4"),
                    ("e", "5"),
                ],
                t,
            ),
            &[
                "err-pitot-max-label-names-per-series",
                "limit: 5",
                "limits.max_label_names_per_series",
            ],
        ),
        (
            "missing metric name",
            one(&[("job", "bad_input_never")], t),
            &["err-pitot-missing-metric-name"],
        ),
        (
            "label value too long",
            vec![TimeSeries {
                labels: vec![
                    Label::new("__name__", "bad_input_never"),
                    Label::new("long", "v".repeat(3000)),
                ],
                samples: vec![pitot_proto::remote_write::Sample {
                    value: 1.0,
                    timestamp: t,
                }],
                exemplars: Vec::new(),
            }],
            &[
                "err-pitot-label-value-too-long",
                "limits.max_label_value_length",
            ],
        ),
        (
            "sample too far in the future",
            one(
                &[("__name__", "bad_input_never"), ("job", "future")],
                now_ms() + 3_600_000,
            ),
            &[
                "err-pitot-sample-too-far-in-future",
                "limits.creation_grace_period",
            ],
        ),
    ];
    for (what, timeseries, needles) in cases {
        expect_error(
            what,
            server.push(&token, &write_request(timeseries)),
            400,
            "bad_data",
            needles,
        );
    }

    // Credentials.
    let valid = write_request(one(&[("__name__", "bad_input_never"), ("job", "auth")], t));
    let (status, body) = server.push_raw(None, encode_exact(&valid));
    expect_error(
        "no token",
        (status, body),
        401,
        "unauthorized",
        &["no token"],
    );
    let response = server
        .post("/api/v1/push")
        .body(encode_exact(&valid))
        .send()
        .unwrap();
    assert!(
        response.headers().contains_key("www-authenticate"),
        "a 401 must say how to authenticate"
    );
    expect_error(
        "wrong token",
        server.push(&format!("{token}x"), &valid),
        401,
        "unauthorized",
        &["invalid or revoked token"],
    );
    expect_error(
        "unknown token",
        server.push("pitot_nosuchid_nosuchsecret", &valid),
        401,
        "unauthorized",
        &["invalid or revoked token"],
    );
    let read_only = token_with(&server, &["metrics:read"]);
    expect_error(
        "read-only token pushing",
        server.push(&read_only, &valid),
        403,
        "forbidden",
        &["metrics:write"],
    );
    let write_only = token_with(&server, &["metrics:write"]);
    let (status, body) = server.get_json(
        &write_only,
        "/api/v1/series",
        &[("match[]", "bad_input_never")],
    );
    expect_error(
        "write-only token reading",
        (status, body.to_string()),
        403,
        "forbidden",
        &["metrics:read"],
    );
    let (status, body) = server.get_json(
        &write_only,
        "/api/v1/export",
        &[("match[]", "bad_input_never")],
    );
    expect_error(
        "write-only token exporting",
        (status, body.to_string()),
        403,
        "forbidden",
        &["metrics:read"],
    );

    // Nothing of the above was stored, and the server is fine.
    let stored = server.export(&read_only, r#"{__name__=~".+"}"#);
    assert!(
        stored.is_empty(),
        "refused requests stored series: {stored:?}"
    );
    let ready = server.get("/ready").send().unwrap();
    assert_eq!(ready.status().as_u16(), 200, "not ready after bad input");

    // A valid push still works, with each way of presenting a token.
    let (status, body) = server.push(
        &write_only,
        &write_request(one(&[("__name__", "bad_input_ok"), ("via", "bearer")], t)),
    );
    assert_eq!(status, 204, "valid push after bad input: {body}");
    let basic = server
        .post("/api/v1/push")
        .basic_auth("anyone", Some(&token))
        .body(encode_exact(&write_request(one(
            &[("__name__", "bad_input_ok"), ("via", "basic")],
            t,
        ))))
        .send()
        .unwrap();
    assert_eq!(basic.status().as_u16(), 204, "basic auth push");
    let x_token = server
        .post("/prometheus/api/v1/push")
        .header("X-Token", &token)
        .body(encode_exact(&write_request(one(
            &[("__name__", "bad_input_ok"), ("via", "x-token")],
            t,
        ))))
        .send()
        .unwrap();
    assert_eq!(
        x_token.status().as_u16(),
        204,
        "X-Token push on the Mimir path"
    );

    // One request with a valid and an invalid series: 400 naming the invalid one, and
    // the valid one stored.
    let mixed = write_request(vec![
        series(
            &[("__name__", "bad_input_mixed"), ("job", "good")],
            &[(t, 1.0), (t + 1000, 2.0)],
        ),
        series(
            &[("__name__", "bad_input_mixed"), ("bad-label", "x")],
            &[(t, 3.0)],
        ),
    ]);
    expect_error(
        "mixed request",
        server.push(&token, &mixed),
        400,
        "bad_data",
        &[
            "err-pitot-label-invalid",
            "bad-label",
            "2 samples stored, 1 discarded",
        ],
    );
    let got = server.export_map(&read_only, r#"{__name__=~"bad_input_.+"}"#);
    let names: Vec<_> = got.keys().cloned().collect();
    assert_eq!(
        names,
        vec![
            label_map(&[("__name__", "bad_input_mixed"), ("job", "good")]),
            label_map(&[("__name__", "bad_input_ok"), ("via", "basic")]),
            label_map(&[("__name__", "bad_input_ok"), ("via", "bearer")]),
            label_map(&[("__name__", "bad_input_ok"), ("via", "x-token")]),
        ],
        "stored series"
    );
    assert_eq!(
        got[&names[0]],
        vec![(t, 1.0), (t + 1000, 2.0)],
        "the valid series of the mixed request"
    );
}
