//! Nothing a remote-write client sends is acknowledged and dropped in silence: a
//! message type Pitot cannot decode (an unknown `proto=`, another compression) is a
//! 415 that names it and stores nothing; remote write 2.0 is stored (symbols resolved,
//! metadata kept) with the specification's `...-Written` headers; and the parts of a
//! request Pitot does not store yet (native histograms; exemplars of 2.0) are refused by name
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
    assert_eq!(status, 400, "a 1.0 body sent as 2.0: {text}");
    assert!(text.contains("1.0 request"), "{text}");
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
fn native_histograms_are_refused_by_name_and_counted_beside_a_stored_exemplar() {
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
        !text.contains("exemplar") && text.contains("1 native histogram samples were not stored"),
        "{text}"
    );
    assert_eq!(
        stored(&server, &token, "with_parts"),
        2,
        "the float samples are stored"
    );

    let series = "pitot_discarded_samples_total{tenant=\"default\",reason=\"native_histograms_unsupported\"}";
    assert_eq!(server.metric(series), Some(1.0), "{series} in /metrics");
    let (status, body) = server.get_json(
        &token,
        "/api/v1/query_exemplars",
        &[
            ("query", "with_parts"),
            ("start", "0"),
            ("end", "9999999999"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"][0]["exemplars"][0]["labels"]["trace_id"], "abc",
        "{body}"
    );
}

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// Pushes a 2.0 request; returns status, body and the three `...-Written` headers.
fn push_v2(
    server: &TestServer,
    token: &str,
    request: &pitot_proto::remote_write_v2::Request,
) -> (u16, String, [String; 3]) {
    let response = server
        .post("/api/v1/write")
        .bearer_auth(token)
        .header("Content-Type", V2)
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "2.0.0")
        .body(pitot_proto::encode_snappy(&request.encode_to_vec()))
        .send()
        .expect("push");
    let written = ["Samples", "Histograms", "Exemplars"].map(|kind| {
        response
            .headers()
            .get(format!("X-Prometheus-Remote-Write-{kind}-Written"))
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    });
    let (status, text) = common::status_and_text(response);
    (status, text, written)
}

#[test]
fn remote_write_2_is_stored_with_its_symbols_metadata_and_written_counts() {
    use pitot_proto::remote_write_v2::{Exemplar2, Metadata2, Request, Sample2, TimeSeries2};
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms() - 5_000;
    let symbols: Vec<String> = [
        "",
        "__name__",
        "v2_requests_total",
        "job",
        "api",
        "web",
        "Requests served.",
        "",
        "trace_id",
        "abc",
    ]
    .map(String::from)
    .to_vec();
    let sample = |i: i64, value: f64| Sample2 {
        value,
        timestamp: t + i,
        start_timestamp: t - 60_000,
    };
    let mut request = Request {
        symbols,
        timeseries: vec![
            TimeSeries2 {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![sample(0, 1.0), sample(1000, 5e-324)],
                metadata: Some(Metadata2 {
                    r#type: 1,
                    help_ref: 6,
                    unit_ref: 7,
                }),
                ..Default::default()
            },
            TimeSeries2 {
                labels_refs: vec![1, 2, 3, 5],
                samples: vec![sample(0, 7.5)],
                ..Default::default()
            },
        ],
    };
    let (status, text, written) = push_v2(&server, &token, &request);
    assert_eq!(status, 204, "{text}");
    assert_eq!(written, ["3", "0", "0"].map(String::from));
    let exported = server.export(&token, "v2_requests_total");
    assert_eq!(exported.len(), 2);
    let api = exported
        .iter()
        .find(|e| e.metric["job"] == "api")
        .expect("job=api");
    common::assert_same_samples("job=api", &[(t, 1.0), (t + 1000, 5e-324)], &api.samples());
    let metadata = server.get_data(&token, "/api/v1/metadata", &[]);
    assert_eq!(
        metadata["v2_requests_total"][0]["type"], "counter",
        "{metadata}"
    );
    assert_eq!(metadata["v2_requests_total"][0]["help"], "Requests served.");

    // An exemplar and a native histogram: the exemplar is stored and counted in its
    // header, the histogram named in a 400, the float sample stored and counted.
    request.timeseries.truncate(1);
    request.timeseries[0].samples = vec![sample(2000, 3.0)];
    request.timeseries[0].exemplars = vec![Exemplar2 {
        labels_refs: vec![8, 9],
        value: 1.0,
        timestamp: t,
    }];
    request.timeseries[0].histograms = vec![vec![0x08, 0x01]];
    let (status, text, written) = push_v2(&server, &token, &request);
    assert_eq!(status, 400, "{text}");
    assert!(
        !text.contains("exemplar") && text.contains("1 native histogram samples"),
        "{text}"
    );
    assert_eq!(written, ["1", "0", "1"].map(String::from));
    let (status, body) = server.get_json(
        &token,
        "/api/v1/query_exemplars",
        &[
            ("query", "v2_requests_total"),
            ("start", "0"),
            ("end", "9999999999"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");

    // A reference past the symbols table: refused whole, naming the series.
    request.timeseries[0].labels_refs = vec![1, 2, 3, 99];
    request.timeseries[0].samples = vec![sample(3000, 4.0)];
    let (status, text, written) = push_v2(&server, &token, &request);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("timeseries[0]") && text.contains("symbol 99"),
        "{text}"
    );
    assert_eq!(written, ["0", "0", "0"].map(String::from));
    let exported = server.export(&token, "v2_requests_total");
    let samples: usize = exported.iter().map(|e| e.samples().len()).sum();
    assert_eq!(samples, 4, "three from the first push, one from the second");
}
