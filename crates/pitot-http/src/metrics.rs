//! Self-monitoring in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use pitot_distributor::Distributor;

use crate::AppStateRef;

/// A component's contribution to `/metrics`: appends text-format lines.
pub type MetricsCollector = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Route pattern, method, status code.
type RequestKey = (String, String, u16);

/// Upper bounds of the request-duration buckets, in seconds: Prometheus' client
/// libraries' defaults, so dashboards built for them work unchanged.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One route's requests: how many fell in each bucket (not cumulative), how many in
/// all and the seconds they took.
#[derive(Debug, Default)]
struct DurationHistogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Requests by route, method and status code, with a histogram of their durations.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<RequestKey, DurationHistogram>>,
}

impl HttpMetrics {
    fn observe(&self, route: String, method: String, code: u16, seconds: f64) {
        let mut map = self.requests.lock();
        let entry = map.entry((route, method, code)).or_default();
        if let Some(i) = DURATION_BUCKETS.iter().position(|&le| seconds <= le) {
            entry.buckets[i] += 1;
        }
        entry.count += 1;
        entry.sum += seconds;
    }

    /// Appends the request counters and the duration histogram (`_bucket` with `+Inf`,
    /// `_sum`, `_count`, as `promtool check metrics` expects).
    pub fn render(&self, out: &mut String) {
        let map = self.requests.lock();
        out.push_str(
            "# HELP pitot_http_requests_total HTTP requests by route, method and status code.\n",
        );
        out.push_str("# TYPE pitot_http_requests_total counter\n");
        for ((route, method, code), h) in map.iter() {
            let _ = writeln!(out, "pitot_http_requests_total{{route=\"{route}\",method=\"{method}\",code=\"{code}\"}} {}", h.count);
        }
        out.push_str(
            "# HELP pitot_http_request_duration_seconds Time spent serving HTTP requests, by route, method and status code.\n",
        );
        out.push_str("# TYPE pitot_http_request_duration_seconds histogram\n");
        for ((route, method, code), h) in map.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",code=\"{code}\"");
            let mut cumulative = 0;
            for (le, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "pitot_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "pitot_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 pitot_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 pitot_http_request_duration_seconds_count{{{labels}}} {}",
                h.count, h.sum, h.count
            );
        }
    }
}

/// Middleware that counts every request under its route pattern (not its raw path, so
/// label values stay bounded).
pub async fn track(State(state): State<AppStateRef>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.http_metrics.observe(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Appends the PromQL parse cache's lookups by result, so the operator sees its hit
/// ratio (dashboards and rules send the same texts again and again).
pub fn render_parse_cache(out: &mut String) {
    let (hits, misses) = pitot_promql::parse_cache_stats();
    let _ = writeln!(
        out,
        "# HELP pitot_promql_parse_cache_requests_total Lookups of the PromQL parse cache, by result.\n\
         # TYPE pitot_promql_parse_cache_requests_total counter\n\
         pitot_promql_parse_cache_requests_total{{result=\"hit\"}} {hits}\n\
         pitot_promql_parse_cache_requests_total{{result=\"miss\"}} {misses}"
    );
}

/// Appends the distributor's counters.
pub fn render_distributor(d: &Distributor, out: &mut String) {
    out.push_str("# HELP pitot_distributor_received_samples_total Samples received in remote-write requests.\n");
    out.push_str("# TYPE pitot_distributor_received_samples_total counter\n");
    let _ = writeln!(
        out,
        "pitot_distributor_received_samples_total {}",
        d.received_samples.load(Ordering::Relaxed)
    );
    render_tenant_counters(
        out,
        &[
        (
            "pitot_ingested_samples_total",
            "Samples stored, by tenant.",
            &d.ingested,
        ),
        (
            "pitot_duplicate_samples_total",
            "Samples acknowledged as exact duplicates of stored ones (retries), by tenant; stored once, not billed.",
            &d.duplicates,
        ),
    ],
    );
    out.push_str("# HELP pitot_discarded_samples_total Samples refused, by tenant and reason.\n");
    out.push_str("# TYPE pitot_discarded_samples_total counter\n");
    for (tenant, reason, n) in d.discarded.snapshot() {
        let _ = writeln!(
            out,
            "pitot_discarded_samples_total{{tenant=\"{tenant}\",reason=\"{reason}\"}} {n}"
        );
    }
}

/// Appends the logs distributor's counters (Loki's names, with a `pitot_logs_` prefix).
pub fn render_logs_distributor(d: &pitot_distributor::logs::LogsDistributor, out: &mut String) {
    for (name, help, value) in [
        (
            "pitot_logs_received_entries_total",
            "Log entries received in pushes.",
            d.received_entries.load(Ordering::Relaxed),
        ),
        (
            "pitot_logs_received_bytes_total",
            "Raw log line bytes received in pushes.",
            d.received_bytes.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    render_tenant_counters(
        out,
        &[
        (
            "pitot_logs_ingested_entries_total",
            "Log entries stored, by tenant.",
            &d.ingested_entries,
        ),
        (
            "pitot_logs_ingested_bytes_total",
            "Raw log line bytes stored, by tenant.",
            &d.ingested_bytes,
        ),
        (
            "pitot_logs_duplicate_entries_total",
            "Log entries acknowledged as exact duplicates of stored ones (retries), by tenant; stored once, not billed.",
            &d.duplicate_entries,
        ),
    ],
    );
    for (name, help, counters) in [
        (
            "pitot_logs_discarded_entries_total",
            "Log entries refused, by tenant and reason.",
            &d.discarded_entries,
        ),
        (
            "pitot_logs_discarded_bytes_total",
            "Raw log line bytes refused, by tenant and reason.",
            &d.discarded_bytes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (tenant, reason, n) in counters.snapshot() {
            let _ = writeln!(out, "{name}{{tenant=\"{tenant}\",reason=\"{reason}\"}} {n}");
        }
    }
}

/// Appends counters labelled by tenant: `(name, help, counters)` each.
fn render_tenant_counters(
    out: &mut String,
    families: &[(&str, &str, &pitot_distributor::TenantCounters)],
) {
    for (name, help, counters) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (tenant, n) in counters.snapshot() {
            let _ = writeln!(out, "{name}{{tenant=\"{tenant}\"}} {n}");
        }
    }
}

/// Label names that identify a tenant in Pitot's own metrics.
const TENANT_LABELS: [&str; 2] = ["tenant", "user"];

/// The exposition text without the samples that carry a tenant label (and with a
/// comment saying so), for scrapes that do not present the platform token.
pub fn without_tenant_series(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hidden = 0usize;
    for line in text.lines() {
        if !line.starts_with('#') && has_tenant_label(line) {
            hidden += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "# {hidden} per-tenant samples hidden: scrape with the platform token to see them"
        );
    }
    out
}

/// Whether a sample line's label set names a tenant. Label values escape `"`, so a
/// `,tenant="` or `{tenant="` can only be a label name, never part of a value.
fn has_tenant_label(line: &str) -> bool {
    let Some(open) = line.find('{') else {
        return false;
    };
    let labels = &line[open..];
    TENANT_LABELS.iter().any(|name| {
        labels.match_indices(name).any(|(at, _)| {
            at > 0
                && matches!(labels.as_bytes()[at - 1], b'{' | b',')
                && labels[at + name.len()..].starts_with("=\"")
        })
    })
}

#[cfg(test)]
mod tenant_series_tests {
    use super::without_tenant_series;

    #[test]
    fn hides_only_samples_with_a_tenant_label() {
        let text = "# HELP a x\n# TYPE a gauge\na{tenant=\"acme\"} 1\na{route=\"/x\",user=\"acme\"} 2\nb 3\nc{route=\"/tenant=\\\"x\\\"\"} 4\nd{subtenant=\"y\"} 5\n";
        let out = without_tenant_series(text);
        assert!(!out.contains("acme"), "{out}");
        assert!(out.contains("b 3\n"), "{out}");
        assert!(out.contains("c{route="), "{out}");
        assert!(out.contains("d{subtenant="), "{out}");
        assert!(out.contains("# HELP a x"), "{out}");
        assert!(out.contains("2 per-tenant samples hidden"), "{out}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_durations_render_as_a_complete_histogram() {
        let metrics = HttpMetrics::default();
        for seconds in [0.001, 0.02, 0.02, 3.0, 60.0] {
            metrics.observe("/api/v1/query".into(), "GET".into(), 200, seconds);
        }
        let mut out = String::new();
        metrics.render(&mut out);
        let line = |le: &str| {
            format!("pitot_http_request_duration_seconds_bucket{{route=\"/api/v1/query\",method=\"GET\",code=\"200\",le=\"{le}\"}} ")
        };
        let value = |prefix: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{out}"))
                .parse()
                .unwrap()
        };
        // Buckets are cumulative; the slowest request is only in +Inf.
        assert_eq!(value(&line("0.005")), 1.0);
        assert_eq!(value(&line("0.01")), 1.0);
        assert_eq!(value(&line("0.025")), 3.0);
        assert_eq!(value(&line("5")), 4.0);
        assert_eq!(value(&line("10")), 4.0);
        assert_eq!(value(&line("+Inf")), 5.0);
        let labels = "{route=\"/api/v1/query\",method=\"GET\",code=\"200\"} ";
        assert_eq!(
            value(&format!(
                "pitot_http_request_duration_seconds_count{labels}"
            )),
            5.0
        );
        let sum = value(&format!("pitot_http_request_duration_seconds_sum{labels}"));
        assert!((sum - 63.041).abs() < 1e-9, "{sum}");
        assert_eq!(value(&format!("pitot_http_requests_total{labels}")), 5.0);
        assert!(out.contains("# TYPE pitot_http_request_duration_seconds histogram\n"));
    }
}
