//! What an operator coming from Prometheus expects of the server's own endpoints:
//! Prometheus' probe paths, a 404 that says what was asked, and a `/metrics` whose
//! histograms are complete (`promtool check metrics` runs on it in
//! `tests/interop/prometheus_remote_write.sh`).

mod common;

use common::TestServer;

#[test]
fn prometheus_probe_paths_answer() {
    let server = TestServer::start(&[]);
    for path in ["/-/ready", "/-/healthy", "/ready", "/health"] {
        let response = server.get(path).send().expect("probe");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

#[test]
fn an_unknown_path_is_a_404_that_names_it() {
    let server = TestServer::start(&[]);
    let response = server.get("/api/v1/nosuch").send().expect("get");
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().expect("a JSON error body");
    assert_eq!(body["status"], "error", "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("GET /api/v1/nosuch"),
        "the error names what was asked: {body}"
    );
}

#[test]
fn request_durations_are_a_complete_histogram() {
    let server = TestServer::start(&[]);
    for _ in 0..3 {
        server.get("/-/healthy").send().expect("probe");
    }
    let text = server
        .get("/metrics")
        .send()
        .expect("metrics")
        .text()
        .expect("body");
    let labels = r#"route="/-/healthy",method="GET",code="200""#;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
            .parse()
            .expect("a number")
    };
    let count = value(&format!(
        "pitot_http_request_duration_seconds_count{{{labels}}}"
    ));
    assert!(count >= 3.0, "{count}");
    assert_eq!(
        value(&format!(
            "pitot_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}"
        )),
        count
    );
    assert!(
        value(&format!(
            "pitot_http_request_duration_seconds_sum{{{labels}}}"
        )) > 0.0
    );
}

/// Prometheus' status pages: build information for anyone (Grafana reads it), the
/// configuration, every option's value and runtime facts for the operator, secrets
/// hidden; a tenant's token is refused the operator's pages.
#[test]
fn status_endpoints_are_filled_in_for_the_operator() {
    let server = TestServer::start(&["--set", "pricing.per_million_samples=0.25"]);
    let platform = server.platform_token.clone();
    let tenant = server.initial_token.clone();

    let (code, build) = server.get_json(&tenant, "/api/v1/status/buildinfo", &[]);
    assert_eq!(code, 200, "{build}");
    assert_eq!(build["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        build["data"]["goVersion"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rustc"),
        "{build}"
    );

    let (code, flags) = server.get_json(&platform, "/api/v1/status/flags", &[]);
    assert_eq!(code, 200, "{flags}");
    let flags = &flags["data"];
    assert_eq!(flags["pricing.per_million_samples"], "0.25", "{flags}");
    assert_eq!(flags["storage.retention"], "31d");
    assert_eq!(flags["tenant_limits.ingestion_rate"], "10000.0");
    for (key, value) in flags.as_object().expect("flags") {
        assert_ne!(
            value.as_str(),
            Some(platform.as_str()),
            "{key} shows the token"
        );
    }

    let (code, config) = server.get_json(&platform, "/prometheus/api/v1/status/config", &[]);
    assert_eq!(code, 200, "{config}");
    let yaml = config["data"]["yaml"].as_str().expect("yaml");
    assert!(yaml.contains("per_million_samples: 0.25"), "{yaml}");
    assert!(!yaml.contains(&platform), "the platform token is hidden");

    let (code, runtime) = server.get_json(&platform, "/api/v1/status/runtimeinfo", &[]);
    assert_eq!(code, 200, "{runtime}");
    assert_eq!(runtime["data"]["storageRetention"], "31d");
    let started = runtime["data"]["startTime"].as_str().expect("startTime");
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "{started}"
    );

    for path in [
        "/api/v1/status/config",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
    ] {
        let (code, body) = server.get_json(&tenant, path, &[]);
        assert_eq!(code, 403, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("platform token"),
            "{path}: {body}"
        );
    }
}

/// The Grafana dashboard in `dashboards/pitot.json` graphs what `/metrics` has: every
/// panel's query parses, and every metric it names is a family the server exports.
#[test]
fn the_grafana_dashboard_queries_metrics_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/pitot.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read dashboard"))
            .expect("the dashboard is JSON");
    let server = TestServer::start(&[]);
    let text = server.metrics_text();
    let families: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            let concrete = expr.replace("$__rate_interval", "5m");
            pitot_promql::parse(&concrete)
                .unwrap_or_else(|e| panic!("panel {:?}: {expr}: {e}", panel["title"]));
            queries += 1;
            for word in
                concrete.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            {
                let known_prefix = ["pitot_", "process_", "prometheus_", "alertmanager_"]
                    .iter()
                    .any(|p| word.starts_with(p));
                if !known_prefix {
                    continue;
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s).filter(|f| families.contains(f)))
                    .unwrap_or(word);
                assert!(
                    families.contains(family),
                    "panel {:?} graphs {word}, which /metrics does not export",
                    panel["title"]
                );
            }
        }
    }
    assert!(queries >= 20, "{queries} queries");
}

/// The README lists every ready-made alert Pitot ships.
#[test]
fn the_readme_documents_every_ready_made_alert() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README");
    let alerts: Vec<&str> = pitot_http::ready_made::RULES
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 4, "{alerts:?}");
    for alert in alerts {
        assert!(
            readme.contains(&format!("`{alert}`")),
            "README misses {alert}"
        );
    }
}

/// The same query text twice is parsed once: the second is a hit of the parse cache,
/// which `/metrics` counts.
#[test]
fn parse_cache_hits_are_counted() {
    let server = TestServer::start(&[]);
    let token = server.initial_token.clone();
    let counter = |result: &str| -> f64 {
        let series = format!("pitot_promql_parse_cache_requests_total{{result=\"{result}\"}}");
        server
            .metric(&series)
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    };
    let query = "count(up) or vector(12345.5)";
    server.get_data(&token, "/api/v1/query", &[("query", query)]);
    let hits = counter("hit");
    server.get_data(&token, "/api/v1/query", &[("query", query)]);
    assert!(counter("hit") >= hits + 1.0, "the second parse is a hit");
    assert!(counter("miss") >= 1.0);
}
