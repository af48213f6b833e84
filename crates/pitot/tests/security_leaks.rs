//! Issue 16, findings 10 and 11 (tokens, data sources): what the server gives away
//! without being asked, and per-tenant objects without bounds.
//!
//! - `/metrics` without the platform token names no tenant; with it, it does.
//! - The data directory is 0700; the metadata database and the token files are 0600.
//! - The initial token never reaches stderr (logs).
//! - An empty or short `platform-token` file stops the start with an error saying what to
//!   do; an empty `Authorization: Bearer` authenticates as nobody.
//! - A tenant's tokens and data sources are held to `max_tokens` and
//!   `max_data_sources`, also under concurrent creation.

mod common;

use std::process::{Command, Stdio};

use common::{now_ms, series, write_request, TestServer};
use serde_json::json;

#[test]
fn metrics_name_tenants_only_to_the_operator() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "acme-secret-customer"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tokens",
        None,
        &json!({"tenant": "acme-secret-customer", "scopes": ["metrics:write"]}),
    );
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    // A push with one bad series, so discarded-sample counters by tenant exist too.
    let t = now_ms();
    let request = write_request(vec![
        series(&[("__name__", "up"), ("job", "a")], &[(t, 1.0)]),
        series(&[("__name__", "bad name"), ("job", "a")], &[(t, 1.0)]),
    ]);
    server.push(&token, &request);
    server
        .post("/api/pitot/v1/admin/flush")
        .bearer_auth(&platform)
        .send()
        .unwrap();

    let anonymous = server.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        !anonymous.contains("acme-secret-customer"),
        "an anonymous scrape names a tenant:\n{anonymous}"
    );
    assert!(
        anonymous.contains("pitot_http_requests_total"),
        "{anonymous}"
    );
    // A tenant's own token is not the operator's either.
    let as_tenant = server
        .get("/metrics")
        .bearer_auth(&server.initial_token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!as_tenant.contains("acme-secret-customer"));
    let operator = server
        .get("/metrics")
        .bearer_auth(&platform)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        operator.contains("tenant=\"acme-secret-customer\""),
        "the operator sees per-tenant series:\n{operator}"
    );
}

#[cfg(unix)]
#[test]
fn data_files_are_private_and_the_initial_token_is_not_logged() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(&[]);
    let mode = |name: &str| {
        std::fs::metadata(server.data_dir().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in ["pitot.db", "initial-token", "platform-token"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    // Everything else the server created is private too (umask 077).
    for entry in walk(server.data_dir()) {
        let m = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
        assert_eq!(m & 0o077, 0, "{} is mode {m:o}", entry.display());
    }
    let stderr = server.stderr();
    assert!(
        !stderr.contains(&server.initial_token),
        "the initial token is in the server's stderr:\n{stderr}"
    );
    assert!(stderr.contains("initial-token"), "{stderr}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn an_empty_platform_token_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("platform-token"), "").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pitot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run pitot");
    assert!(!output.status.success(), "the server started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("platform token") && stderr.contains("at least 16"),
        "{stderr}"
    );
}

#[test]
fn an_empty_credential_is_nobody() {
    let server = TestServer::start(&[]);
    for header in ["Bearer", "Bearer ", "Bearer    "] {
        let response = server
            .get("/api/pitot/v1/tenants")
            .header("Authorization", header)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{header:?}");
    }
    let response = server
        .get("/api/pitot/v1/tokens")
        .header("X-Token", "")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[test]
fn tokens_and_data_sources_are_bounded_per_tenant() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let admin = server.initial_token.clone();
    server.put_limits("default", &json!({"max_tokens": 4, "max_data_sources": 4}));

    // The initial token is one; eight concurrent creations leave exactly four in all.
    let results: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let server = &server;
                let admin = &admin;
                scope.spawn(move || {
                    server.post_json(
                        admin,
                        "/api/pitot/v1/tokens",
                        None,
                        &json!({"scopes": ["metrics:read"], "name": format!("t{i}")}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 3, "{results:?}");
    let refused = results.iter().find(|(s, _)| *s != 201).unwrap();
    assert_eq!(refused.0, 400, "{refused:?}");
    let text = refused.1.to_string();
    assert!(
        text.contains("per-tenant-tokens-limit") && text.contains("max_tokens"),
        "{text}"
    );
    let (status, listed) =
        server.get_json(&platform, "/api/pitot/v1/tokens", &[("tenant", "default")]);
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");

    // Three data sources to start with; one more fits, the next does not.
    let create = |name: &str| {
        server.post_json(
            &admin,
            "/api/pitot/v1/datasources",
            None,
            &json!({"name": name, "type": "metrics"}),
        )
    };
    assert_eq!(create("prod").0, 201);
    let (status, body) = create("staging");
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("max_data_sources"), "{body}");
    // The operator may go past a tenant's limit deliberately.
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/datasources",
        Some("default"),
        &json!({"name": "staging", "type": "metrics", "tenant": "default"}),
    );
    assert_eq!(status, 201, "{body}");
    // The server is alive and the tenant's other work is unaffected.
    let health = server.get("/health").send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
