//! Nothing a remote-write client sends is acknowledged and dropped in silence: a
//! message type Pitot cannot decode (remote write 2.0, an unknown `proto=`, another
//! compression) is a 415 that names it and stores nothing, and the parts of a 1.0
//! request Pitot does not store yet (exemplars, native histograms) are refused by name
//! and counted as discarded while the request's float samples are stored.

mod common;

use common::{now_ms, series, write_request, TestServer};
use pitot_proto::remote_write::{Exemplar, Label};
use prost::Message;

fn push_with(
    server: &TestServer,
    token: &str,
    content_type: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let response = server
        .post("/api/v1/push")
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .header("Content-Encoding", encoding)
        .body(body)
        .send()
        .expect("push");
    common::status_and_text(response)
}

fn stored(server: &TestServer, token: &str, name: &str) -> usize {
    let data = server.get_data(token, "/api/v1/query", &[("query", name)]);
    data["result"].as_array().map_or(0, Vec::len)
}

#[test]
fn message_types_pitot_cannot_decode_are_refused_by_name() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let request = write_request(vec![series(
        &[("__name__", "negotiated")],
        &[(now_ms(), 1.0)],
    )]);
    let body = pitot_proto::remote_write::encode_write_request(&request);

    let v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (status, text) = push_with(&server, &token, v2, "snappy", body.clone());
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("remote write 2.0"), "{text}");
    let (status, text) = push_with(
        &server,
        &token,
        "application/x-protobuf; proto=example.Other",
        "snappy",
        body.clone(),
    );
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("proto=example.other"), "{text}");
    let (status, text) = push_with(
        &server,
        &token,
        "application/x-protobuf",
        "zstd",
        body.clone(),
    );
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("snappy"), "{text}");
    assert_eq!(
        stored(&server, &token, "negotiated"),
        0,
        "nothing of a refused push is stored"
    );

    let v1 = "application/x-protobuf;proto=prometheus.WriteRequest";
    let (status, text) = push_with(&server, &token, v1, "snappy", body);
    assert_eq!(status, 204, "1.0 named explicitly: {text}");
    assert_eq!(stored(&server, &token, "negotiated"), 1);
}

#[test]
fn exemplars_and_native_histograms_are_refused_by_name_and_counted() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms();
    let mut with_exemplar = series(&[("__name__", "with_parts"), ("job", "a")], &[(t, 2.0)]);
    with_exemplar.exemplars.push(Exemplar {
        labels: vec![Label {
            name: "trace_id".into(),
            value: "abc".into(),
        }],
        value: 2.0,
        timestamp: t,
    });
    // A second series with one native histogram sample (series field 4), which the
    // 1.0 messages of this crate do not model: appended to the series' bytes by hand.
    let plain = series(&[("__name__", "with_parts"), ("job", "b")], &[(t, 3.0)]);
    let mut message = Vec::new();
    for (ts, histogram) in [(&with_exemplar, false), (&plain, true)] {
        let mut bytes = ts.encode_to_vec();
        if histogram {
            bytes.extend_from_slice(&[4 << 3 | 2, 2, 0x08, 0x01]); // Histogram{count_int: 1}
        }
        message.push(1 << 3 | 2);
        prost::encoding::encode_varint(bytes.len() as u64, &mut message);
        message.extend_from_slice(&bytes);
    }
    let (status, text) = server.push_raw(Some(&token), pitot_proto::encode_snappy(&message));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("1 exemplars were not stored")
            && text.contains("err-pitot-exemplars_unsupported")
            && text.contains("1 native histogram samples were not stored"),
        "{text}"
    );
    assert_eq!(
        stored(&server, &token, "with_parts"),
        2,
        "the float samples are stored"
    );

    for reason in ["exemplars_unsupported", "native_histograms_unsupported"] {
        let series =
            format!("pitot_discarded_samples_total{{tenant=\"default\",reason=\"{reason}\"}}");
        assert_eq!(server.metric(&series), Some(1.0), "{series} in /metrics");
    }
}
