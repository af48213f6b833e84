//! Finding the output series of an entry without allocating: label sets are hashed
//! order-independently straight from the pipeline's label builder, and a new `Labels`
//! is built only the first time a set is seen.

use std::collections::HashMap;

use pitot_core::{Label, Labels};

use crate::ast::Grouping;
use crate::pipeline::labels::LabelsBuilder;

fn pair_hash(name: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(value.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Finalise so that summing hashes of different pairs does not cancel out.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Which labels of an entry make up its series.
#[derive(Debug, Clone)]
pub enum Projection {
    /// All labels.
    All,
    /// Only these (sorted, unique).
    By(Vec<String>),
    /// All but these.
    Without(Vec<String>),
}

impl Projection {
    /// From an optional grouping clause.
    pub fn from_grouping(g: Option<&Grouping>) -> Self {
        match g {
            None => Projection::All,
            Some(g) => {
                let mut l = g.labels.clone();
                l.sort();
                l.dedup();
                if g.without {
                    Projection::Without(l)
                } else {
                    Projection::By(l)
                }
            }
        }
    }

    fn keeps(&self, name: &str) -> bool {
        match self {
            Projection::All => true,
            Projection::By(l) => l.iter().any(|n| n == name),
            Projection::Without(l) => !l.iter().any(|n| n == name),
        }
    }

    /// Visits the projected pairs of a builder.
    pub fn visit_builder(&self, b: &LabelsBuilder, mut f: impl FnMut(&str, &str)) {
        match self {
            Projection::By(names) => {
                for n in names {
                    if let Some(v) = b.get(n) {
                        f(n, v);
                    }
                }
            }
            _ => b.for_each(|n, v| {
                if self.keeps(n) {
                    f(n, v)
                }
            }),
        }
    }

    /// Visits the projected pairs of a label set.
    pub fn visit_labels(&self, l: &Labels, mut f: impl FnMut(&str, &str)) {
        for p in l.iter() {
            if self.keeps(&p.name) {
                f(&p.name, &p.value);
            }
        }
    }

    /// Projects a label set.
    pub fn apply(&self, l: &Labels) -> Labels {
        match self {
            Projection::All => l.clone(),
            _ => {
                let mut v = Vec::new();
                self.visit_labels(l, |n, val| v.push(Label::new(n, val)));
                Labels::from_unsorted(v)
            }
        }
    }
}

/// Calls its argument with every `(name, value)` pair of a label set.
pub type PairVisitor<'a> = &'a dyn Fn(&mut dyn FnMut(&str, &str));

/// Label sets mapped to dense indexes, each with a payload.
#[derive(Debug)]
pub struct SeriesTable<T> {
    map: HashMap<u64, Vec<usize>>,
    /// Label sets and payloads, in insertion order.
    pub entries: Vec<(Labels, T)>,
}

impl<T> Default for SeriesTable<T> {
    fn default() -> Self {
        SeriesTable {
            map: HashMap::new(),
            entries: Vec::new(),
        }
    }
}

impl<T> SeriesTable<T> {
    /// The index of the series whose pairs `visit` yields, inserted with `init` when new.
    pub fn index_of(&mut self, visit: PairVisitor<'_>, init: impl FnOnce() -> T) -> usize {
        let mut hash = 0u64;
        let mut count = 0usize;
        visit(&mut |n, v| {
            hash = hash.wrapping_add(pair_hash(n, v));
            count += 1;
        });
        if let Some(cands) = self.map.get(&hash) {
            for &i in cands {
                let stored = &self.entries[i].0;
                if stored.len() != count {
                    continue;
                }
                let mut equal = true;
                visit(&mut |n, v| {
                    if equal && stored.get(n) != Some(v) {
                        equal = false;
                    }
                });
                if equal {
                    return i;
                }
            }
        }
        let mut labels = Vec::with_capacity(count);
        visit(&mut |n, v| labels.push(Label::new(n, v)));
        let i = self.entries.len();
        self.entries.push((Labels::from_unsorted(labels), init()));
        self.map.entry(hash).or_default().push(i);
        i
    }

    /// The index of an owned label set.
    pub fn index_of_labels(&mut self, labels: &Labels, init: impl FnOnce() -> T) -> usize {
        self.index_of(
            &|f: &mut dyn FnMut(&str, &str)| {
                for l in labels.iter() {
                    f(&l.name, &l.value);
                }
            },
            init,
        )
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_set_any_order_same_index() {
        let mut t: SeriesTable<u32> = SeriesTable::default();
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let b = Labels::from_pairs([("b", "2"), ("a", "1")]);
        let c = Labels::from_pairs([("a", "2"), ("b", "1")]);
        let i = t.index_of_labels(&a, || 0);
        assert_eq!(t.index_of_labels(&b, || 0), i);
        assert_ne!(t.index_of_labels(&c, || 0), i);
        assert_eq!(t.len(), 2);
    }
}
