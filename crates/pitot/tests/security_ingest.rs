//! Issue 16, finding 6: small pushes allocated gigabytes before any limit applied.
//! Each test sends one kind of hostile push as tenant `hostile` and shows it is refused
//! before the memory it asks for is allocated, with a status and reason that name the
//! limit, while the server stays up and tenant `default` keeps pushing and reading its
//! data exactly.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{assert_same_samples, now_ms, now_ns, series, write_request, TestServer};
use serde_json::{json, Value};

fn new_tenant(server: &TestServer, name: &str) -> String {
    server.create_tenant(
        name,
        &["metrics:write", "metrics:read", "logs:write", "logs:read"],
    )
}

fn set_limits(server: &TestServer, tenant: &str, limits: Value) {
    let response = server
        .client()
        .put(format!(
            "{}/api/pitot/v1/tenants/{tenant}/limits",
            server.base_url()
        ))
        .bearer_auth(&server.platform_token)
        .json(&limits)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text());
}

/// Tenant `default` pushes a series named `name` and reads it back exactly.
fn victim_round_trip(server: &TestServer, name: &str) {
    let token = &server.initial_token;
    let t = now_ms() - 5_000;
    let points = [(t, 1.5), (t + 1, -2.25), (t + 2, 1e300)];
    let (status, text) = server.push(
        token,
        &write_request(vec![series(
            &[("__name__", name), ("job", "victim")],
            &points,
        )]),
    );
    assert_eq!(status, 204, "the other tenant's push: {text}");
    let exported = server.export(token, name);
    assert_eq!(exported.len(), 1, "{name}: {exported:?}");
    assert_same_samples(name, &points, &exported[0].samples());
}

/// Tenant `default` pushes a Loki line and reads it back exactly.
fn victim_logs_round_trip(server: &TestServer, app: &str) {
    let token = &server.initial_token;
    let ts = now_ns() - 1_000_000_000;
    let (status, text) = server.loki_push_json(
        token,
        &json!({"streams": [{"stream": {"app": app}, "values": [[ts.to_string(), "still here"]]}]}),
    );
    assert_eq!(status, 204, "the other tenant's log push: {text}");
    let lines = server.loki_lines(token, &format!("{{app=\"{app}\"}}"), ts - 1, 10);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((lines[0].1, lines[0].2.as_str()), (ts, "still here"));
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn loki_gzip_json(server: &TestServer, token: &str, body: Vec<u8>) -> (u16, String) {
    let response = server
        .post("/loki/api/v1/push")
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .expect("loki push");
    common::status_and_text(response)
}

#[test]
fn a_snappy_header_declaring_a_huge_size_is_refused_before_decompressing() {
    let server = TestServer::start(&[]);
    let hostile = new_tenant(&server, "hostile");
    // Twenty bytes announcing 4 GiB once decompressed (the most snappy can announce).
    let mut bomb = Vec::new();
    varint(u64::from(u32::MAX), &mut bomb);
    bomb.extend_from_slice(&[0; 16]);
    let (status, text) = server.push_raw(Some(&hostile), bomb.clone());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max_decompressed_bytes"), "{text}");
    let (status, text) =
        server.loki_push_raw(Some(&hostile), "application/x-protobuf", bomb.clone());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max_decompressed_bytes"), "{text}");
    // Just above the default limit of 16 MiB is refused too.
    let mut over = Vec::new();
    varint((16 << 20) + 1, &mut over);
    over.extend_from_slice(&[0; 16]);
    let (status, text) = server.push_raw(Some(&hostile), over);
    assert_eq!(status, 413, "{text}");
    victim_round_trip(&server, "after_snappy_bomb");
    victim_logs_round_trip(&server, "after-snappy-bomb");
}

#[test]
fn a_gzip_bomb_to_the_loki_push_is_refused() {
    let server = TestServer::start(&[]);
    let hostile = new_tenant(&server, "hostile");
    // 64 MiB of one JSON string, about 64 KiB compressed: the trailer says so, and the
    // push is refused before inflating.
    let mut json = br#"{"streams":[{"stream":{"a":"b"},"values":[["1",""#.to_vec();
    json.resize(64 << 20, b'x');
    json.extend_from_slice(br#""]]}]}"#);
    let bomb = gzip(&json);
    drop(json);
    assert!(bomb.len() < 1 << 20);
    let (status, text) = loki_gzip_json(&server, &hostile, bomb.clone());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max_decompressed_bytes"), "{text}");
    // The same bomb with a trailer that lies (says 100 bytes): inflating stops at the
    // 100 bytes it was charged for and the push is refused.
    let mut liar = bomb;
    let n = liar.len();
    liar[n - 4..].copy_from_slice(&100u32.to_le_bytes());
    let (status, text) = loki_gzip_json(&server, &hostile, liar);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("100 bytes its trailer declares"), "{text}");
    // An honest gzip push still works.
    let ts = now_ns() - 1_000_000_000;
    let honest =
        json!({"streams": [{"stream": {"app": "gz"}, "values": [[ts.to_string(), "zipped"]]}]});
    let (status, text) = loki_gzip_json(&server, &hostile, gzip(honest.to_string().as_bytes()));
    assert_eq!(status, 204, "{text}");
    let lines = server.loki_lines(&hostile, "{app=\"gz\"}", ts - 1, 10);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].2, "zipped");
    victim_round_trip(&server, "after_gzip_bomb");
    victim_logs_round_trip(&server, "after-gzip-bomb");
}

#[test]
fn remote_write_with_huge_declared_lengths_or_counts_is_refused() {
    let server = TestServer::start(&[]);
    let hostile = new_tenant(&server, "hostile");
    // A series declaring 2^40 bytes inside a 12-byte message.
    let mut message = vec![0x0a];
    varint(1 << 40, &mut message);
    message.extend_from_slice(b"\x0a\x00");
    let (status, text) = server.push_raw(Some(&hostile), pitot_proto::encode_snappy(&message));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("bytes left"), "{text}");
    // A label declaring 2^62 bytes inside a series.
    let mut label = vec![0x0a];
    varint(1 << 62, &mut label);
    let mut message = Vec::new();
    field(0x0a, &label, &mut message);
    let (status, text) = server.push_raw(Some(&hostile), pitot_proto::encode_snappy(&message));
    assert_eq!(status, 400, "{text}");
    // Two megabytes of empty labels (each two bytes, each 32 bytes once decoded): the
    // count read off the framing is charged before decoding and is over the
    // tenant's in-flight budget, so the request is refused whole, naming the limit.
    set_limits(
        &server,
        "hostile",
        json!({"max_inflight_push_bytes": 16 << 20}),
    );
    let mut series_bytes = Vec::new();
    field(0x0a, &b"\x0a\x00".repeat(1000), &mut series_bytes);
    let message = series_bytes.repeat(1000);
    let (status, text) = server.push_raw(Some(&hostile), pitot_proto::encode_snappy(&message));
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("per-tenant-inflight-bytes-limit"), "{text}");
    assert!(text.contains("max_inflight_push_bytes"), "{text}");
    // The same for a Loki push of empty entries.
    let mut stream = Vec::new();
    field(0x0a, b"{a=\"b\"}", &mut stream);
    stream.extend(b"\x12\x00".repeat(1 << 20));
    let mut loki = Vec::new();
    field(0x0a, &stream, &mut loki);
    let (status, text) = server.loki_push_raw(
        Some(&hostile),
        "application/x-protobuf",
        pitot_proto::encode_snappy(&loki),
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("per-tenant-inflight-bytes-limit"), "{text}");
    let refused = server
        .metric("pitot_refused_push_bytes_total{tenant=\"hostile\",reason=\"per-tenant-inflight-bytes-limit\"}")
        .expect("refusals are counted");
    assert!(refused > (32 << 20) as f64, "{refused}");
    // The refused entries are counted where Loki's discards are.
    let entries = server
        .metric("pitot_logs_discarded_entries_total{tenant=\"hostile\",reason=\"per-tenant-inflight-bytes-limit\"}")
        .expect("refused entries are counted");
    assert_eq!(entries, (1 << 20) as f64);
    victim_round_trip(&server, "after_huge_counts");
    victim_logs_round_trip(&server, "after-huge-counts");
}

/// A request of 2,000 series, each with its own name within the batch `batch`.
fn burst_request(batch: usize, t: i64) -> pitot_proto::remote_write::WriteRequest {
    write_request(
        (0..2_000)
            .map(|i| {
                series(
                    &[
                        ("__name__", &format!("burst_{batch}")),
                        ("instance", &format!("host-{i:05}.example.com:9100")),
                        ("job", "node"),
                        ("region", "eu-west-1"),
                    ],
                    &[(t, i as f64)],
                )
            })
            .collect(),
    )
}

#[test]
fn a_burst_beyond_the_tenant_in_flight_budget_is_refused_and_the_other_tenant_is_unaffected() {
    let server = TestServer::start(&[]);
    let hostile = new_tenant(&server, "hostile");
    // Room for about one of the burst's requests at a time.
    set_limits(
        &server,
        "hostile",
        json!({"max_inflight_push_bytes": 2 << 20}),
    );
    let t = now_ms() - 10_000;
    let statuses: Vec<(usize, u16, String, Option<String>)> = std::thread::scope(|scope| {
        let victim = scope.spawn(|| {
            for i in 0..10 {
                victim_round_trip(&server, &format!("during_burst_{i}"));
            }
        });
        let attackers: Vec<_> = (0..32)
            .map(|batch| {
                let server = &server;
                let hostile = hostile.clone();
                scope.spawn(move || {
                    let body = common::encode_exact(&burst_request(batch, t));
                    let response = server
                        .post("/api/v1/push")
                        .bearer_auth(&hostile)
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .body(body)
                        .send()
                        .expect("push");
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    let (status, text) = common::status_and_text(response);
                    (batch, status, text, retry_after)
                })
            })
            .collect();
        victim.join().expect("the other tenant's pushes and reads");
        attackers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: Vec<_> = statuses.iter().filter(|s| s.1 == 429).collect();
    assert!(
        !refused.is_empty(),
        "32 concurrent pushes of about 1 MiB each fit a 2 MiB budget: {:?}",
        statuses.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    for (_, status, text, retry_after) in &statuses {
        assert!(matches!(status, 204 | 429), "{status}: {text}");
        if *status == 429 {
            assert!(text.contains("per-tenant-inflight-bytes-limit"), "{text}");
            assert!(retry_after.is_some(), "429 without Retry-After: {text}");
        }
    }
    // Every acknowledged request is stored whole; no refused one left anything.
    for (batch, status, _, _) in &statuses {
        let exported = server.export(&hostile, &format!("burst_{batch}"));
        match status {
            204 => {
                assert_eq!(exported.len(), 2_000, "burst_{batch}");
                for e in &exported {
                    assert_eq!(e.samples().len(), 1);
                }
            }
            _ => assert!(exported.is_empty(), "burst_{batch} was refused yet stored"),
        }
    }
    assert_eq!(
        server.metric("pitot_inflight_push_bytes"),
        Some(0.0),
        "every request gave its bytes back"
    );
    victim_round_trip(&server, "after_burst");
}

#[test]
fn the_server_budget_answers_503_and_lets_one_request_through_at_a_time() {
    // A server budget far below one request: requests still pass one at a time, and
    // those that cannot wait long enough are told the server is busy.
    let server = TestServer::start(&["--max-inflight-push-bytes", "1"]);
    let t = now_ms() - 10_000;
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let pushes: Vec<_> = (0..24)
            .map(|batch| {
                let server = &server;
                scope.spawn(move || server.push(&server.initial_token, &burst_request(batch, t)))
            })
            .collect();
        pushes.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().any(|s| s.0 == 204), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .any(|(status, text)| *status == 503 && text.contains("instance-inflight-bytes-limit")),
        "{:?}",
        statuses.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    for (status, text) in &statuses {
        assert!(matches!(status, 204 | 503), "{status}: {text}");
    }
    std::thread::sleep(Duration::from_millis(100));
    victim_round_trip(&server, "after_server_budget");
}
