//! Engine behaviour on a simulated clock: grouping and timing, routing, inhibition, silences,
//! the notification log across restarts, and tenant isolation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use pitot_alertmanager::api;
use pitot_alertmanager::config::Integration;
use pitot_alertmanager::template::Templates;
use pitot_alertmanager::{
    Alertmanager, AlertmanagerConfig, AlertmanagerOptions, AmError, ManualClock, Notification,
    Notifier, PostableAlert,
};
use pitot_core::TenantId;
use serde_json::json;

#[derive(Debug, Clone)]
struct Sent {
    tenant: String,
    receiver: String,
    status: String,
    alerts: Vec<(String, String)>,
}

#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Vec<Sent>>>);

impl Capture {
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock())
    }
}

#[async_trait]
impl Notifier for Capture {
    async fn notify(
        &self,
        n: &Notification,
        _: &Integration,
        _: &Templates,
    ) -> Result<(), AmError> {
        let payload = n.webhook_payload(0);
        let alerts = payload["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["labels"]["instance"].as_str().unwrap_or("").to_string(),
                    a["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        self.0.lock().push(Sent {
            tenant: n.tenant.to_string(),
            receiver: n.receiver.clone(),
            status: n.status().to_string(),
            alerts,
        });
        Ok(())
    }
}

const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: db
      continue: true
    - matchers: ['team=~"db|web"']
      receiver: ops
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
receivers:
  - name: default
    webhook_configs: [{url: 'http://127.0.0.1:1/default'}]
  - name: db
    webhook_configs: [{url: 'http://127.0.0.1:1/db'}]
  - name: ops
    webhook_configs: [{url: 'http://127.0.0.1:1/ops'}]
"#;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-03T10:00:00Z")
        .unwrap()
        .to_utc()
}

struct Harness {
    am: Alertmanager,
    clock: ManualClock,
    sent: Capture,
}

fn harness_at(dir: &Path, clock: ManualClock) -> Harness {
    let sent = Capture::default();
    let am = Alertmanager::new(AlertmanagerOptions {
        clock: Arc::new(clock.clone()),
        notifier: Arc::new(sent.clone()),
        ..AlertmanagerOptions::new(dir, "http://pitot/alertmanager")
    });
    Harness { am, clock, sent }
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn alert(pairs: &[(&str, &str)], ends_at: Option<DateTime<Utc>>) -> PostableAlert {
    PostableAlert {
        labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::from([("summary".to_string(), "s".to_string())]),
        starts_at: None,
        ends_at,
        generator_url: Some("http://prom/graph".to_string()),
    }
}

impl Harness {
    fn configure(&self, t: &TenantId) {
        self.am
            .set_config(
                t,
                AlertmanagerConfig::parse(CONFIG, BTreeMap::new()).unwrap(),
            )
            .unwrap();
    }

    async fn advance(&self, secs: u64) -> Vec<Sent> {
        self.clock.advance(Duration::from_secs(secs));
        let report = self.am.tick().await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        self.sent.take()
    }

    fn far(&self) -> Option<DateTime<Utc>> {
        Some(self.clock_now() + chrono::Duration::days(1))
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use pitot_alertmanager::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn grouping_follows_group_wait_group_interval_and_repeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    h.configure(&t);
    h.am.post_alerts(
        &t,
        vec![alert(&[("alertname", "Cpu"), ("instance", "a")], h.far())],
    )
    .unwrap();
    assert!(h.advance(0).await.is_empty(), "nothing before group_wait");
    assert!(h.advance(29).await.is_empty(), "nothing before group_wait");
    let first = h.advance(1).await;
    assert_eq!(first.len(), 1, "first flush at group_wait");
    assert_eq!(first[0].receiver, "default");
    let mut metrics = String::new();
    h.am.render_metrics(&mut metrics);
    assert!(
        metrics.contains("alertmanager_notifications_total{integration=\"webhook\"} 1\n")
            && metrics
                .contains("alertmanager_notifications_failed_total{integration=\"webhook\"} 0\n"),
        "{metrics}"
    );
    assert_eq!(
        first[0].alerts,
        vec![("a".to_string(), "firing".to_string())]
    );

    // A new alert in the same group waits for group_interval, not group_wait.
    h.am.post_alerts(
        &t,
        vec![alert(&[("alertname", "Cpu"), ("instance", "b")], h.far())],
    )
    .unwrap();
    assert!(h.advance(60).await.is_empty());
    assert!(
        h.advance(4 * 60 - 1).await.is_empty(),
        "still inside group_interval"
    );
    let second = h.advance(1).await;
    assert_eq!(second.len(), 1, "flush after group_interval");
    assert_eq!(second[0].alerts.len(), 2);

    // Unchanged group: nothing until repeat_interval (1h) has passed since the last send.
    let mut resent_after = None;
    for step in 1..=14 {
        if !h.advance(300).await.is_empty() {
            resent_after = Some(step * 300);
            break;
        }
    }
    assert_eq!(
        resent_after,
        Some(65 * 60),
        "repeat at the first flush after 1h"
    );

    // Resolving one alert notifies (webhooks send resolved by default).
    h.am.post_alerts(
        &t,
        vec![alert(
            &[("alertname", "Cpu"), ("instance", "a")],
            Some(h.clock_now()),
        )],
    )
    .unwrap();
    let resolved = h.advance(300).await;
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0]
        .alerts
        .contains(&("a".to_string(), "resolved".to_string())));
    assert_eq!(resolved[0].status, "firing", "b still fires");
}

#[tokio::test]
async fn alerts_without_ends_at_resolve_after_resolve_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    h.configure(&t);
    h.am.post_alerts(
        &t,
        vec![alert(&[("alertname", "Cpu"), ("instance", "a")], None)],
    )
    .unwrap();
    assert_eq!(h.advance(30).await.len(), 1);
    let listed = api::get_alerts(&h.am, &t, &api::AlertFilter::default()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Default resolve_timeout is 5m: the flush at 5m30s sees it resolved.
    let sent = h.advance(300).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, "resolved");
    let listed = api::get_alerts(&h.am, &t, &api::AlertFilter::default()).unwrap();
    assert!(
        listed.as_array().unwrap().is_empty(),
        "resolved alerts are not listed"
    );
}

#[tokio::test]
async fn routing_uses_nested_matchers_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    h.configure(&t);
    h.am.post_alerts(
        &t,
        vec![
            alert(
                &[("alertname", "Disk"), ("team", "db"), ("instance", "x")],
                h.far(),
            ),
            alert(
                &[("alertname", "Http"), ("team", "web"), ("instance", "y")],
                h.far(),
            ),
        ],
    )
    .unwrap();
    let mut got: Vec<(String, String)> = h
        .advance(30)
        .await
        .into_iter()
        .map(|s| (s.receiver, s.alerts[0].0.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("db".to_string(), "x".to_string()),
            ("ops".to_string(), "x".to_string()),
            ("ops".to_string(), "y".to_string())
        ]
    );
    let groups = api::get_alert_groups(
        &h.am,
        &t,
        &api::AlertFilter::from_query("receiver=db").unwrap(),
    )
    .unwrap();
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["receiver"]["name"], "db");
    assert_eq!(groups[0]["labels"], json!({"alertname": "Disk"}));
}

#[tokio::test]
async fn inhibition_mutes_targets_while_the_source_fires() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    h.configure(&t);
    let end = h.far();
    h.am.post_alerts(
        &t,
        vec![
            alert(
                &[
                    ("alertname", "Db"),
                    ("severity", "critical"),
                    ("instance", "crit"),
                ],
                end,
            ),
            alert(
                &[
                    ("alertname", "Db"),
                    ("severity", "warning"),
                    ("instance", "warn"),
                ],
                end,
            ),
            alert(
                &[
                    ("alertname", "Other"),
                    ("severity", "warning"),
                    ("instance", "other"),
                ],
                end,
            ),
        ],
    )
    .unwrap();
    let mut sent: Vec<Vec<(String, String)>> =
        h.advance(30).await.into_iter().map(|s| s.alerts).collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            vec![("crit".to_string(), "firing".to_string())],
            vec![("other".to_string(), "firing".to_string())]
        ],
        "the warning with the same alertname is inhibited, the other is not"
    );
    let warn = api::get_alerts(
        &h.am,
        &t,
        &api::AlertFilter::from_query("filter=instance%3D%22warn%22").unwrap(),
    )
    .unwrap();
    assert_eq!(warn[0]["status"]["state"], "suppressed");
    assert_eq!(
        warn[0]["status"]["inhibitedBy"].as_array().unwrap().len(),
        1
    );
    let not_inhibited = api::get_alerts(
        &h.am,
        &t,
        &api::AlertFilter::from_query("inhibited=false").unwrap(),
    )
    .unwrap();
    assert_eq!(not_inhibited.as_array().unwrap().len(), 2);

    // Once the source resolves, the target is notified.
    h.am.post_alerts(
        &t,
        vec![alert(
            &[
                ("alertname", "Db"),
                ("severity", "critical"),
                ("instance", "crit"),
            ],
            Some(h.clock_now()),
        )],
    )
    .unwrap();
    let sent = h.advance(300).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0]
        .alerts
        .contains(&("warn".to_string(), "firing".to_string())));
}

fn silence_body(now: DateTime<Utc>, instance: &str, start_in_secs: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "matchers": [{"name": "instance", "value": instance, "isRegex": false, "isEqual": true}],
        "startsAt": now + chrono::Duration::seconds(start_in_secs),
        "endsAt": now + chrono::Duration::hours(2),
        "createdBy": "alice",
        "comment": "maintenance",
    }))
    .unwrap()
}

#[tokio::test]
async fn silences_mute_expire_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let t = tenant("acme");
    let id = {
        let h = harness_at(dir.path(), clock.clone());
        h.configure(&t);
        let created = api::post_silence(&h.am, &t, &silence_body(t0(), "a", 0)).unwrap();
        let id = created["silenceID"].as_str().unwrap().to_string();
        let pending = api::post_silence(&h.am, &t, &silence_body(t0(), "zzz", 600)).unwrap();
        let got = api::get_silence(&h.am, &t, pending["silenceID"].as_str().unwrap()).unwrap();
        assert_eq!(got["status"]["state"], "pending");
        id
    };
    // Restart: the silence is loaded from disk and still mutes.
    let h = harness_at(dir.path(), clock.clone());
    h.configure(&t);
    let got = api::get_silence(&h.am, &t, &id).unwrap();
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["createdBy"], "alice");
    assert_eq!(got["matchers"][0]["name"], "instance");
    h.am.post_alerts(
        &t,
        vec![
            alert(&[("alertname", "Cpu"), ("instance", "a")], h.far()),
            alert(&[("alertname", "Mem"), ("instance", "b")], h.far()),
        ],
    )
    .unwrap();
    let sent = h.advance(30).await;
    assert_eq!(sent.len(), 1, "only the unsilenced alert");
    assert_eq!(sent[0].alerts[0].0, "b");
    let listed = api::get_alerts(
        &h.am,
        &t,
        &api::AlertFilter::from_query("filter=instance=a").unwrap(),
    )
    .unwrap();
    assert_eq!(listed[0]["status"]["silencedBy"], json!([id]));
    let filtered = api::get_silences(
        &h.am,
        &t,
        &api::parse_filter_query("filter=instance%3Da").unwrap(),
    )
    .unwrap();
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    // Expire it: the alert is notified at the next flush, and expiring twice is an error.
    api::delete_silence(&h.am, &t, &id).unwrap();
    assert_eq!(
        api::get_silence(&h.am, &t, &id).unwrap()["status"]["state"],
        "expired"
    );
    assert_eq!(
        api::delete_silence(&h.am, &t, &id)
            .unwrap_err()
            .http_status(),
        400
    );
    assert_eq!(
        api::get_silence(&h.am, &t, "nope")
            .unwrap_err()
            .http_status(),
        404
    );
    let sent = h.advance(300).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alerts[0].0, "a");
}

#[tokio::test]
async fn silence_validation() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    let bad = |v: serde_json::Value| {
        api::post_silence(&h.am, &t, &serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string()
    };
    let now = t0();
    assert!(bad(
        json!({"matchers": [], "startsAt": now, "endsAt": now + chrono::Duration::hours(1)})
    )
    .contains("at least one matcher"));
    assert!(bad(json!({"matchers": [{"name": "a", "value": ".*", "isRegex": true}], "startsAt": now, "endsAt": now + chrono::Duration::hours(1)})).contains("empty string"));
    assert!(bad(json!({"matchers": [{"name": "a", "value": "b", "isRegex": false}], "startsAt": now, "endsAt": now - chrono::Duration::hours(1)})).contains("after startsAt"));
}

#[tokio::test]
async fn notification_log_prevents_resend_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let t = tenant("acme");
    let end = Some(t0() + chrono::Duration::days(1));
    {
        let h = harness_at(dir.path(), clock.clone());
        h.configure(&t);
        h.am.post_alerts(
            &t,
            vec![alert(&[("alertname", "Cpu"), ("instance", "a")], end)],
        )
        .unwrap();
        assert_eq!(h.advance(30).await.len(), 1);
    }
    // A new process: alerts are re-sent by the ruler, the group is new, but the log remembers.
    let h = harness_at(dir.path(), clock.clone());
    h.configure(&t);
    h.am.post_alerts(
        &t,
        vec![alert(&[("alertname", "Cpu"), ("instance", "a")], end)],
    )
    .unwrap();
    assert!(
        h.advance(30).await.is_empty(),
        "no resend within repeat_interval"
    );
    let mut resent = 0;
    for _ in 0..12 {
        resent += h.advance(300).await.len();
    }
    assert_eq!(resent, 1, "sent again once repeat_interval has passed");
}

#[tokio::test]
async fn tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let (a, b) = (tenant("a"), tenant("b"));
    h.configure(&a);
    h.am.post_alerts(
        &a,
        vec![alert(&[("alertname", "Cpu"), ("instance", "a1")], h.far())],
    )
    .unwrap();
    h.am.post_alerts(
        &b,
        vec![alert(&[("alertname", "Cpu"), ("instance", "b1")], h.far())],
    )
    .unwrap();
    let sil = api::post_silence(&h.am, &a, &silence_body(t0(), "b1", 0)).unwrap();
    let sil_id = sil["silenceID"].as_str().unwrap();

    let only = |t: &TenantId| -> Vec<String> {
        api::get_alerts(&h.am, t, &api::AlertFilter::default())
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["labels"]["instance"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(only(&a), vec!["a1"]);
    assert_eq!(only(&b), vec!["b1"]);
    let b_alert = api::get_alerts(&h.am, &b, &api::AlertFilter::default()).unwrap();
    assert_eq!(
        b_alert[0]["status"]["state"], "active",
        "a's silence does not touch b"
    );
    assert!(api::get_silences(&h.am, &b, &[])
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        api::get_silence(&h.am, &b, sil_id)
            .unwrap_err()
            .http_status(),
        404
    );
    assert!(api::delete_silence(&h.am, &b, sil_id).is_err());
    assert_eq!(
        api::get_receivers(&h.am, &a)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        api::get_receivers(&h.am, &b).unwrap(),
        json!([{"name": "empty-receiver"}])
    );
    let sent = h.advance(30).await;
    assert_eq!(
        sent.len(),
        1,
        "b has the fallback config: nobody is notified"
    );
    assert_eq!(sent[0].tenant, "a");
    assert!(dir.path().join("a").join("silences.json").exists());
    assert!(!dir.path().join("b").join("silences.json").exists());
}

#[tokio::test]
async fn status_and_post_alerts_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_at(dir.path(), ManualClock::new(t0()));
    let t = tenant("acme");
    h.configure(&t);
    let status = api::get_status(&h.am, &t).unwrap();
    assert_eq!(status["cluster"]["status"], "disabled");
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("receivers"));
    assert!(status["versionInfo"]["version"].is_string());
    let body = br#"[{"labels": {"alertname": "X"}, "annotations": {"a": "b"}, "generatorURL": "http://g"}]"#;
    api::post_alerts(&h.am, &t, body).unwrap();
    let alerts = api::get_alerts(&h.am, &t, &api::AlertFilter::default()).unwrap();
    let a = &alerts[0];
    for field in [
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "updatedAt",
        "fingerprint",
        "receivers",
        "status",
        "generatorURL",
    ] {
        assert!(!a[field].is_null(), "missing {field}");
    }
    assert_eq!(a["receivers"], json!([{"name": "default"}]));
    assert_eq!(
        api::post_alerts(&h.am, &t, b"[{\"labels\": {}}]")
            .unwrap_err()
            .http_status(),
        400
    );
    assert!(api::AlertFilter::from_query("active=maybe").is_err());
}

/// Hangs forever for tenant `slow` (counting how many of its sends are in flight) and
/// records every other tenant's notification.
#[derive(Default)]
struct SlowTenant {
    slow_in_flight: std::sync::atomic::AtomicUsize,
    delivered: Mutex<Vec<String>>,
}

#[async_trait]
impl Notifier for SlowTenant {
    async fn notify(
        &self,
        n: &Notification,
        _: &Integration,
        _: &Templates,
    ) -> Result<(), AmError> {
        if n.tenant.as_str() == "slow" {
            self.slow_in_flight
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.delivered.lock().push(n.tenant.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn a_hanging_tenant_neither_delays_others_nor_exceeds_its_send_slots() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let notifier = Arc::new(SlowTenant::default());
    let am = Alertmanager::new(AlertmanagerOptions {
        clock: Arc::new(clock.clone()),
        notifier: Arc::clone(&notifier) as Arc<dyn Notifier>,
        max_sends_per_tenant: 3,
        ..AlertmanagerOptions::new(dir.path(), "http://pitot/alertmanager")
    });
    let far = Some(t0() + chrono::Duration::days(1));
    let (slow, fast) = (tenant("slow"), tenant("fast"));
    for t in [&slow, &fast] {
        am.set_config(
            t,
            AlertmanagerConfig::parse(CONFIG, BTreeMap::new()).unwrap(),
        )
        .unwrap();
    }
    let many: Vec<PostableAlert> = (0..10)
        .map(|i| alert(&[("alertname", &format!("Slow{i}"))], far))
        .collect();
    am.post_alerts(&slow, many).unwrap();
    am.post_alerts(&fast, vec![alert(&[("alertname", "Fast")], far)])
        .unwrap();
    clock.advance(Duration::from_secs(30));
    let handles = am.dispatch();
    assert_eq!(handles.len(), 11, "one task per flushed group");
    let delivered = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if !notifier.delivered.lock().is_empty() {
                return notifier.delivered.lock().clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the fast tenant's notification is not held up by the slow one");
    assert_eq!(delivered, vec!["fast".to_string()]);
    let in_flight = || {
        notifier
            .slow_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(
        in_flight(),
        3,
        "the slow tenant holds only its 3 send slots"
    );

    // Groups still being sent are not flushed again; the fast tenant's group flushes as usual.
    clock.advance(Duration::from_secs(3600 + 300));
    let again = am.dispatch();
    assert_eq!(again.len(), 1, "only the fast tenant's group flushes again");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(in_flight(), 3);
    for h in handles.into_iter().chain(again) {
        h.abort();
    }
}

#[tokio::test]
async fn alert_and_silence_limits_refuse_new_objects_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let am = Alertmanager::new(AlertmanagerOptions {
        clock: Arc::new(clock.clone()),
        notifier: Arc::new(Capture::default()),
        limits: Arc::new(|t: &TenantId| {
            if t.as_str() == "small" {
                pitot_alertmanager::limits::AmLimits {
                    max_alerts_count: 2,
                    max_alerts_size_bytes: 200,
                    max_silences_count: 1,
                    max_silence_size_bytes: 400,
                    max_dispatcher_aggregation_groups: 1,
                    ..Default::default()
                }
            } else {
                Default::default()
            }
        }),
        ..AlertmanagerOptions::new(dir.path(), "http://pitot/alertmanager")
    });
    let far = Some(t0() + chrono::Duration::days(1));
    let small = tenant("small");
    let a = |name: &str| alert(&[("alertname", name)], far);
    am.post_alerts(&small, vec![a("A"), a("B")]).unwrap();
    let e = am.post_alerts(&small, vec![a("C")]).unwrap_err();
    assert!(
        e.to_string().starts_with("alertmanager-max-alerts-count"),
        "{e}"
    );
    assert!(
        e.to_string().contains("alertmanager_max_alerts_count"),
        "{e}"
    );
    am.post_alerts(&small, vec![a("A")])
        .expect("an update is not a new alert");
    let mut big = a("A");
    big.annotations.insert("summary".into(), "x".repeat(300));
    let e = am.post_alerts(&small, vec![big]).unwrap_err();
    assert!(
        e.to_string().contains("alertmanager_max_alerts_size_bytes"),
        "{e}"
    );

    // Two alertnames but one aggregation group allowed: the second is held, not dispatched.
    let groups = api::get_alert_groups(&am, &small, &Default::default()).unwrap();
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");

    let silence = |value: &str, comment: &str| {
        serde_json::to_vec(&json!({
            "matchers": [{"name": "alertname", "value": value, "isRegex": false}],
            "startsAt": t0().to_rfc3339(),
            "endsAt": (t0() + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "t", "comment": comment,
        }))
        .unwrap()
    };
    let created = api::post_silence(&am, &small, &silence("A", "c")).unwrap();
    let e = api::post_silence(&am, &small, &silence("B", "c")).unwrap_err();
    assert!(
        e.to_string().contains("alertmanager_max_silences_count"),
        "{e}"
    );
    let e = api::post_silence(&am, &small, &silence("B", &"x".repeat(500))).unwrap_err();
    assert!(
        e.to_string()
            .contains("alertmanager_max_silence_size_bytes"),
        "{e}"
    );
    // Updating the one silence in place is allowed; expiring it frees the slot.
    let id = created["silenceID"].as_str().unwrap().to_string();
    let mut update: serde_json::Value = serde_json::from_slice(&silence("A", "longer")).unwrap();
    update["id"] = json!(id);
    api::post_silence(&am, &small, &serde_json::to_vec(&update).unwrap()).unwrap();
    api::delete_silence(&am, &small, &id).unwrap();
    api::post_silence(&am, &small, &silence("B", "c")).unwrap();

    // Another tenant is held to its own (here: no) limits.
    let other = tenant("other");
    let many: Vec<PostableAlert> = (0..20).map(|i| a(&format!("O{i}"))).collect();
    am.post_alerts(&other, many).unwrap();
}
