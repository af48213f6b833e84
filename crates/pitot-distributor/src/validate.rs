//! Per-series validation of remote-write input.

use std::fmt;

use pitot_core::{is_valid_label_name, is_valid_metric_name, METRIC_NAME};

use crate::ValidationLimits;

/// Why a series or sample was refused before reaching storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationReason {
    /// No `__name__` label.
    MissingMetricName,
    /// `__name__` is not a valid metric name.
    InvalidMetricName,
    /// A label name has invalid syntax.
    InvalidLabelName,
    /// Two labels share a name.
    DuplicateLabelNames,
    /// More labels than allowed.
    MaxLabelNamesPerSeries,
    /// A label name is too long.
    LabelNameTooLong,
    /// A label value is too long.
    LabelValueTooLong,
    /// A sample is too far in the future.
    TooFarInFuture,
    /// A sample is too far in the past.
    TooFarInPast,
}

impl ValidationReason {
    /// Stable ID, used in messages and as the discard counter's `reason` label.
    pub fn id(self) -> &'static str {
        match self {
            ValidationReason::MissingMetricName => "missing-metric-name",
            ValidationReason::InvalidMetricName => "metric-name-invalid",
            ValidationReason::InvalidLabelName => "label-invalid",
            ValidationReason::DuplicateLabelNames => "duplicate-label-names",
            ValidationReason::MaxLabelNamesPerSeries => "max-label-names-per-series",
            ValidationReason::LabelNameTooLong => "label-name-too-long",
            ValidationReason::LabelValueTooLong => "label-value-too-long",
            ValidationReason::TooFarInFuture => "sample-too-far-in-future",
            ValidationReason::TooFarInPast => "sample-too-far-in-past",
        }
    }

    /// The setting that raises the limit, for limit reasons.
    fn setting(self) -> Option<&'static str> {
        match self {
            ValidationReason::MaxLabelNamesPerSeries => Some("limits.max_label_names_per_series"),
            ValidationReason::LabelNameTooLong => Some("limits.max_label_name_length"),
            ValidationReason::LabelValueTooLong => Some("limits.max_label_value_length"),
            ValidationReason::TooFarInFuture => Some("limits.creation_grace_period"),
            ValidationReason::TooFarInPast => Some("limits.past_grace_period"),
            _ => None,
        }
    }
}

/// A refused series (or sample), with enough detail to name it in the response.
#[derive(Debug, Clone)]
pub struct InvalidSeries {
    /// Why.
    pub reason: ValidationReason,
    /// What exactly was wrong, for example `label "1x"` or `actual: 31, limit: 30`.
    pub detail: String,
    /// The series as sent (labels in request order).
    pub series: String,
}

impl fmt::Display for InvalidSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            ValidationReason::MissingMetricName => {
                "received a series without a metric name".to_string()
            }
            ValidationReason::InvalidMetricName => format!(
                "received a series with an invalid metric name ({})",
                self.detail
            ),
            ValidationReason::InvalidLabelName => format!(
                "received a series with an invalid label name ({})",
                self.detail
            ),
            ValidationReason::DuplicateLabelNames => format!(
                "received a series with duplicate label name ({})",
                self.detail
            ),
            ValidationReason::MaxLabelNamesPerSeries => {
                format!(
                    "received a series whose number of labels exceeds the limit ({})",
                    self.detail
                )
            }
            ValidationReason::LabelNameTooLong => format!(
                "received a series whose label name length exceeds the limit ({})",
                self.detail
            ),
            ValidationReason::LabelValueTooLong => {
                format!(
                    "received a series whose label value length exceeds the limit ({})",
                    self.detail
                )
            }
            ValidationReason::TooFarInFuture => format!(
                "received a sample whose timestamp is too far in the future ({})",
                self.detail
            ),
            ValidationReason::TooFarInPast => format!(
                "received a sample whose timestamp is too far in the past ({})",
                self.detail
            ),
        };
        write!(
            f,
            "{what} series: '{}' (err-pitot-{})",
            self.series,
            self.reason.id()
        )?;
        if let Some(setting) = self.reason.setting() {
            write!(f, ". To adjust the related limit, configure {setting}, or contact your service administrator")?;
        }
        Ok(())
    }
}

/// Renders labels as sent, truncated so a huge series does not make a huge message.
pub(crate) fn describe(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let name = labels
        .iter()
        .find(|(n, _)| *n == METRIC_NAME)
        .map(|&(_, v)| v)
        .unwrap_or("");
    out.push_str(name);
    out.push('{');
    let mut first = true;
    for &(n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(n);
        out.push_str("=\"");
        out.push_str(v);
        out.push('"');
        if out.len() > 200 {
            break;
        }
    }
    out.push('}');
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Validates one series' labels as sent (empty values count as absent, as in
/// Prometheus). Returns whether they are already canonical (sorted by name, no empty
/// value), so the caller need not check again before storing them.
pub(crate) fn check_labels(
    labels: &[(&str, &str)],
    limits: &ValidationLimits,
) -> Result<bool, InvalidSeries> {
    let fail = |reason, detail: String| InvalidSeries {
        reason,
        detail,
        series: describe(labels),
    };
    // Labels kept (empty values mean "no label"). Clients send names sorted, as the
    // protocol asks, so duplicates show as equal neighbours; only an unsorted series
    // pays for sorting a list of its names.
    let mut kept = 0usize;
    let mut previous: Option<&str> = None;
    let mut sorted = true;
    let mut has_name = false;
    for &(name, value) in labels {
        if name == METRIC_NAME {
            if !is_valid_metric_name(value) {
                return Err(fail(
                    ValidationReason::InvalidMetricName,
                    format!("{value:?}"),
                ));
            }
            has_name = true;
        } else if !is_valid_label_name(name) {
            return Err(fail(
                ValidationReason::InvalidLabelName,
                format!("{name:?}"),
            ));
        }
        if name.len() > limits.max_label_name_length {
            return Err(fail(
                ValidationReason::LabelNameTooLong,
                format!(
                    "actual: {}, limit: {}",
                    name.len(),
                    limits.max_label_name_length
                ),
            ));
        }
        if value.len() > limits.max_label_value_length {
            return Err(fail(
                ValidationReason::LabelValueTooLong,
                format!(
                    "label: {name:?}, actual: {}, limit: {}",
                    value.len(),
                    limits.max_label_value_length
                ),
            ));
        }
        if value.is_empty() {
            continue;
        }
        kept += 1;
        if let Some(previous) = previous {
            match previous.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(fail(
                        ValidationReason::DuplicateLabelNames,
                        format!("{name:?}"),
                    ))
                }
                std::cmp::Ordering::Greater => sorted = false,
            }
        }
        previous = Some(name);
    }
    if !has_name {
        return Err(fail(ValidationReason::MissingMetricName, String::new()));
    }
    if kept > limits.max_label_names_per_series {
        return Err(fail(
            ValidationReason::MaxLabelNamesPerSeries,
            format!(
                "actual: {kept}, limit: {}",
                limits.max_label_names_per_series
            ),
        ));
    }
    if !sorted {
        let mut names: Vec<&str> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|&(n, _)| n)
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(fail(
                ValidationReason::DuplicateLabelNames,
                format!("{:?}", w[0]),
            ));
        }
    }
    Ok(sorted && kept == labels.len())
}

/// [`check_labels`], then the canonical label set, for tests.
#[cfg(test)]
pub(crate) fn validate_labels(
    labels: &[(&str, &str)],
    limits: &ValidationLimits,
) -> Result<pitot_core::Labels, InvalidSeries> {
    check_labels(labels, limits)?;
    Ok(pitot_core::Labels::from_unsorted(
        labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|&(n, v)| pitot_core::Label::new(n, v))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(pairs: &[(&str, &str)]) -> Option<ValidationReason> {
        validate_labels(pairs, &ValidationLimits::default())
            .err()
            .map(|e| e.reason)
    }

    #[test]
    fn mimir_rules() {
        assert_eq!(reason(&[("__name__", "up"), ("job", "x")]), None);
        assert_eq!(
            reason(&[("job", "x")]),
            Some(ValidationReason::MissingMetricName)
        );
        assert_eq!(
            reason(&[("__name__", "1up")]),
            Some(ValidationReason::InvalidMetricName)
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("a-b", "x")]),
            Some(ValidationReason::InvalidLabelName)
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("a", "x"), ("a", "y")]),
            Some(ValidationReason::DuplicateLabelNames)
        );
        // Unsorted, with the duplicates apart.
        assert_eq!(
            reason(&[("a", "x"), ("__name__", "up"), ("a", "y")]),
            Some(ValidationReason::DuplicateLabelNames)
        );
        // A duplicate with an empty value is no label at all.
        assert_eq!(reason(&[("a", "x"), ("__name__", "up"), ("a", "")]), None);
        let long = "v".repeat(2049);
        assert_eq!(
            reason(&[("__name__", "up"), ("a", &long)]),
            Some(ValidationReason::LabelValueTooLong)
        );
        let many: Vec<(String, String)> = (0..30)
            .map(|i| (format!("l{i}"), "v".to_string()))
            .collect();
        let mut pairs: Vec<(&str, &str)> =
            many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        pairs.push(("__name__", "up"));
        assert_eq!(
            reason(&pairs),
            Some(ValidationReason::MaxLabelNamesPerSeries)
        );
    }

    #[test]
    fn labels_are_called_canonical_only_when_sorted_without_empty_values() {
        let limits = ValidationLimits::default();
        let canonical = |labels: &[(&str, &str)]| check_labels(labels, &limits).unwrap();
        assert!(canonical(&[("__name__", "up"), ("job", "x")]));
        assert!(!canonical(&[("job", "x"), ("__name__", "up")]));
        assert!(!canonical(&[("__name__", "up"), ("a", ""), ("job", "x")]));
        assert!(!canonical(&[("__name__", "up"), ("job", "x"), ("a", "")]));
        assert_eq!(
            check_labels(&[("__name__", "up"), ("a", "1"), ("a", "2")], &limits)
                .unwrap_err()
                .reason,
            ValidationReason::DuplicateLabelNames
        );
    }

    #[test]
    fn empty_values_are_dropped_and_message_names_series_and_limit() {
        let labels = validate_labels(
            &[("job", ""), ("__name__", "up")],
            &ValidationLimits::default(),
        )
        .unwrap();
        assert_eq!(labels.len(), 1);
        let err = validate_labels(
            &[("__name__", "up"), ("a", &"v".repeat(3000))],
            &ValidationLimits::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("err-pitot-label-value-too-long"), "{msg}");
        assert!(msg.contains("limits.max_label_value_length"), "{msg}");
        assert!(msg.contains("series: 'up{a="), "{msg}");
    }
}
