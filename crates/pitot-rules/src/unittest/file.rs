//! The YAML shape of `promtool test rules` files.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::PromDuration;

/// A unit-test file: rule files to load and test groups to run against them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files (globs allowed), relative to the test file.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// How often rules are evaluated; 1m when unset.
    #[serde(default)]
    pub evaluation_interval: Option<PromDuration>,
    /// Weakens float comparisons to ignore the last bits of the mantissa.
    #[serde(default)]
    pub fuzzy_compare: bool,
    /// Groups evaluated first, in this order, at each evaluation time.
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    /// The test groups.
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// Input series plus the alert and PromQL tests run over them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// Spacing of input samples; the evaluation interval when unset.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    /// The input series.
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    /// Name shown in failures and matched by `--run`.
    #[serde(default)]
    pub name: String,
    /// Base time of samples and evaluations: Unix seconds or RFC 3339.
    #[serde(default)]
    pub start_timestamp: Option<serde_yaml::Value>,
    /// Alert tests.
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTestCase>,
    /// PromQL tests.
    #[serde(default)]
    pub promql_expr_test: Vec<PromqlTestCase>,
    /// `$externalLabels` of templates.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` of templates.
    #[serde(default)]
    pub external_url: String,
}

/// One input series in expanding notation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    /// `metric{label="value"}`.
    pub series: String,
    /// `1+2x3 _ stale …`, read as the raw scalar text (so YAML does not turn `0x10`
    /// into the number 16).
    pub values: String,
}

/// The firing alerts expected for one alert name at one time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTestCase {
    /// Time relative to the start.
    #[serde(default)]
    pub eval_time: PromDuration,
    /// The alert name.
    pub alertname: String,
    /// Expected firing alerts; empty means none.
    #[serde(default)]
    pub exp_alerts: Vec<ExpectedAlert>,
}

/// One expected alert.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// Labels without `alertname`.
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    /// Rendered annotations.
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

/// An expression and the samples it must return at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlTestCase {
    /// The PromQL expression.
    pub expr: String,
    /// Time relative to the start.
    #[serde(default)]
    pub eval_time: PromDuration,
    /// Expected samples, in any order.
    #[serde(default)]
    pub exp_samples: Vec<ExpectedSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSample {
    /// Series notation; empty for no labels.
    #[serde(default)]
    pub labels: String,
    /// Float value.
    #[serde(default)]
    pub value: f64,
    /// Native histogram in `{{…}}` notation, instead of `value`.
    #[serde(default)]
    pub histogram: String,
}
