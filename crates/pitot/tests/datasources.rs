//! Data sources: each tenant starts with its defaults, creates more, writes and reads
//! them by `X-Pitot-Datasource` or `/ds/<name>/`, reads several at once, keeps managed
//! ones read-only, restricts tokens to named ones, meters usage per data source, writes
//! its usage into its managed data source, and deletes one with everything it held.

mod common;

use common::{encode_exact, now_ms, now_ns, series, write_request, TestServer};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

const DS: &str = "X-Pitot-Datasource";

fn send(req: RequestBuilder) -> (u16, Value) {
    let response = req.send().expect("request");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Pushes one sample of `m{src=...}` to `path` with optional data source header.
fn push_to(
    server: &TestServer,
    token: &str,
    path: &str,
    ds: Option<&str>,
    src: &str,
) -> (u16, Value) {
    let body = encode_exact(&write_request(vec![series(
        &[("__name__", "m"), ("src", src)],
        &[(now_ms() - 5_000, 1.0)],
    )]));
    let mut req = server
        .post(path)
        .bearer_auth(token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(body);
    if let Some(ds) = ds {
        req = req.header(DS, ds);
    }
    send(req)
}

/// The sorted `src` labels of the series `m` visible at `path` with the header.
fn sources(server: &TestServer, token: &str, path: &str, ds: Option<&str>) -> (u16, Vec<String>) {
    let mut req = server.get(path).bearer_auth(token).query(&[("query", "m")]);
    if let Some(ds) = ds {
        req = req.header(DS, ds);
    }
    let (status, body) = send(req);
    if status != 200 {
        return (status, vec![body.to_string()]);
    }
    let mut out: Vec<String> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["src"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    (status, out)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn data_sources_are_separate_stores_selected_per_request() {
    let mut server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let platform = server.platform_token.clone();

    // Defaults: a custom store of each type and the managed metrics one.
    let (status, list) = server.get_json(&token, "/api/pitot/v1/datasources", &[]);
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), ["logs", "metrics", "pitot"], "{list}");
    let pitot = &list[2];
    assert_eq!(pitot["origin"], "managed");
    assert_eq!(pitot["type"], "metrics");
    assert_eq!(pitot["default"], true);

    // Create, with validation.
    let create = |body: Value| server.post_json(&token, "/api/pitot/v1/datasources", None, &body);
    let (status, ds) = create(json!({"name": "prod", "type": "metrics", "retention": "30d"}));
    assert_eq!(status, 201, "{ds}");
    assert_eq!(ds["retention"], "30d");
    assert_eq!(ds["retention_seconds"], 30 * 86_400);
    assert_eq!(ds["origin"], "custom");
    assert_eq!(create(json!({"name": "prod", "type": "metrics"})).0, 409);
    let (status, err) = create(json!({"name": "Prod!", "type": "metrics"}));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("name"), "{err}");
    let (status, err) = create(json!({"name": "t", "type": "traces"}));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("type"), "{err}");
    let (status, _) = create(json!({"name": "mine", "type": "metrics", "origin": "managed"}));
    assert_eq!(status, 403, "tenants cannot create managed data sources");
    assert_eq!(create(json!({"name": "audit", "type": "logs"})).0, 201);

    // Writes: default, header, path prefix.
    assert_eq!(
        push_to(&server, &token, "/api/v1/push", None, "default").0,
        204
    );
    assert_eq!(
        push_to(&server, &token, "/api/v1/push", Some("prod"), "prod-header").0,
        204
    );
    assert_eq!(
        push_to(&server, &token, "/ds/prod/api/v1/push", None, "prod-path").0,
        204
    );
    let (status, err) = push_to(&server, &token, "/api/v1/push", Some("nope"), "x");
    assert_eq!(status, 404, "{err}");
    let (status, err) = push_to(&server, &token, "/api/v1/push", Some("audit"), "x");
    assert_eq!(status, 400, "a logs data source takes no samples: {err}");
    let (status, _) = push_to(&server, &token, "/api/v1/push", Some("metrics,prod"), "x");
    assert_eq!(status, 400, "a push goes to one data source");

    // Reads: each alone, both at once, by header or path.
    assert_eq!(
        sources(&server, &token, "/api/v1/query", None),
        (200, vec!["default".to_string()])
    );
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("prod")).1,
        ["prod-header", "prod-path"]
    );
    assert_eq!(
        sources(&server, &token, "/ds/prod/api/v1/query", None).1,
        ["prod-header", "prod-path"]
    );
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("metrics,prod")).1,
        ["default", "prod-header", "prod-path"]
    );
    let (status, body) = send(
        server
            .get("/ds/prod/api/v1/series")
            .bearer_auth(&token)
            .query(&[("match[]", "m")]),
    );
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");

    // Managed: the tenant reads it, only the platform writes it.
    let (status, err) = push_to(&server, &token, "/api/v1/push", Some("pitot"), "x");
    assert_eq!(status, 403, "{err}");
    assert!(err["error"].as_str().unwrap().contains("managed"), "{err}");
    let body = encode_exact(&write_request(vec![series(
        &[("__name__", "m"), ("src", "platform")],
        &[(now_ms() - 5_000, 1.0)],
    )]));
    let (status, err) = send(
        server
            .post("/api/v1/push")
            .bearer_auth(&platform)
            .header("X-Scope-OrgID", "default")
            .header(DS, "pitot")
            .body(body),
    );
    assert_eq!(status, 204, "{err}");
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("pitot")).1,
        ["platform"]
    );

    // Logs data sources.
    let line = |ds: Option<&str>, text: &str| {
        let mut req = server.post("/loki/api/v1/push").bearer_auth(&token).json(
            &json!({"streams": [{"stream": {"app": "a"}, "values": [[now_ns().to_string(), text]]}]}),
        );
        if let Some(ds) = ds {
            req = req.header(DS, ds);
        }
        send(req).0
    };
    assert_eq!(line(None, "to default"), 204);
    assert_eq!(line(Some("audit"), "to audit"), 204);
    let lines = |path: &str, ds: Option<&str>| -> Vec<String> {
        let mut req = server.get(path).bearer_auth(&token).query(&[
            ("query", "{app=\"a\"}"),
            ("start", &(now_ns() - 600_000_000_000).to_string()),
        ]);
        if let Some(ds) = ds {
            req = req.header(DS, ds);
        }
        let (status, body) = send(req);
        assert_eq!(status, 200, "{body}");
        let mut out: Vec<String> = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().clone())
            .map(|v| v[1].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    };
    assert_eq!(lines("/loki/api/v1/query_range", None), ["to default"]);
    assert_eq!(
        lines("/loki/api/v1/query_range", Some("audit")),
        ["to audit"]
    );
    assert_eq!(
        lines("/ds/audit/loki/api/v1/query_range", None),
        ["to audit"]
    );
    assert_eq!(
        lines("/loki/api/v1/query_range", Some("logs,audit")),
        ["to audit", "to default"]
    );

    // A token limited to `prod`.
    let (status, created) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["metrics:write", "metrics:read"], "datasources": ["prod"]}),
    );
    assert_eq!(status, 201, "{created}");
    let limited = created["token"].as_str().unwrap().to_string();
    assert_eq!(
        push_to(&server, &limited, "/api/v1/push", Some("prod"), "limited").0,
        204
    );
    let (status, err) = push_to(&server, &limited, "/api/v1/push", None, "limited");
    assert_eq!(
        status, 403,
        "the default data source is not among its own: {err}"
    );
    assert_eq!(sources(&server, &limited, "/api/v1/query", None).0, 403);
    let (_, visible) = server.get_json(&limited, "/api/pitot/v1/datasources", &[]);
    assert_eq!(names(&visible), ["prod"]);
    let (status, _) = server.post_json(
        &token,
        "/api/pitot/v1/tokens",
        None,
        &json!({"scopes": ["metrics:read"], "datasources": ["ghost"]}),
    );
    assert_eq!(
        status, 400,
        "a token cannot name a data source that does not exist"
    );

    // Usage per data source, managed apart.
    let (status, usage) = server.get_json(&token, "/api/pitot/v1/usage", &[]);
    assert_eq!(status, 200);
    let row = |ds: &str| {
        usage["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["datasource"] == ds)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {ds}: {usage}"))
    };
    assert_eq!(row("prod")["samples_ingested"], 3, "{usage}");
    assert_eq!(row("metrics")["samples_ingested"], 1, "{usage}");
    assert_eq!(row("pitot")["origin"], "managed", "{usage}");
    assert_eq!(row("pitot")["samples_ingested"], 1, "{usage}");
    assert_eq!(row("audit")["log_lines_ingested"], 1, "{usage}");
    assert!(
        row("prod")["samples_scanned"].as_u64().unwrap() >= 2,
        "{usage}"
    );

    // Retention changes; deletion needs confirmation and removes the data for good.
    let (status, ds) = send(
        server
            .client()
            .put(format!(
                "{}/api/pitot/v1/datasources/prod",
                server.base_url()
            ))
            .bearer_auth(&token)
            .json(&json!({"retention": "7d"})),
    );
    assert_eq!(status, 200, "{ds}");
    assert_eq!(ds["retention"], "7d");
    let (status, err) = send(
        server
            .delete("/api/pitot/v1/datasources/prod")
            .bearer_auth(&token),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("confirm=prod"),
        "{err}"
    );
    let (status, _) = send(
        server
            .delete("/api/pitot/v1/datasources/metrics?confirm=metrics")
            .bearer_auth(&token),
    );
    assert_eq!(status, 409, "default data sources stay");
    let (status, _) = send(
        server
            .delete("/api/pitot/v1/datasources/prod?confirm=prod")
            .bearer_auth(&token),
    );
    assert_eq!(status, 204);
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("prod")).0,
        404
    );
    server.restart();
    let (status, _) = server.post_json(
        &token,
        "/api/pitot/v1/datasources",
        None,
        &json!({"name": "prod", "type": "metrics"}),
    );
    assert_eq!(status, 201);
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("prod")),
        (200, vec![]),
        "nothing of the deleted data source came back"
    );
    assert_eq!(
        sources(&server, &token, "/api/v1/query", None).1,
        ["default"],
        "other data sources are untouched"
    );
}

#[test]
fn tenants_cannot_see_or_name_each_others_data_sources() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let platform = server.platform_token.clone();
    assert_eq!(
        server
            .post_json(
                &platform,
                "/api/pitot/v1/tenants",
                None,
                &json!({"name": "b"})
            )
            .0,
        201
    );
    let (_, created) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "b", "scopes": ["admin"]}),
    );
    let token_b = created["token"].as_str().unwrap().to_string();
    assert_eq!(
        server
            .post_json(
                &token,
                "/api/pitot/v1/datasources",
                None,
                &json!({"name": "secret", "type": "metrics"})
            )
            .0,
        201
    );
    assert_eq!(
        push_to(&server, &token, "/api/v1/push", Some("secret"), "a").0,
        204
    );

    let (_, list_b) = server.get_json(&token_b, "/api/pitot/v1/datasources", &[]);
    assert_eq!(names(&list_b), ["logs", "metrics", "pitot"]);
    let (status, _) = server.get_json(
        &token_b,
        "/api/pitot/v1/datasources",
        &[("tenant", "default")],
    );
    assert_eq!(status, 403);
    assert_eq!(
        sources(&server, &token_b, "/api/v1/query", Some("secret")).0,
        404
    );
    assert_eq!(
        push_to(&server, &token_b, "/api/v1/push", Some("secret"), "b").0,
        404
    );
    let (status, _) = send(
        server
            .delete("/api/pitot/v1/datasources/secret?confirm=secret")
            .bearer_auth(&token_b),
    );
    assert_eq!(status, 404);
    assert_eq!(
        sources(&server, &token, "/api/v1/query", Some("secret")).1,
        ["a"]
    );
    // The platform lists every tenant's.
    let (_, all) = server.get_json(&platform, "/api/pitot/v1/datasources", &[]);
    assert_eq!(all.as_array().unwrap().len(), 7, "{all}");
}

#[test]
fn usage_series_are_written_into_the_managed_data_source() {
    let server = TestServer::start(&["--usage-series-interval", "1s"]);
    let token = server.initial_token.clone();
    assert_eq!(push_to(&server, &token, "/api/v1/push", None, "x").0, 204);
    let found = common::wait_until(std::time::Duration::from_secs(30), || {
        let (status, body) = send(
            server
                .get("/api/v1/query")
                .bearer_auth(&token)
                .header(DS, "pitot")
                .query(&[(
                    "query",
                    "pitot_usage_samples_ingested_total{datasource=\"metrics\"}",
                )]),
        );
        status == 200
            && body["data"]["result"]
                .as_array()
                .is_some_and(|r| r.first().is_some_and(|s| s["value"][1] == "1"))
    });
    assert!(
        found,
        "pitot_usage_samples_ingested_total never showed the pushed sample"
    );
    // What Pitot writes there is metered as the managed data source's samples (and
    // priced at nothing).
    let metered = common::wait_until(std::time::Duration::from_secs(30), || {
        let (_, usage) = server.get_json(&token, "/api/pitot/v1/usage", &[]);
        usage["rows"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["datasource"] == "pitot"
                    && r["origin"] == "managed"
                    && r["samples_ingested"].as_u64().unwrap_or(0) > 0
            })
        })
    });
    assert!(
        metered,
        "the managed data source's samples were not metered"
    );
    // Not in the tenant's own (billed) metrics.
    let (status, body) = send(
        server
            .get("/api/v1/query")
            .bearer_auth(&token)
            .query(&[("query", "pitot_usage_samples_ingested_total")]),
    );
    assert_eq!(status, 200);
    assert_eq!(body["data"]["result"], json!([]), "{body}");
}
