//! The evaluator on a simulated clock: the alert lifecycle with `for` and
//! `keep_firing_for`, resolved retention, `ALERTS` series, recording rules, limits and
//! restoring `for` state.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use pitot_core::{is_stale_nan, Labels, Sample, TenantId};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::Engine;
use pitot_rules::eval::{
    AlertState, EvalContext, EvalOptions, GroupEvalResult, GroupState, RestoreOptions, SampleSink,
};
use pitot_rules::{RuleGroup, ValidationOptions};

const MIN: i64 = 60_000;

fn block<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = futures::task::noop_waker();
    match f.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory evaluation must not wait"),
    }
}

struct Sink<'a> {
    store: &'a MemStorage,
    tenant: &'a TenantId,
    written: Vec<(Labels, Sample)>,
}

impl SampleSink for Sink<'_> {
    fn append(&mut self, samples: &[(Labels, Sample)]) -> Result<(), String> {
        for (l, s) in samples {
            self.store.append(self.tenant, l.clone(), &[*s]);
            self.written.push((l.clone(), *s));
        }
        Ok(())
    }
}

struct World {
    store: MemStorage,
    tenant: TenantId,
    engine: Engine,
}

impl World {
    fn new() -> World {
        World {
            store: MemStorage::new(),
            tenant: TenantId::new("t1").unwrap(),
            engine: Engine::default(),
        }
    }

    fn series(&self, labels: &[(&str, &str)], points: &[(i64, f64)]) {
        let samples: Vec<Sample> = points.iter().map(|(t, v)| Sample::new(*t, *v)).collect();
        self.store.append(
            &self.tenant,
            Labels::from_pairs(labels.iter().copied()),
            &samples,
        );
    }

    fn eval(&self, g: &mut GroupState, ts: i64) -> (GroupEvalResult, Vec<(Labels, Sample)>) {
        let ctx = EvalContext {
            engine: &self.engine,
            queryable: &self.store,
            tenant: &self.tenant,
            template_query: None,
            logql: None,
        };
        let mut sink = Sink {
            store: &self.store,
            tenant: &self.tenant,
            written: Vec::new(),
        };
        let r = block(g.eval(&ctx, ts, &mut sink));
        (r, sink.written)
    }
}

fn group(yaml: &str, opts: EvalOptions) -> GroupState {
    let g = RuleGroup::parse(yaml, &ValidationOptions::default()).unwrap();
    GroupState::new(g, opts).unwrap()
}

fn state_of(g: &GroupState) -> Option<AlertState> {
    g.alerts().first().map(|(_, a)| a.state)
}

const ALERT_GROUP: &str = r#"
name: g
labels: {team: db}
rules:
  - alert: High
    expr: x > 0
    for: 2m
    keep_firing_for: 3m
    labels: {severity: "{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}"}
    annotations: {summary: "x is {{ $value }} on {{ $labels.instance }}"}
"#;

#[test]
fn pending_firing_keep_firing_resolved_and_retention() {
    let w = World::new();
    // x is 1 from 0 to 5m, then goes stale at 6m.
    let mut pts: Vec<(i64, f64)> = (0..=5).map(|m| (m * MIN, 1.0)).collect();
    pts.push((6 * MIN, f64::from_bits(pitot_core::STALE_NAN)));
    w.series(&[("__name__", "x"), ("instance", "a")], &pts);
    let mut g = group(ALERT_GROUP, EvalOptions::default());

    let (r, out) = w.eval(&mut g, 0);
    assert_eq!(r.transitions.len(), 1);
    assert_eq!(r.transitions[0].from, AlertState::Inactive);
    assert_eq!(r.transitions[0].to, AlertState::Pending);
    let alerts_pending = out
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("ALERTS"))
        .unwrap();
    assert_eq!(alerts_pending.0.get("alertstate"), Some("pending"));
    assert_eq!(alerts_pending.0.get("team"), Some("db"));
    assert_eq!(alerts_pending.0.get("severity"), Some("ticket"));
    let (_, a) = g.alerts()[0];
    assert_eq!(a.annotations["summary"], "x is 1 on a");
    assert_eq!(a.active_at, 0);

    w.eval(&mut g, MIN);
    assert_eq!(state_of(&g), Some(AlertState::Pending));
    let (r, out) = w.eval(&mut g, 2 * MIN);
    assert_eq!(state_of(&g), Some(AlertState::Firing));
    assert_eq!(r.transitions[0].to, AlertState::Firing);
    assert_eq!(g.alerts()[0].1.fired_at, Some(2 * MIN));
    // The pending series goes stale when the firing one appears.
    assert!(out
        .iter()
        .any(|(l, s)| l.get("alertstate") == Some("pending") && is_stale_nan(s.v)));
    assert!(out
        .iter()
        .any(|(l, s)| l.get("alertstate") == Some("firing") && s.v == 1.0));

    for m in 3..=8 {
        let (r, _) = w.eval(&mut g, m * MIN);
        assert!(r.transitions.is_empty(), "at {m}m: {:?}", r.transitions);
        assert_eq!(
            state_of(&g),
            Some(AlertState::Firing),
            "at {m}m (keep_firing_for)"
        );
    }
    assert_eq!(g.alerts()[0].1.keep_firing_since, Some(6 * MIN));

    let (r, out) = w.eval(&mut g, 9 * MIN);
    assert_eq!(r.transitions[0].from, AlertState::Firing);
    assert_eq!(r.transitions[0].to, AlertState::Inactive);
    assert_eq!(state_of(&g), Some(AlertState::Inactive));
    assert_eq!(g.alerts()[0].1.resolved_at, Some(9 * MIN));
    assert!(
        out.iter().all(|(_, s)| is_stale_nan(s.v)),
        "only staleness markers: {out:?}"
    );
    assert_eq!(out.len(), 2, "ALERTS and ALERTS_FOR_STATE go stale");

    // Resolved alerts stay for 15m after resolution, then go.
    w.eval(&mut g, 24 * MIN);
    assert_eq!(g.alerts().len(), 1);
    w.eval(&mut g, 25 * MIN);
    assert!(g.alerts().is_empty());
}

#[test]
fn pending_alert_that_clears_is_dropped() {
    let w = World::new();
    w.series(&[("__name__", "x")], &[(0, 9.0), (MIN, 0.0)]);
    let mut g = group(ALERT_GROUP, EvalOptions::default());
    w.eval(&mut g, 0);
    assert_eq!(g.alerts()[0].1.labels.get("severity"), Some("page"));
    let (r, _) = w.eval(&mut g, MIN);
    assert!(g.alerts().is_empty());
    assert_eq!(r.transitions[0].from, AlertState::Pending);
    assert_eq!(r.transitions[0].to, AlertState::Inactive);
}

#[test]
fn alert_limit_clears_alerts() {
    let w = World::new();
    w.series(&[("__name__", "x"), ("i", "1")], &[(0, 1.0)]);
    w.series(&[("__name__", "x"), ("i", "2")], &[(0, 1.0)]);
    let mut g = group(
        "name: g\nlimit: 1\nrules:\n- alert: A\n  expr: x > 0\n",
        EvalOptions::default(),
    );
    let (r, out) = w.eval(&mut g, 0);
    assert_eq!(r.errors()[0].1, "exceeded limit of 1 with 2 alerts");
    assert!(out.is_empty());
    assert!(g.alerts().is_empty());
}

#[test]
fn recording_rules_write_samples_and_staleness_markers() {
    let w = World::new();
    w.series(
        &[("__name__", "req"), ("job", "a"), ("i", "1")],
        &[(0, 1.0), (MIN, 2.0)],
    );
    w.series(
        &[("__name__", "req"), ("job", "b"), ("i", "1")],
        &[(0, 5.0)],
    );
    let mut g = group(
        "name: rec\nquery_offset: 0s\nrules:\n- record: job:req:sum\n  expr: sum by (job) (req)\n  labels: {env: prod}\n- record: job:req:double\n  expr: job:req:sum * 2\n",
        EvalOptions::default(),
    );
    let (r, out) = w.eval(&mut g, 0);
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    let a = Labels::from_pairs([("__name__", "job:req:sum"), ("env", "prod"), ("job", "a")]);
    assert!(out.contains(&(a.clone(), Sample::new(0, 1.0))), "{out:?}");
    // The second rule sees the first rule's output of the same evaluation.
    let d = Labels::from_pairs([
        ("__name__", "job:req:double"),
        ("env", "prod"),
        ("job", "b"),
    ]);
    assert!(out.contains(&(d, Sample::new(0, 10.0))), "{out:?}");
    // Job b's input ages out of the lookback window: its output goes stale.
    let (_, out) = w.eval(&mut g, 5 * MIN + 30_000);
    let b = Labels::from_pairs([("__name__", "job:req:sum"), ("env", "prod"), ("job", "b")]);
    assert!(
        out.iter().any(|(l, s)| *l == b && is_stale_nan(s.v)),
        "{out:?}"
    );
    assert!(out.iter().any(|(l, s)| *l == a && s.v == 2.0), "{out:?}");
}

#[test]
fn recording_rule_limit_and_collisions_are_errors() {
    let w = World::new();
    w.series(&[("__name__", "req"), ("job", "a")], &[(0, 1.0)]);
    w.series(&[("__name__", "req"), ("job", "b")], &[(0, 1.0)]);
    let mut g = group(
        "name: g\nlimit: 1\nrules:\n- record: r\n  expr: req\n",
        EvalOptions::default(),
    );
    let (r, _) = w.eval(&mut g, 0);
    assert_eq!(r.errors()[0].1, "exceeded limit of 1 with 2 series");
    let mut g = group(
        "name: g\nrules:\n- record: r\n  expr: req\n  labels: {job: \"\"}\n",
        EvalOptions::default(),
    );
    let (r, _) = w.eval(&mut g, 0);
    assert!(
        r.errors()[0].1.contains("same labelset"),
        "{:?}",
        r.errors()
    );
}

#[test]
fn for_state_is_restored_after_a_restart() {
    let w = World::new();
    let pts: Vec<(i64, f64)> = (0..=60).map(|m| (m * MIN, 1.0)).collect();
    w.series(&[("__name__", "x")], &pts);
    let yaml = "name: g\nrules:\n- alert: Slow\n  expr: x > 0\n  for: 30m\n";
    let mut g = group(yaml, EvalOptions::default());
    for m in 0..=10 {
        w.eval(&mut g, m * MIN);
    }
    assert_eq!(g.alerts()[0].1.active_at, 0);
    // "Restart" at 15m (down since 10m): the alert had 20m left, more than the grace
    // period, so its active time moves forward by the 5m of downtime.
    let mut g2 = group(
        yaml,
        EvalOptions {
            restore: Some(RestoreOptions::default()),
            ..EvalOptions::default()
        },
    );
    let (_, out) = w.eval(&mut g2, 15 * MIN);
    assert!(out.is_empty(), "no ALERTS before restoring: {out:?}");
    assert_eq!(g2.alerts()[0].1.active_at, 5 * MIN);
    w.eval(&mut g2, 34 * MIN);
    assert_eq!(state_of(&g2), Some(AlertState::Pending));
    w.eval(&mut g2, 35 * MIN);
    assert_eq!(state_of(&g2), Some(AlertState::Firing));
}
