//! Tenants see only their own data on every read API, from the head, after a restart
//! and from blocks; the tenant comes from the token, never from the request; only the
//! platform token creates tenants or acts for another tenant.

mod common;

use std::collections::BTreeMap;

use common::{encode_exact, label_map, now_ms, series, write_request, TestServer};
use serde_json::{json, Value};

type Data = BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>;

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("expected an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn create_token(server: &TestServer, as_token: &str, body: Value) -> (u16, Value) {
    server.post_json(as_token, "/api/pitot/v1/tokens", None, &body)
}

/// Every read API, called with `token` (plus `X-Scope-OrgID: org` if given), shows
/// exactly `data`.
fn assert_sees_exactly(
    server: &TestServer,
    who: &str,
    token: &str,
    org: Option<&str>,
    data: &Data,
) {
    let get = |path: &str, params: &[(&str, &str)]| -> Value {
        let mut req = server.get(path).bearer_auth(token).query(params);
        if let Some(org) = org {
            req = req.header("X-Scope-OrgID", org);
        }
        let (status, text) = common::status_and_text(req.send().unwrap());
        assert_eq!(status, 200, "{who}: GET {path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        v
    };
    let all = r#"{__name__=~".+"}"#;

    // export
    let mut req = server
        .get("/api/v1/export")
        .bearer_auth(token)
        .query(&[("match[]", all)]);
    if let Some(org) = org {
        req = req.header("X-Scope-OrgID", org);
    }
    let (status, text) = common::status_and_text(req.send().unwrap());
    assert_eq!(status, 200, "{who}: export: {text}");
    let exported: Data = text
        .lines()
        .map(common::Exported::parse)
        .map(|e| (e.metric.clone(), e.samples()))
        .collect();
    assert_eq!(&exported, data, "{who}: export");

    // series
    let listed: Vec<BTreeMap<String, String>> =
        serde_json::from_value(get("/api/v1/series", &[("match[]", all)])["data"].clone()).unwrap();
    let mut listed = listed;
    listed.sort();
    assert_eq!(
        listed,
        data.keys().cloned().collect::<Vec<_>>(),
        "{who}: series"
    );

    // labels, with and without match[]
    let mut names: Vec<String> = data.keys().flat_map(|l| l.keys().cloned()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        strings(&get("/api/v1/labels", &[])["data"]),
        names,
        "{who}: labels"
    );
    assert_eq!(
        strings(&get("/api/v1/labels", &[("match[]", all)])["data"]),
        names,
        "{who}: labels with match[]"
    );

    // label values of every name anyone uses, with and without match[]
    for name in ["__name__", "job", "env", "team"] {
        let mut values: Vec<String> = data.keys().filter_map(|l| l.get(name).cloned()).collect();
        values.sort();
        values.dedup();
        let path = format!("/api/v1/label/{name}/values");
        assert_eq!(
            strings(&get(&path, &[])["data"]),
            values,
            "{who}: {name} values"
        );
        assert_eq!(
            strings(&get(&path, &[("match[]", "shared_metric")])["data"]).len(),
            usize::from(name == "__name__" || name == "job"),
            "{who}: {name} values of shared_metric"
        );
    }
}

#[test]
fn tenants_see_only_their_own_data() {
    let mut server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let admin_default = server.initial_token.clone();
    let t = now_ms() - 120_000;

    // The platform creates tenant b and its tokens.
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    assert_eq!(status, 201, "create tenant b: {body}");
    let (status, body) = server.post_json(
        &platform,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "b"}),
    );
    assert_eq!(status, 409, "creating tenant b twice: {body}");
    let (status, body) = create_token(
        &server,
        &platform,
        json!({"tenant": "b", "scopes": ["metrics:read", "metrics:write"], "name": "b-rw"}),
    );
    assert_eq!(status, 201, "create token for b: {body}");
    assert_eq!(body["tenant"], "b", "{body}");
    let token_b = body["token"].as_str().unwrap().to_string();
    let (status, body) = create_token(
        &server,
        &platform,
        json!({"tenant": "b", "scopes": ["admin"], "name": "b-admin"}),
    );
    assert_eq!(status, 201, "create admin token for b: {body}");
    let admin_b = body["token"].as_str().unwrap().to_string();
    let (status, body) = create_token(
        &server,
        &admin_default,
        json!({"scopes": ["metrics:read"], "name": "d-ro"}),
    );
    assert_eq!(
        status, 201,
        "tenant admin creates a token for its own tenant: {body}"
    );
    let read_default = body["token"].as_str().unwrap().to_string();

    // A tenant admin can neither create tenants nor mint tokens for another tenant.
    let (status, body) = server.post_json(
        &admin_default,
        "/api/pitot/v1/tenants",
        None,
        &json!({"name": "c"}),
    );
    assert_eq!(status, 403, "tenant admin creating a tenant: {body}");
    let (status, body) = create_token(
        &server,
        &admin_default,
        json!({"tenant": "b", "scopes": ["metrics:read"]}),
    );
    assert_eq!(status, 403, "default's admin minting a token for b: {body}");
    let (status, body) = create_token(
        &server,
        &admin_b,
        json!({"tenant": "default", "scopes": ["admin"]}),
    );
    assert_eq!(status, 403, "b's admin minting a token for default: {body}");
    let (status, body) = create_token(&server, &token_b, json!({"scopes": ["metrics:read"]}));
    assert_eq!(status, 403, "a token without admin minting a token: {body}");
    let tenants = server
        .get("/api/pitot/v1/tenants")
        .bearer_auth(&admin_default)
        .send()
        .unwrap();
    let tenants: Value = tenants.json().unwrap();
    let ids: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default"], "a tenant admin lists only its own tenant");
    // Moments read the same in every answer: RFC 3339, not epoch milliseconds.
    let created = tenants[0]["created_at"]
        .as_str()
        .expect("created_at as text");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    let (_, own_tokens) = server.get_json(&admin_default, "/api/pitot/v1/tokens", &[]);
    let created = own_tokens[0]["created_at"]
        .as_str()
        .expect("created_at as text");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{own_tokens}"
    );
    let tokens = server
        .get("/api/pitot/v1/tokens")
        .bearer_auth(&admin_default)
        .query(&[("tenant", "b")])
        .send()
        .unwrap();
    assert_eq!(
        tokens.status().as_u16(),
        403,
        "default's admin listing b's tokens"
    );

    // The same series name with different values in both tenants, plus one of each's own.
    let shared = [("__name__", "shared_metric"), ("job", "a")];
    let default_shared: Vec<(i64, f64)> = (0..5).map(|i| (t + i * 1000, i as f64)).collect();
    let b_shared: Vec<(i64, f64)> = (0..5).map(|i| (t + i * 1000, 100.0 + i as f64)).collect();
    let default_own = [("__name__", "only_default"), ("env", "prod")];
    let b_own = [("__name__", "only_b"), ("team", "blue")];
    let (status, body) = server.push(
        &admin_default,
        &write_request(vec![
            series(&shared, &default_shared),
            series(&default_own, &[(t, 7.0)]),
        ]),
    );
    assert_eq!(status, 204, "push as default: {body}");
    let (status, body) = server.push(
        &token_b,
        &write_request(vec![
            series(&shared, &b_shared),
            series(&b_own, &[(t, 8.0)]),
        ]),
    );
    assert_eq!(status, 204, "push as b: {body}");

    // X-Scope-OrgID means nothing with a tenant token: this lands in default.
    let sneaky = [("__name__", "only_default"), ("env", "sneaky")];
    let response = server
        .post("/api/v1/push")
        .bearer_auth(&admin_default)
        .header("X-Scope-OrgID", "b")
        .body(encode_exact(&write_request(vec![series(
            &sneaky,
            &[(t, 9.0)],
        )])))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    // The platform token writes for the tenant it names.
    let by_platform = [("__name__", "only_b"), ("team", "platform")];
    let response = server
        .post("/api/v1/push")
        .bearer_auth(&platform)
        .header("X-Scope-OrgID", "b")
        .body(encode_exact(&write_request(vec![series(
            &by_platform,
            &[(t, 10.0)],
        )])))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    let default_data: Data = [
        (label_map(&shared), default_shared.clone()),
        (label_map(&default_own), vec![(t, 7.0)]),
        (label_map(&sneaky), vec![(t, 9.0)]),
    ]
    .into_iter()
    .collect();
    let b_data: Data = [
        (label_map(&shared), b_shared.clone()),
        (label_map(&b_own), vec![(t, 8.0)]),
        (label_map(&by_platform), vec![(t, 10.0)]),
    ]
    .into_iter()
    .collect();

    let check = |server: &TestServer, when: &str| {
        assert_sees_exactly(
            server,
            &format!("{when}, default's admin"),
            &admin_default,
            None,
            &default_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, default's reader"),
            &read_default,
            None,
            &default_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, default's admin naming b"),
            &admin_default,
            Some("b"),
            &default_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, b's token"),
            &token_b,
            None,
            &b_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, b's admin naming default"),
            &admin_b,
            Some("default"),
            &b_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, platform as b"),
            &platform,
            Some("b"),
            &b_data,
        );
        assert_sees_exactly(
            server,
            &format!("{when}, platform as default"),
            &platform,
            Some("default"),
            &default_data,
        );
        let (status, body) =
            server.get_json(&platform, "/api/v1/series", &[("match[]", "shared_metric")]);
        assert_eq!(
            status, 400,
            "{when}: the platform token without X-Scope-OrgID must name a tenant: {body}"
        );
    };
    check(&server, "from the head");
    server.restart();
    check(&server, "after a restart");
    let (status, body) = server.post_json(&platform, "/api/pitot/v1/admin/flush", None, &json!({}));
    assert_eq!(status, 200, "flush: {body}");
    check(&server, "from blocks");
    let (status, _) = server.post_json(
        &admin_default,
        "/api/pitot/v1/admin/flush",
        None,
        &json!({}),
    );
    assert_eq!(status, 403, "a tenant admin flushing storage");
}

/// The platform token acts only for tenants that exist: a typo in `X-Scope-OrgID` is a
/// 404 naming the tenant for pushes (metrics and logs) and reads, and stores nothing,
/// where it used to create an invisible tenant that stored, answered and was metered.
#[test]
fn the_platform_token_cannot_write_into_a_tenant_that_does_not_exist() {
    let server = TestServer::start(&[]);
    let platform = server.platform_token.clone();
    let request = write_request(vec![series(
        &[("__name__", "typo_metric")],
        &[(now_ms(), 1.0)],
    )]);
    let response = server
        .post("/api/v1/push")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Scope-OrgID", "nosuch")
        .bearer_auth(&platform)
        .body(encode_exact(&request))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("nosuch") && body.contains("does not exist"),
        "{body}"
    );

    let response = server
        .post("/loki/api/v1/push")
        .header("X-Scope-OrgID", "nosuch")
        .bearer_auth(&platform)
        .json(&json!({"streams": [{"stream": {"app": "x"}, "values": [[common::now_ns().to_string(), "line"]]}]}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);

    let response = server
        .get("/api/v1/query")
        .header("X-Scope-OrgID", "nosuch")
        .bearer_auth(&platform)
        .query(&[("query", "typo_metric")])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // Nothing was created: the tenant list still holds only the default tenant.
    let (status, tenants) = server.get_json(&platform, "/api/pitot/v1/tenants", &[]);
    assert_eq!(status, 200);
    assert!(!tenants.to_string().contains("nosuch"), "{tenants}");
    // An existing tenant named by the platform token still works.
    let response = server
        .post("/api/v1/push")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Scope-OrgID", "default")
        .bearer_auth(&platform)
        .body(encode_exact(&request))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
}
