//! Label-set helpers used by operators and functions.

use pitot_core::{Label, Labels, METRIC_NAME};

/// Labels without the metric name.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if labels.get(METRIC_NAME).is_none() {
        return labels.clone();
    }
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .cloned()
            .collect(),
    )
}

/// The labels a series logically has: without the name when it is marked for removal.
pub(crate) fn effective(labels: &Labels, drop_name: bool) -> Labels {
    if drop_name {
        drop_metric_name(labels)
    } else {
        labels.clone()
    }
}

/// Only the labels named in `names`.
pub(crate) fn keep_only(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| names.iter().any(|n| *n == l.name))
            .cloned()
            .collect(),
    )
}

/// All labels except those in `names`.
pub(crate) fn remove(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| !names.iter().any(|n| *n == l.name))
            .cloned()
            .collect(),
    )
}

/// Sets (or, with an empty value, deletes) one label.
pub(crate) fn set(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        v.push(Label::new(name, value));
    }
    Labels::from_unsorted(v)
}

/// Formats a float the way Go's `strconv.FormatFloat(v, 'f', -1, 64)` does.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    format!("{v}")
}
