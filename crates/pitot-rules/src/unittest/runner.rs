//! Runs one test group: load input series, evaluate the rule groups at every
//! evaluation interval up to the last `eval_time`, then check alerts and expressions.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use pitot_core::{Labels, Sample, TenantId, METRIC_NAME};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::{Engine, EngineOptions, Value};
use promql_parser::parser::Expr;

use super::file::{PromqlTestCase, TestFile, TestGroup};
use super::format::{alerts as fmt_alerts, go_duration, go_float_e, labels as fmt_labels};
use super::histogram::Histogram;
use super::series::{parse_labels, parse_values, Slot};
use crate::eval::{query_samples, AlertState, EvalContext, EvalOptions, GroupState, SampleSink};
use crate::model::RuleGroup;
use crate::template::QuerySample;

/// Drives a future whose storage is in memory: it is ready at the first poll (a
/// pending future is polled again after yielding the thread).
pub(crate) fn poll_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

struct MemSink<'a> {
    storage: &'a MemStorage,
    tenant: &'a TenantId,
}

impl SampleSink for MemSink<'_> {
    fn append(&mut self, samples: &[(Labels, Sample)]) -> Result<(), String> {
        for (l, s) in samples {
            self.storage.append(self.tenant, l.clone(), &[*s]);
        }
        Ok(())
    }
}

type AlertList = Vec<(Labels, BTreeMap<String, String>)>;

/// Histogram input series, which the float store cannot hold.
type HistogramSeries = Vec<(Labels, Vec<(i64, Histogram)>)>;

const LOOKBACK_MS: i64 = 300_000;

fn start_ms(tg: &TestGroup) -> Result<i64, String> {
    match &tg.start_timestamp {
        None => Ok(0),
        Some(serde_yaml::Value::Number(n)) => n
            .as_f64()
            .map(|s| (s * 1000.0) as i64)
            .ok_or_else(|| "invalid start_timestamp".to_string()),
        Some(serde_yaml::Value::String(s)) => {
            if let Ok(secs) = s.parse::<f64>() {
                return Ok((secs * 1000.0) as i64);
            }
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| format!("invalid start_timestamp {s:?}: {e}"))
        }
        Some(other) => Err(format!("invalid start_timestamp {other:?}")),
    }
}

/// Runs `tg` against `groups` (already in evaluation order); returns failure lines.
pub(crate) fn run_group(tf: &TestFile, groups: &[RuleGroup], tg: &TestGroup) -> Vec<String> {
    match run_group_inner(tf, groups, tg) {
        Ok(errs) => errs,
        Err(e) => vec![format!("    {e}")],
    }
}

fn run_group_inner(
    tf: &TestFile,
    groups: &[RuleGroup],
    tg: &TestGroup,
) -> Result<Vec<String>, String> {
    let eval_interval = tf.evaluation_interval.map_or(60_000, |d| d.0);
    if eval_interval <= 0 {
        return Err("evaluation_interval must be positive".into());
    }
    let interval = tg.interval.map_or(eval_interval, |d| d.0);
    let start = start_ms(tg)?;
    let tenant = TenantId::new("promtool").expect("valid tenant");
    let storage = MemStorage::new();
    let mut histograms: HistogramSeries = Vec::new();
    for s in &tg.input_series {
        let labels = parse_labels(&s.series)?;
        let slots = parse_values(&s.values)?;
        let mut floats = Vec::new();
        let mut hs = Vec::new();
        for (i, slot) in slots.into_iter().enumerate() {
            let t = start + i as i64 * interval;
            match slot {
                Slot::Float(v) => floats.push(Sample::new(t, v)),
                Slot::Histogram(h) => hs.push((t, h)),
                Slot::Missing => {}
            }
        }
        if !floats.is_empty() {
            storage.append(&tenant, labels.clone(), &floats);
        }
        if !hs.is_empty() {
            histograms.push((labels, hs));
        }
    }
    let engine = Engine::new(EngineOptions {
        default_subquery_step: std::time::Duration::from_millis(eval_interval as u64),
        ..EngineOptions::default()
    });
    let template_query = |expr: &str, t: i64| -> Result<Vec<QuerySample>, String> {
        let r =
            poll_ready(engine.instant(&storage, &tenant, expr, t)).map_err(|e| e.to_string())?;
        query_samples(r.value)
    };
    let ctx = EvalContext {
        engine: &engine,
        queryable: &storage,
        tenant: &tenant,
        template_query: Some(&template_query),
        logql: None,
    };
    let opts = EvalOptions {
        default_interval_ms: eval_interval,
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        ..EvalOptions::default()
    };
    let mut states = Vec::new();
    for g in groups {
        states.push(GroupState::new(g.clone(), opts.clone()).map_err(|e| e.to_string())?);
    }

    let mut alert_times: Vec<i64> = tg.alert_rule_test.iter().map(|a| a.eval_time.0).collect();
    alert_times.sort_unstable();
    alert_times.dedup();
    let max_eval = tg
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.0)
        .chain(tg.promql_expr_test.iter().map(|p| p.eval_time.0))
        .max()
        .unwrap_or(0);
    let mut got_alerts: BTreeMap<(i64, String), AlertList> = BTreeMap::new();
    let mut next_alert = 0;
    let mut ts = start;
    let mut sink = MemSink {
        storage: &storage,
        tenant: &tenant,
    };
    while ts <= start + max_eval {
        let mut errs = Vec::new();
        for g in &mut states {
            let res = poll_ready(g.eval(&ctx, ts, &mut sink));
            for (name, e) in res.errors() {
                errs.push(format!(
                    "    rule: {name}, time: {}, err: {e}",
                    go_duration(ts - start)
                ));
            }
        }
        if !errs.is_empty() {
            return Ok(errs);
        }
        while next_alert < alert_times.len() {
            let t = alert_times[next_alert];
            if !(ts - start <= t && t < ts - start + eval_interval) {
                break;
            }
            for case in tg.alert_rule_test.iter().filter(|c| c.eval_time.0 == t) {
                let mut list: AlertList = states
                    .iter()
                    .flat_map(|g| g.alerts())
                    .filter(|(name, a)| *name == case.alertname && a.state == AlertState::Firing)
                    .map(|(_, a)| (a.labels.clone(), a.annotations.clone()))
                    .collect();
                list.sort_by(|a, b| a.0.cmp(&b.0));
                got_alerts.insert((t, case.alertname.clone()), list);
            }
            next_alert += 1;
        }
        ts += eval_interval;
    }

    let mut errs = Vec::new();
    let mut cases: Vec<_> = tg.alert_rule_test.iter().collect();
    cases.sort_by_key(|c| c.eval_time.0);
    for case in cases {
        let got = got_alerts
            .get(&(case.eval_time.0, case.alertname.clone()))
            .cloned()
            .unwrap_or_default();
        let mut exp: AlertList = case
            .exp_alerts
            .iter()
            .map(|a| {
                let mut l = a.exp_labels.clone();
                l.insert("alertname".into(), case.alertname.clone());
                (Labels::from_pairs(l), a.exp_annotations.clone())
            })
            .collect();
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        if exp != got {
            errs.push(format!(
                "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                case.alertname,
                go_duration(case.eval_time.0),
                fmt_alerts(&exp),
                fmt_alerts(&got)
            ));
        }
    }
    for case in &tg.promql_expr_test {
        let t = start + case.eval_time.0;
        if let Err(e) = check_expr(
            case,
            t,
            tf.fuzzy_compare,
            &engine,
            &storage,
            &tenant,
            &histograms,
        ) {
            errs.push(e);
        }
    }
    Ok(errs)
}

#[derive(Debug, Clone)]
enum Got {
    Float(f64),
    Hist(Histogram),
}

fn render(list: &[(Labels, Got)]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(l, v)| match v {
            Got::Float(f) => format!("{} {}", fmt_labels(l), go_float_e(*f)),
            Got::Hist(h) => format!("{} {h}", fmt_labels(l)),
        })
        .collect();
    items.join(", ")
}

fn float_eq(a: f64, b: f64, fuzzy: bool) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    fuzzy && (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

#[allow(clippy::too_many_arguments)]
fn check_expr(
    case: &PromqlTestCase,
    t: i64,
    fuzzy: bool,
    engine: &Engine,
    storage: &MemStorage,
    tenant: &TenantId,
    histograms: &HistogramSeries,
) -> Result<(), String> {
    let head = format!(
        "    expr: {:?}, time: {}",
        case.expr,
        go_duration(case.eval_time.0)
    );
    let fail = |e: String| format!("{head}, err: {e}");
    let value = poll_ready(engine.instant(storage, tenant, &case.expr, t))
        .map_err(|e| fail(e.to_string()))?
        .value;
    let mut got: Vec<(Labels, Got)> = match value {
        Value::Vector(v) => v.into_iter().map(|(l, s)| (l, Got::Float(s.v))).collect(),
        Value::Scalar(_, v) => vec![(Labels::default(), Got::Float(v))],
        other => return Err(fail(format!("query returned a {}", other.type_name()))),
    };
    got.extend(histogram_selector(&case.expr, t, histograms));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut exp = Vec::new();
    for s in &case.exp_samples {
        let l =
            parse_labels(&s.labels).map_err(|e| fail(format!("parsing expected labels: {e}")))?;
        let v = if s.histogram.is_empty() {
            Got::Float(s.value)
        } else {
            Got::Hist(Histogram::parse(&s.histogram).map_err(fail)?)
        };
        exp.push((l, v));
    }
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let same = exp.len() == got.len()
        && exp.iter().zip(&got).all(|(e, g)| {
            e.0 == g.0
                && match (&e.1, &g.1) {
                    (Got::Float(a), Got::Float(b)) => float_eq(*a, *b, fuzzy),
                    (Got::Hist(a), Got::Hist(b)) => {
                        a.matches(b, &|x, y| pitot_promql::promqltest::almost_equal(x, y))
                    }
                    _ => false,
                }
        });
    if same {
        return Ok(());
    }
    Err(format!(
        "{head},\n        exp: {}\n        got: {}",
        render(&exp),
        render(&got)
    ))
}

/// A plain selector over histogram input series, answered from the side table: the
/// newest sample within the lookback window, as an instant selector does.
fn histogram_selector(expr: &str, t: i64, histograms: &HistogramSeries) -> Vec<(Labels, Got)> {
    if histograms.is_empty() {
        return Vec::new();
    }
    let Ok(Expr::VectorSelector(vs)) = pitot_promql::parse_guarded(expr) else {
        return Vec::new();
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (labels, points) in histograms {
        let name_ok = vs
            .name
            .as_ref()
            .is_none_or(|n| labels.get(METRIC_NAME) == Some(n.as_str()));
        let matchers_ok = vs
            .matchers
            .matchers
            .iter()
            .all(|m| m.is_match(labels.get(&m.name).unwrap_or("")));
        if !(name_ok && matchers_ok) {
            continue;
        }
        if let Some((_, h)) = points
            .iter()
            .rev()
            .find(|(pt, _)| *pt <= t && *pt > t - LOOKBACK_MS)
        {
            out.push((labels.clone(), Got::Hist(h.clone())));
        }
    }
    out
}
