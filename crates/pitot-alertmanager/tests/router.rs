//! The API v2 router end to end without a socket, with a header-based tenant extractor standing
//! in for the server's authentication.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use pitot_alertmanager::{api_v2_router, Alertmanager, AlertmanagerOptions};
use pitot_core::TenantId;
use tower::ServiceExt;

struct Tenant(TenantId);

impl From<Tenant> for TenantId {
    fn from(t: Tenant) -> TenantId {
        t.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = StatusCode;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let id = parts
            .headers
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        TenantId::new(id)
            .map(Tenant)
            .map_err(|_| StatusCode::BAD_REQUEST)
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    tenant: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-scope-orgid", tenant)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn router_serves_api_v2_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let am = Arc::new(Alertmanager::new(AlertmanagerOptions::new(
        dir.path(),
        "http://pitot",
    )));
    let app: axum::Router = api_v2_router::<Arc<Alertmanager>, Tenant>().with_state(am);

    let (s, _) = call(
        &app,
        "POST",
        "/api/v2/alerts",
        "a",
        r#"[{"labels":{"alertname":"X"}}]"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, alerts) = call(
        &app,
        "GET",
        "/api/v2/alerts?filter=alertname%3D%22X%22&active=true",
        "a",
        "",
    )
    .await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    let (_, other) = call(&app, "GET", "/api/v2/alerts", "b", "").await;
    assert_eq!(other, serde_json::json!([]));

    let silence = r#"{"matchers":[{"name":"alertname","value":"X","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2999-01-01T00:00:00Z","createdBy":"me","comment":"c"}"#;
    let (s, created) = call(&app, "POST", "/api/v2/silences", "a", silence).await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_string();
    let (_, got) = call(&app, "GET", &format!("/api/v2/silence/{id}"), "a", "").await;
    assert_eq!(got["status"]["state"], "active");
    let (s, _) = call(&app, "GET", &format!("/api/v2/silence/{id}"), "b", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "DELETE", &format!("/api/v2/silence/{id}"), "a", "").await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = call(&app, "GET", "/api/v2/silences", "a", "").await;
    assert_eq!(list[0]["status"]["state"], "expired");

    let (_, groups) = call(&app, "GET", "/api/v2/alerts/groups", "a", "").await;
    assert_eq!(groups[0]["receiver"]["name"], "empty-receiver");
    let (_, status) = call(&app, "GET", "/api/v2/status", "a", "").await;
    assert_eq!(status["cluster"]["status"], "disabled");
    let (_, receivers) = call(&app, "GET", "/api/v2/receivers", "a", "").await;
    assert_eq!(receivers, serde_json::json!([{"name": "empty-receiver"}]));
    let (s, err) = call(&app, "POST", "/api/v2/silences", "a", r#"{"matchers":[]}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err.as_str().unwrap().contains("invalid silence"));
}
