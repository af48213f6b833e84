//! Recording rules: query, rename, relabel, check for collisions and the limit.

use std::collections::{BTreeMap, HashSet};

use pitot_core::{Labels, Sample, METRIC_NAME};

/// The series a recording rule writes for one evaluation, or Prometheus' error.
pub(crate) fn record(
    name: &str,
    labels: &BTreeMap<String, String>,
    vector: Vec<(Labels, Sample)>,
    limit: usize,
) -> Result<Vec<(Labels, Sample)>, String> {
    let mut out = Vec::with_capacity(vector.len());
    let mut seen = HashSet::with_capacity(vector.len());
    for (series, sample) in vector {
        let mut b: BTreeMap<String, String> = series
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        b.insert(METRIC_NAME.to_string(), name.to_string());
        apply_labels(&mut b, labels);
        let lset = Labels::from_pairs(b);
        if !seen.insert(lset.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((lset, sample));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

/// Sets `labels` on a builder; an empty value removes the label, as in Prometheus.
pub(crate) fn apply_labels(b: &mut BTreeMap<String, String>, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        if v.is_empty() {
            b.remove(k);
        } else {
            b.insert(k.clone(), v.clone());
        }
    }
}
