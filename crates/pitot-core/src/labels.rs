use std::fmt;

pub use compact_str::CompactString;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name.
    pub name: CompactString,
    /// The label value; never empty in a stored series.
    pub value: CompactString,
}

impl Label {
    /// Builds a label pair.
    pub fn new(name: impl Into<CompactString>, value: impl Into<CompactString>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A series identity: label pairs sorted by name, names unique.
///
/// Sorting once on construction makes equality, hashing and ordering of label sets
/// cheap and canonical, which both the head's series map and block indexes rely on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Sorts `labels` by name. The caller guarantees names are unique (validation
    /// rejects duplicates before series are built).
    pub fn from_unsorted(mut labels: Vec<Label>) -> Self {
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Labels(labels)
    }

    /// Builds labels from `(name, value)` pairs in any order.
    pub fn from_pairs<N: Into<CompactString>, V: Into<CompactString>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Labels::from_unsorted(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The label pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of label pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The label pairs as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Gives the sorted pairs back.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints as PromQL does: `name{a="b", c="d"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(name) = name {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for label in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_lookup_and_display() {
        let labels = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("instance", "x:1")]);
        assert_eq!(labels.get("job"), Some("a"));
        assert_eq!(labels.get("nope"), None);
        assert_eq!(labels.to_string(), r#"up{instance="x:1", job="a"}"#);
        let names: Vec<_> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "instance", "job"]);
    }
}
