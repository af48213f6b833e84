//! Remote read (`POST /api/v1/read`): what remote write stored comes back bit for bit
//! in both answer types, from the head and from blocks; one tenant never reads
//! another's series; bad requests get a 4xx naming what is wrong.

mod common;

use common::{now_ms, series, write_request, TestServer, STALE_NAN};
use pitot_proto::remote_read::{
    decode_read_response, encode_snappy_message, read_frame, ChunkEncoding, LabelMatcher,
    MatchType, Query, ReadRequest, ResponseType,
};
use serde_json::json;

type Got = Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>;

fn request(types: &[ResponseType], queries: Vec<Query>) -> Vec<u8> {
    encode_snappy_message(&ReadRequest {
        queries,
        accepted_response_types: types.iter().map(|&t| t as i32).collect(),
    })
}

fn query(start: i64, end: i64, matchers: &[(MatchType, &str, &str)]) -> Query {
    Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers: matchers
            .iter()
            .map(|&(t, name, value)| LabelMatcher {
                r#type: t as i32,
                name: name.into(),
                value: value.into(),
            })
            .collect(),
        hints: None,
    }
}

fn post(server: &TestServer, token: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    server
        .post("/api/v1/read")
        .bearer_auth(token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send()
        .expect("remote read request")
}

/// Reads `queries` with the given answer type; one list of series per query.
fn read(server: &TestServer, token: &str, kind: ResponseType, queries: Vec<Query>) -> Vec<Got> {
    let n = queries.len();
    let response = post(server, token, request(&[kind], queries));
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.bytes().unwrap().to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let mut out = vec![Got::new(); n];
    match kind {
        ResponseType::Samples => {
            assert_eq!(content_type, "application/x-protobuf");
            let decoded = decode_read_response(&body, 1 << 30).unwrap();
            assert_eq!(decoded.results.len(), n);
            for (i, result) in decoded.results.into_iter().enumerate() {
                for ts in result.timeseries {
                    out[i].push((
                        ts.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                        ts.samples
                            .iter()
                            .map(|s| (s.timestamp, s.value.to_bits()))
                            .collect(),
                    ));
                }
            }
        }
        ResponseType::StreamedXorChunks => {
            assert_eq!(
                content_type,
                "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
            );
            let mut rest = body.as_slice();
            while !rest.is_empty() {
                let (frame, more) = read_frame(rest).unwrap();
                rest = more;
                for cs in frame.chunked_series {
                    let labels: Vec<(String, String)> =
                        cs.labels.into_iter().map(|l| (l.name, l.value)).collect();
                    let mut samples = Vec::new();
                    for chunk in cs.chunks {
                        assert_eq!(chunk.r#type, ChunkEncoding::Xor as i32);
                        let part = pitot_chunkenc::decode_prometheus_xor(&chunk.data).unwrap();
                        assert_eq!(chunk.min_time_ms, part[0].0);
                        assert_eq!(chunk.max_time_ms, part.last().unwrap().0);
                        samples.extend(part.into_iter().map(|(t, v)| (t, v.to_bits())));
                    }
                    let list = &mut out[frame.query_index as usize];
                    // A series split across frames continues in the next one.
                    match list.last_mut() {
                        Some(last) if last.0 == labels => last.1.extend(samples),
                        _ => list.push((labels, samples)),
                    }
                }
            }
        }
    }
    out
}

#[test]
fn remote_read_returns_what_was_written_bit_for_bit_in_both_answer_types() {
    let server = TestServer::start(&[]);
    let token = &server.initial_token;
    let base = now_ms() - 10 * 60_000;
    let specials = [
        0.0,
        -0.0,
        f64::from_bits(STALE_NAN),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        1e300,
        0.1,
    ];
    let mut sent = Vec::new();
    for j in 0..3 {
        let samples: Vec<(i64, f64)> = (0..300)
            .map(|k| {
                let v = if k < specials.len() {
                    specials[k]
                } else {
                    (k * (j + 1)) as f64 * 1.5
                };
                (base + k as i64 * 1000 + j as i64, v)
            })
            .collect();
        sent.push(series(
            &[("__name__", "rr_test"), ("job", &format!("j{j}"))],
            &samples,
        ));
    }
    sent.push(series(
        &[("__name__", "other"), ("job", "j0")],
        &[(base, 1.0)],
    ));
    let (status, body) = server.push(token, &write_request(sent.clone()));
    assert_eq!(status, 204, "{body}");

    let expected = |from: i64, to: i64| -> Got {
        sent[..3]
            .iter()
            .map(|ts| {
                let mut labels: Vec<(String, String)> = ts
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                labels.sort();
                let samples = ts
                    .samples
                    .iter()
                    .filter(|s| s.timestamp >= from && s.timestamp <= to)
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect();
                (labels, samples)
            })
            .collect()
    };
    let queries = || {
        vec![
            query(
                base - 1,
                base + 400_000,
                &[(MatchType::Eq, "__name__", "rr_test")],
            ),
            // An inner range, and a regex: the range is inclusive at both ends.
            query(
                base + 100_000,
                base + 200_001,
                &[
                    (MatchType::Re, "__name__", "rr_.*"),
                    (MatchType::Neq, "job", "j1"),
                ],
            ),
            query(base, base + 1000, &[(MatchType::Eq, "__name__", "absent")]),
        ]
    };
    let check = |what: &str| {
        for kind in [ResponseType::Samples, ResponseType::StreamedXorChunks] {
            let got = read(&server, token, kind, queries());
            assert_eq!(
                got[0],
                expected(base - 1, base + 400_000),
                "{what} {kind:?} query 0"
            );
            let mut inner = expected(base + 100_000, base + 200_001);
            inner.remove(1);
            assert_eq!(got[1], inner, "{what} {kind:?} query 1");
            assert!(got[2].is_empty(), "{what} {kind:?} query 2");
        }
    };
    check("from the head");
    let (status, body) = server.post_json(
        &server.platform_token,
        "/api/pitot/v1/admin/flush",
        None,
        &json!({}),
    );
    assert_eq!(status, 200, "flush: {body}");
    check("from blocks");

    // Another tenant reads nothing of `default`'s.
    let other = server.create_tenant("other", &["metrics:read", "metrics:write"]);
    for kind in [ResponseType::Samples, ResponseType::StreamedXorChunks] {
        let got = read(&server, &other, kind, queries());
        assert!(got.iter().all(|q| q.is_empty()), "{kind:?}: {got:?}");
    }
}

#[test]
fn bad_remote_read_requests_are_refused_naming_the_problem() {
    let server = TestServer::start(&[]);
    let token = &server.initial_token;
    let good = || vec![query(0, 1000, &[(MatchType::Eq, "__name__", "up")])];

    let response = server
        .post("/api/v1/read")
        .body(request(&[], good()))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let write_only = server.create_tenant("w", &["metrics:write"]);
    let response = post(&server, &write_only, request(&[], good()));
    assert_eq!(response.status().as_u16(), 403);

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not snappy at all".to_vec(), "snappy"),
        (
            pitot_proto::encode_snappy(b"\xff\xff\xff"),
            "prometheus.ReadRequest",
        ),
        (
            encode_snappy_message(&ReadRequest {
                queries: good(),
                accepted_response_types: vec![7],
            }),
            "STREAMED_XOR_CHUNKS",
        ),
        (
            request(&[], vec![query(1000, 0, &[(MatchType::Eq, "a", "b")])]),
            "before start",
        ),
        (
            request(&[], vec![query(0, 1, &[(MatchType::Re, "a", "(")])]),
            "query 0: matcher on",
        ),
        (
            encode_snappy_message(&ReadRequest {
                queries: vec![Query {
                    matchers: vec![LabelMatcher {
                        r#type: 9,
                        name: "a".into(),
                        value: "b".into(),
                    }],
                    ..query(0, 1, &[])
                }],
                accepted_response_types: vec![],
            }),
            "unknown type 9",
        ),
    ];
    for (body, needle) in cases {
        let response = post(&server, token, body);
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        assert_eq!(status, 400, "{needle}: {text}");
        assert!(text.contains(needle), "expected {needle:?} in {text}");
    }

    // A SAMPLES answer larger than the tenant's sample limit is refused naming it.
    let base = now_ms() - 60_000;
    let samples: Vec<(i64, f64)> = (0..50).map(|k| (base + k * 100, k as f64)).collect();
    let (status, body) = server.push(
        token,
        &write_request(vec![series(&[("__name__", "many")], &samples)]),
    );
    assert_eq!(status, 204, "{body}");
    server.put_limits("default", &json!({"max_samples_per_query": 10}));
    let many = || {
        vec![query(
            base - 1,
            base + 10_000,
            &[(MatchType::Eq, "__name__", "many")],
        )]
    };
    let response = post(&server, token, request(&[ResponseType::Samples], many()));
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("max_samples_per_query"), "{text}");
    // The streamed answer has no such bound.
    let got = read(&server, token, ResponseType::StreamedXorChunks, many());
    assert_eq!(got[0][0].1.len(), 50);
    assert!(server.pid() > 0 && server.get("/ready").send().unwrap().status().is_success());
}
