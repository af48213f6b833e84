//! `/api/v1/import` takes what `/api/v1/export` writes: an export of one tenant imported
//! into another exports again line for line the same, every value bit for bit; a
//! malformed line stores nothing; imported samples are metered like pushed ones.

mod common;

use common::{now_ms, series, write_request, TestServer};

fn export_text(server: &TestServer, token: &str, selector: &str) -> String {
    let response = server
        .get("/api/v1/export")
        .bearer_auth(token)
        .query(&[("match[]", selector)])
        .send()
        .expect("export");
    let (status, text) = common::status_and_text(response);
    assert_eq!(status, 200, "{text}");
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort();
    lines.join("\n")
}

fn import(server: &TestServer, token: &str, body: String) -> (u16, String) {
    let response = server
        .post("/api/v1/import")
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("import");
    common::status_and_text(response)
}

#[test]
fn an_export_imported_elsewhere_exports_the_same() {
    let server = TestServer::start(&[]);
    let source = server.initial_token.clone();
    let t = now_ms() - 60_000;
    let values = [
        1.5,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-300,
    ];
    let samples: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (t + i as i64 * 1000, *v))
        .collect();
    let request = write_request(vec![
        series(&[("__name__", "moved"), ("job", "a")], &samples),
        series(&[("__name__", "moved"), ("job", "b")], &samples[..2]),
    ]);
    let (status, text) = server.push(&source, &request);
    assert_eq!(status, 204, "{text}");
    let exported = export_text(&server, &source, "moved");
    assert_eq!(exported.lines().count(), 2, "{exported}");

    let target = server.create_tenant("copy", &["metrics:write", "metrics:read"]);
    let (status, text) = import(&server, &target, exported.clone());
    assert_eq!(status, 204, "{text}");
    assert_eq!(export_text(&server, &target, "moved"), exported);
    // Importing it again is a retry: acknowledged, stored once.
    let (status, text) = import(&server, &target, exported.clone());
    assert_eq!(status, 204, "{text}");
    assert_eq!(export_text(&server, &target, "moved"), exported);
}

#[test]
fn a_malformed_line_stores_nothing_and_is_named() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms();
    let body = format!(
        "{{\"metric\":{{\"__name__\":\"half\"}},\"values\":[1],\"timestamps\":[{t}]}}\n{{\"metric\":{{\"__name__\":\"half\"}},\"values\":[1,2],\"timestamps\":[{t}]}}\n"
    );
    let (status, text) = import(&server, &token, body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("line 2: 2 values but 1 timestamps"), "{text}");
    assert_eq!(export_text(&server, &token, "half"), "");

    // Imports are held to the same validation as pushes: an invalid metric name is
    // refused by name.
    let body =
        format!("{{\"metric\":{{\"__name__\":\"0bad\"}},\"values\":[1],\"timestamps\":[{t}]}}");
    let (status, text) = import(&server, &token, body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("0bad"), "{text}");

    // A token that may only read cannot import.
    let reader = server.create_tenant("reader", &["metrics:read"]);
    let body = format!("{{\"metric\":{{\"__name__\":\"x\"}},\"values\":[1],\"timestamps\":[{t}]}}");
    let (status, text) = import(&server, &reader, body);
    assert_eq!(status, 403, "{text}");
}

fn import_text(server: &TestServer, token: &str, body: String) -> (u16, String) {
    let response = server
        .post("/api/v1/import/prometheus")
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("import");
    common::status_and_text(response)
}

#[test]
fn the_text_exposition_format_imports_with_and_without_timestamps() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let t = now_ms() - 60_000;
    let before = now_ms();
    let body = format!(
        "# HELP text_imported Imported from text.\n# TYPE text_imported gauge\n\
         text_imported{{job=\"a\",path=\"C:\\\\x\"}} 1.5 {t}\n\
         text_imported{{job=\"a\",path=\"C:\\\\x\"}} -Inf {}\n\
         text_imported{{job=\"b\"}} 7\n",
        t + 1000
    );
    let (status, text) = import_text(&server, &token, body);
    assert_eq!(status, 204, "{text}");
    let after = now_ms();
    let exported = server.export(&token, "text_imported");
    assert_eq!(exported.len(), 2, "{exported:?}");
    let a = exported
        .iter()
        .find(|e| e.metric.get("job").map(String::as_str) == Some("a"))
        .expect("series a");
    assert_eq!(a.metric.get("path").map(String::as_str), Some("C:\\x"));
    assert_eq!(a.samples(), vec![(t, 1.5), (t + 1000, f64::NEG_INFINITY)]);
    let b = exported
        .iter()
        .find(|e| e.metric.get("job").map(String::as_str) == Some("b"))
        .expect("series b");
    let (stamp, value) = b.samples()[0];
    assert_eq!(value, 7.0);
    assert!(
        (before..=after).contains(&stamp),
        "a sample without a timestamp is stored at the import's time: {stamp} not in {before}..={after}"
    );

    // A malformed line stores nothing of the body and is named.
    let body = format!("text_bad 1 {t}\ntext_bad{{a=b}} 2 {t}\n");
    let (status, text) = import_text(&server, &token, body);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("line 2: the value of label") && text.contains("is not quoted"),
        "{text}"
    );
    assert!(server.export(&token, "text_bad").is_empty());

    // The same validation as pushes: an invalid metric name is refused by name.
    let (status, text) = import_text(&server, &token, format!("{{\"0bad\"}} 1 {t}\n"));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("0bad"), "{text}");
}
