//! The rule evaluator core: a group's state across evaluations, driven by an explicit
//! clock.
//!
//! [`GroupState::eval`] evaluates every rule of a group at one timestamp, in order, and
//! hands each rule's output to a [`SampleSink`] before the next rule runs (so later rules
//! see earlier rules' results, as in Prometheus). Output series that a rule produced at
//! the previous evaluation but not at this one get a staleness marker. Alerting rules
//! keep their alerts here, so the caller owns time: the ruler loop passes the wall
//! clock, tests and `promtool test rules` pass simulated time.

mod alert;
mod alerting;
mod recording;
mod restore;

use std::collections::{BTreeMap, HashSet};

use pitot_core::{Labels, Sample, TenantId, STALE_NAN};
use pitot_promql::{Engine, Value};
use pitot_storage_api::Queryable;
use promql_parser::parser::Expr;

pub use alert::{Alert, AlertState, AlertTransition};
pub use alerting::{ALERTS_FOR_STATE_METRIC, ALERTS_METRIC};
pub use restore::RestoreOptions;

use crate::error::{RuleFileError, ValidationError};
use crate::model::{Rule, RuleGroup};
use crate::template::QuerySample;
use alerting::{AlertingState, TemplateEnv};

/// Runs a template's `query(expr)` at a time (ms). Supplied by the caller because
/// templates render synchronously while the engine is async: the caller knows how to
/// block (a blocking thread in the ruler, a direct poll over in-memory test storage).
pub type TemplateQueryFn<'a> = dyn Fn(&str, i64) -> Result<Vec<QuerySample>, String> + 'a;

/// Where a group's evaluation reads from.
pub struct EvalContext<'a> {
    /// The PromQL engine.
    pub engine: &'a Engine,
    /// The storage the rules query (and where `ALERTS_FOR_STATE` is restored from).
    pub queryable: &'a dyn Queryable,
    /// Whose data.
    pub tenant: &'a TenantId,
    /// Backs the template function `query`; `None` makes `query` fail.
    pub template_query: Option<&'a TemplateQueryFn<'a>>,
    /// Evaluates a LogQL metric query at a time (ms) over the tenant's logs, for groups
    /// in [`ExprLanguage::LogQL`](crate::ExprLanguage); `None` makes such rules fail.
    pub logql: Option<&'a LogqlQueryFn<'a>>,
}

/// Runs a LogQL metric query at an instant (ms) and returns its vector.
pub type LogqlQueryFn<'a> = dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, String> + 'a;

/// Receives the samples a rule produces, before the next rule of the group runs.
pub trait SampleSink {
    /// Stores the samples (recording results, `ALERTS`, staleness markers).
    fn append(&mut self, samples: &[(Labels, Sample)]) -> Result<(), String>;
}

/// Settings of evaluation that do not come from the rule file.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Interval of groups that do not set one (Prometheus' global
    /// `evaluation_interval`, 1m).
    pub default_interval_ms: i64,
    /// Query offset of groups that do not set one (`rule_query_offset`, 0).
    pub default_query_offset_ms: i64,
    /// How long resolved alerts are kept (Prometheus: 15m).
    pub resolved_retention_ms: i64,
    /// Labels templates see as `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// The URL templates see as `$externalURL`.
    pub external_url: String,
    /// Restore `for` state from `ALERTS_FOR_STATE` at the first evaluation; `None`
    /// starts every alert fresh.
    pub restore: Option<RestoreOptions>,
    /// The language of the group's expressions.
    pub language: crate::ExprLanguage,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            default_interval_ms: 60_000,
            default_query_offset_ms: 0,
            resolved_retention_ms: 15 * 60_000,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            restore: None,
            language: crate::ExprLanguage::PromQL,
        }
    }
}

/// Health of a rule after its last evaluation, as the rules API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleHealth {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

/// One rule's state across evaluations.
#[derive(Debug, Clone)]
pub struct RuleState {
    rule: Rule,
    /// The parsed PromQL expression; `None` for LogQL rules (evaluated by text).
    expr: Option<Expr>,
    labels: BTreeMap<String, String>,
    alerting: Option<AlertingState>,
    previous_series: HashSet<Labels>,
    health: RuleHealth,
    last_error: Option<String>,
    last_eval: Option<i64>,
}

impl RuleState {
    /// The rule as configured.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Health after the last evaluation.
    pub fn health(&self) -> RuleHealth {
        self.health
    }

    /// The last evaluation's error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the rule was last evaluated (ms).
    pub fn last_evaluation(&self) -> Option<i64> {
        self.last_eval
    }

    /// The alerting rule's alerts (active and recently resolved), sorted by labels;
    /// empty for recording rules.
    pub fn alerts(&self) -> Vec<&Alert> {
        self.alerting
            .as_ref()
            .map(|a| a.active.values().collect())
            .unwrap_or_default()
    }
}

/// The outcome of evaluating one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleEvalResult {
    /// `record` or `alert` name.
    pub name: String,
    /// Samples handed to the sink (staleness markers included).
    pub samples: usize,
    /// The error, if the rule failed (its output is then dropped).
    pub error: Option<String>,
}

/// The outcome of evaluating a group once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEvalResult {
    /// The evaluation time (ms).
    pub timestamp: i64,
    /// Per rule, in group order.
    pub rules: Vec<RuleEvalResult>,
    /// Alert state changes, in rule order.
    pub transitions: Vec<AlertTransition>,
}

impl GroupEvalResult {
    /// Errors of failed rules, as `(rule name, message)`.
    pub fn errors(&self) -> Vec<(&str, &str)> {
        self.rules
            .iter()
            .filter_map(|r| r.error.as_deref().map(|e| (r.name.as_str(), e)))
            .collect()
    }
}

/// A rule group and everything that persists between its evaluations.
#[derive(Debug, Clone)]
pub struct GroupState {
    group: RuleGroup,
    rules: Vec<RuleState>,
    opts: EvalOptions,
    evaluations: u64,
}

impl GroupState {
    /// Prepares a group: parses expressions and templates once.
    pub fn new(group: RuleGroup, opts: EvalOptions) -> Result<GroupState, RuleFileError> {
        let mut errs = Vec::new();
        let mut rules = Vec::new();
        for (i, rule) in group.rules.iter().enumerate() {
            let err = |message: String| ValidationError {
                group: group.name.clone(),
                group_occurrence: 0,
                rule_index: Some(i + 1),
                rule_name: Some(rule.name().to_string()),
                position: None,
                message,
            };
            let expr = match opts.language {
                crate::ExprLanguage::PromQL => match pitot_promql::parse(rule.expr()) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        errs.push(err(format!("could not parse expression: {e}")));
                        continue;
                    }
                },
                crate::ExprLanguage::LogQL => match pitot_logql::parse(rule.expr()) {
                    Ok(pitot_logql::ast::Expr::Metric(_)) => None,
                    Ok(_) => {
                        errs.push(err(
                            "a LogQL rule needs a metric query, not a log query".into()
                        ));
                        continue;
                    }
                    Err(e) => {
                        errs.push(err(format!("could not parse expression: {e}")));
                        continue;
                    }
                },
            };
            let labels = group.effective_labels(rule);
            let alerting = match rule {
                Rule::Alerting(a) => match AlertingState::new(a, &labels, opts.restore.is_none()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        errs.push(err(e));
                        continue;
                    }
                },
                Rule::Recording(_) => None,
            };
            rules.push(RuleState {
                rule: rule.clone(),
                expr,
                labels,
                alerting,
                previous_series: HashSet::new(),
                health: RuleHealth::Unknown,
                last_error: None,
                last_eval: None,
            });
        }
        if !errs.is_empty() {
            return Err(RuleFileError::Invalid(errs));
        }
        Ok(GroupState {
            group,
            rules,
            opts,
            evaluations: 0,
        })
    }

    /// The group as configured.
    pub fn group(&self) -> &RuleGroup {
        &self.group
    }

    /// How often the group runs (ms).
    pub fn interval_ms(&self) -> i64 {
        self.group
            .interval
            .map_or(self.opts.default_interval_ms, |d| d.0)
    }

    /// The rules' states, in group order.
    pub fn rules(&self) -> &[RuleState] {
        &self.rules
    }

    /// Every alert of every alerting rule, with the rule's name.
    pub fn alerts(&self) -> Vec<(&str, &Alert)> {
        self.rules
            .iter()
            .flat_map(|r| r.alerts().into_iter().map(move |a| (r.rule.name(), a)))
            .collect()
    }

    /// Evaluates every rule at `ts` (ms), writing each rule's output to `sink`.
    pub async fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts: i64,
        sink: &mut dyn SampleSink,
    ) -> GroupEvalResult {
        let offset = self
            .group
            .query_offset
            .map_or(self.opts.default_query_offset_ms, |d| d.0);
        let query_ts = ts - offset;
        let limit = self.group.limit;
        let first = self.evaluations == 0;
        self.evaluations += 1;
        let mut result = GroupEvalResult {
            timestamp: ts,
            ..GroupEvalResult::default()
        };
        for rule in &mut self.rules {
            let outcome = eval_rule(rule, ctx, ts, query_ts, limit, &self.opts).await;
            let mut rr = RuleEvalResult {
                name: rule.rule.name().to_string(),
                samples: 0,
                error: None,
            };
            rule.last_eval = Some(ts);
            match outcome {
                Ok((samples, transitions)) => {
                    let current: HashSet<Labels> = samples.iter().map(|(l, _)| l.clone()).collect();
                    let mut out = samples;
                    let mut stale: Vec<&Labels> = rule
                        .previous_series
                        .iter()
                        .filter(|l| !current.contains(*l))
                        .collect();
                    stale.sort();
                    out.extend(
                        stale
                            .into_iter()
                            .map(|l| (l.clone(), Sample::new(query_ts, f64::from_bits(STALE_NAN)))),
                    );
                    rr.samples = out.len();
                    match sink.append(&out) {
                        Ok(()) => {
                            rule.health = RuleHealth::Ok;
                            rule.last_error = None;
                        }
                        Err(e) => {
                            rule.health = RuleHealth::Err;
                            rule.last_error = Some(e.clone());
                            rr.error = Some(e);
                        }
                    }
                    rule.previous_series = current;
                    result.transitions.extend(transitions);
                }
                Err(e) => {
                    rule.health = RuleHealth::Err;
                    rule.last_error = Some(e.clone());
                    rr.error = Some(e);
                }
            }
            result.rules.push(rr);
        }
        if first {
            if let Some(restore) = self.opts.restore {
                for rule in &mut self.rules {
                    if let Some(a) = rule.alerting.as_mut() {
                        if let Err(e) = restore::restore_for_state(a, ctx, ts, restore).await {
                            rule.last_error = Some(format!("restoring for state: {e}"));
                        }
                    }
                }
            }
        }
        result
    }
}

type RuleOutput = (Vec<(Labels, Sample)>, Vec<AlertTransition>);

async fn eval_rule(
    rule: &mut RuleState,
    ctx: &EvalContext<'_>,
    ts: i64,
    query_ts: i64,
    limit: usize,
    opts: &EvalOptions,
) -> Result<RuleOutput, String> {
    let text = rule.rule.expr().to_string();
    let vector = match &rule.expr {
        Some(expr) => {
            let value = ctx
                .engine
                .instant_expr(ctx.queryable, ctx.tenant, expr, &text, query_ts)
                .await
                .map_err(|e| e.to_string())?
                .value;
            match value {
                Value::Vector(v) => v,
                Value::Scalar(t, v) => vec![(Labels::default(), Sample::new(t, v))],
                _ => return Err("rule result is not a vector or scalar".into()),
            }
        }
        None => {
            let logql = ctx
                .logql
                .ok_or("LogQL rules are not available in this context")?;
            logql(&text, query_ts)?
                .into_iter()
                .map(|(l, v)| (l, Sample::new(query_ts, v)))
                .collect()
        }
    };
    match (&rule.rule, rule.alerting.as_mut()) {
        (Rule::Alerting(_), Some(state)) => {
            let callback = ctx.template_query.map(|q| {
                move |expr: &str| -> Result<Vec<QuerySample>, String> { q(expr, query_ts) }
            });
            let cb_ref = callback
                .as_ref()
                .map(|c| c as &dyn Fn(&str) -> Result<Vec<QuerySample>, String>);
            let env = TemplateEnv {
                external_labels: &opts.external_labels,
                external_url: &opts.external_url,
                query: cb_ref,
            };
            let out = state.eval(
                vector,
                ts,
                query_ts,
                limit,
                opts.resolved_retention_ms,
                &env,
            )?;
            Ok((out.samples, out.transitions))
        }
        _ => {
            let samples = recording::record(rule.rule.name(), &rule.labels, vector, limit)?;
            Ok((samples, Vec::new()))
        }
    }
}

/// Turns an engine result into template query samples (for `TemplateQueryFn` adapters).
pub fn query_samples(value: Value) -> Result<Vec<QuerySample>, String> {
    let to_map = |l: &Labels| {
        l.iter()
            .map(|x| (x.name.to_string(), x.value.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    match value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|(l, s)| QuerySample {
                labels: to_map(&l),
                value: s.v,
            })
            .collect()),
        Value::Scalar(_, v) => Ok(vec![QuerySample {
            labels: BTreeMap::new(),
            value: v,
        }]),
        other => Err(format!(
            "query result is a {}, not a vector or scalar",
            other.type_name()
        )),
    }
}
