//! Exemplars from remote write 1.0 are stored, answered by `/api/v1/query_exemplars`
//! as the Prometheus API documents, survive `kill -9`, stay with their tenant, and what
//! is refused (out of order, a tenant limit of 0) is named in the answer.

mod common;

use common::{now_ms, series, write_request, TestServer};
use pitot_proto::remote_write::{Exemplar, Label};
use serde_json::{json, Value};

fn exemplar(trace: &str, value: f64, timestamp: i64) -> Exemplar {
    Exemplar {
        labels: vec![Label::new("trace_id", trace)],
        value,
        timestamp,
    }
}

/// Pushes with prost's encoding, which writes exemplars (the tests' exact encoder
/// does not).
fn push(
    server: &TestServer,
    token: &str,
    request: &pitot_proto::remote_write::WriteRequest,
) -> (u16, String) {
    server.push_raw(
        Some(token),
        pitot_proto::remote_write::encode_write_request(request),
    )
}

fn query(server: &TestServer, token: &str, expr: &str) -> Value {
    query_in(server, token, None, expr)
}

/// The exemplars of `expr` over all time, in `datasource` when given.
fn query_in(server: &TestServer, token: &str, datasource: Option<&str>, expr: &str) -> Value {
    let mut request = server
        .get("/api/v1/query_exemplars")
        .bearer_auth(token)
        .query(&[("query", expr), ("start", "0"), ("end", "9999999999")]);
    if let Some(ds) = datasource {
        request = request.header("X-Pitot-Datasource", ds);
    }
    let (status, text) = common::status_and_text(request.send().expect("query_exemplars"));
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    body["data"].clone()
}

/// Creates the metrics data source `name` of the token's tenant.
fn create_datasource(server: &TestServer, token: &str, name: &str) {
    let (status, body) = server.post_json(
        token,
        "/api/pitot/v1/datasources",
        None,
        &json!({"name": name, "type": "metrics"}),
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn exemplars_are_stored_queried_durable_and_isolated() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = (now_ms() / 1000) * 1000 - 60_000;
    let mut a = series(
        &[("__name__", "http_requests_total"), ("job", "api")],
        &[(t, 1.0), (t + 1000, 2.0)],
    );
    a.exemplars = vec![exemplar("aaa", 1.0, t), exemplar("bbb", 0.25, t + 1500)];
    let mut b = series(
        &[("__name__", "http_requests_total"), ("job", "web")],
        &[(t, 3.0)],
    );
    b.exemplars = vec![exemplar("ccc", 3.0, t)];
    let (status, text) = push(&server, &token, &write_request(vec![a.clone(), b]));
    assert_eq!(status, 204, "{text}");

    let expected = json!([
        {"seriesLabels": {"__name__": "http_requests_total", "job": "api"}, "exemplars": [
            {"labels": {"trace_id": "aaa"}, "value": "1", "timestamp": t / 1000},
            {"labels": {"trace_id": "bbb"}, "value": "0.25", "timestamp": (t + 1500) as f64 / 1000.0}
        ]},
        {"seriesLabels": {"__name__": "http_requests_total", "job": "web"}, "exemplars": [
            {"labels": {"trace_id": "ccc"}, "value": "3", "timestamp": t / 1000}
        ]}
    ]);
    assert_eq!(query(&server, &token, "http_requests_total"), expected);
    // Selectors inside any expression; a range; a selector matching one series.
    assert_eq!(
        query(
            &server,
            &token,
            r#"sum(rate(http_requests_total{job="web"}[5m]))"#
        )
        .as_array()
        .map(Vec::len),
        Some(1)
    );
    let (status, body) = server.get_json(
        &token,
        "/api/v1/query_exemplars",
        &[
            ("query", "http_requests_total"),
            ("start", &format!("{}", (t + 1) as f64 / 1000.0)),
            ("end", &format!("{}", (t + 2000) / 1000)),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(
        body["data"][0]["exemplars"][0]["labels"]["trace_id"], "bbb",
        "{body}"
    );

    // A resend is acknowledged and stored once; an older exemplar is refused by name
    // while the request's samples are stored.
    let (status, text) = push(&server, &token, &write_request(vec![a.clone()]));
    assert_eq!(status, 204, "{text}");
    let mut late = series(
        &[("__name__", "http_requests_total"), ("job", "api")],
        &[(t + 2000, 4.0)],
    );
    late.exemplars = vec![exemplar("old", 9.0, t - 5000)];
    let (status, text) = push(&server, &token, &write_request(vec![late]));
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("err-pitot-exemplar_out_of_order") && text.contains("1 samples stored"),
        "{text}"
    );
    assert_eq!(query(&server, &token, "http_requests_total"), expected);

    // Another tenant sees none of them.
    let other = server.create_tenant("other", &["metrics:read", "metrics:write"]);
    assert_eq!(query(&server, &other, "http_requests_total"), json!([]));

    // Exemplars stay with their data source: one pushed to `prod` is read with it only.
    create_datasource(&server, &token, "prod");
    let mut p = series(&[("__name__", "prod_total")], &[(t, 1.0)]);
    p.exemplars = vec![exemplar("prod-trace", 1.0, t)];
    let response = server
        .post("/api/v1/push")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Pitot-Datasource", "prod")
        .body(pitot_proto::remote_write::encode_write_request(
            &write_request(vec![p]),
        ))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(query(&server, &token, "prod_total"), json!([]));
    let in_prod = query_in(&server, &token, Some("prod"), "prod_total");
    assert_eq!(
        in_prod[0]["exemplars"][0]["labels"]["trace_id"], "prod-trace",
        "{in_prod}"
    );

    // Deleting the data source deletes its exemplars: a new `prod` starts empty, also
    // after the restart below.
    let response = server
        .delete("/api/pitot/v1/datasources/prod?confirm=prod")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204, "{:?}", response.text());
    create_datasource(&server, &token, "prod");
    assert_eq!(
        query_in(&server, &token, Some("prod"), "prod_total"),
        json!([])
    );

    // Acknowledged exemplars survive kill -9.
    server.kill9();
    server.start_again();
    assert_eq!(query(&server, &token, "http_requests_total"), expected);
    assert_eq!(
        query_in(&server, &token, Some("prod"), "prod_total"),
        json!([])
    );

    // A tenant whose limit is 0 has its exemplars refused by name.
    server.put_limits("other", &json!({"max_global_exemplars_per_user": 0}));
    let mut c = series(&[("__name__", "x_total")], &[(t, 1.0)]);
    c.exemplars = vec![exemplar("ddd", 1.0, t)];
    let (status, text) = push(&server, &other, &write_request(vec![c]));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("max_global_exemplars_per_user"), "{text}");
    let counted = server
        .metric("pitot_discarded_samples_total{tenant=\"other\",reason=\"exemplars_disabled\"}");
    assert_eq!(counted, Some(1.0));

    // A query without a selector is refused, naming the parameter.
    let (status, body) = server.get_json(&token, "/api/v1/query_exemplars", &[("query", "1 + 1")]);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("query"), "{body}");
}
