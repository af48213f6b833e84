//! Label-set helpers used by operators and functions.

use pitot_core::{Label, Labels, METRIC_NAME};

/// The labels that name a metric: the name itself and, with Prometheus' type-and-unit
/// labels, its `__type__` and `__unit__`. They are dropped together, because a result
/// computed from a metric is no longer that metric.
pub(crate) const IDENTITY_LABELS: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

/// [`drop_metric_name`] of owned labels, reusing their storage.
pub(crate) fn without_metric_name(labels: Labels) -> Labels {
    if !labels
        .iter()
        .any(|l| IDENTITY_LABELS.contains(&l.name.as_str()))
    {
        return labels;
    }
    let mut kept = labels.into_vec();
    kept.retain(|l| !IDENTITY_LABELS.contains(&l.name.as_str()));
    Labels::from_unsorted(kept)
}

/// Labels without the metric name (and its type and unit labels).
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels
        .iter()
        .any(|l| IDENTITY_LABELS.contains(&l.name.as_str()))
    {
        return labels.clone();
    }
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| !IDENTITY_LABELS.contains(&l.name.as_str()))
            .cloned()
            .collect(),
    )
}

/// `names` plus the metric identity labels.
pub(crate) fn with_identity(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.extend(IDENTITY_LABELS.iter().map(|s| s.to_string()));
    v
}

/// Only the labels named in `names`.
pub(crate) fn keep_only(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| names.iter().any(|n| n.as_str() == l.name.as_str()))
            .cloned()
            .collect(),
    )
}

/// All labels except those in `names`.
pub(crate) fn remove(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_unsorted(
        labels
            .iter()
            .filter(|l| !names.iter().any(|n| n.as_str() == l.name.as_str()))
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
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    format!("{v}")
}
