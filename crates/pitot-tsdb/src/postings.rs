//! Matcher evaluation over an inverted index, shared by the head and by blocks.

use pitot_core::Matcher;
use roaring::RoaringBitmap;

/// An inverted index from label pairs to series IDs. The head and blocks store their
/// postings differently; both answer these three questions.
pub trait LabelIndex {
    /// Every series ID in the index.
    fn all_series(&self) -> RoaringBitmap;
    /// Series that have `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap>;
    /// Calls `f` for each value of `name` with its postings.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap));
}

/// Series IDs that satisfy every matcher. A matcher that accepts the empty string also
/// selects series without the label, so it is evaluated as "all minus the values it
/// rejects"; the others as the union of the values they accept.
pub fn select(index: &dyn LabelIndex, matchers: &[Matcher]) -> RoaringBitmap {
    let mut result: Option<RoaringBitmap> = None;
    // Narrow first with matchers that cannot match a missing label: they are cheapest.
    let mut ordered: Vec<&Matcher> = matchers.iter().collect();
    ordered.sort_by_key(|m| (m.matches_empty(), m.equal_value().is_none()));
    for matcher in ordered {
        if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
            break;
        }
        let selected = if matcher.matches_empty() {
            let mut rejected = RoaringBitmap::new();
            index.for_each_value(&matcher.name, &mut |value, ids| {
                if !matcher.matches(value) {
                    rejected |= ids;
                }
            });
            match result.take() {
                Some(current) => {
                    result = Some(current - rejected);
                    continue;
                }
                None => index.all_series() - rejected,
            }
        } else if let Some(value) = matcher.equal_value() {
            index
                .postings(&matcher.name, value)
                .cloned()
                .unwrap_or_default()
        } else {
            let mut accepted = RoaringBitmap::new();
            index.for_each_value(&matcher.name, &mut |value, ids| {
                if matcher.matches(value) {
                    accepted |= ids;
                }
            });
            accepted
        };
        result = Some(match result {
            Some(current) => current & selected,
            None => selected,
        });
    }
    result.unwrap_or_else(|| index.all_series())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct MapIndex {
        map: HashMap<String, HashMap<String, RoaringBitmap>>,
        all: RoaringBitmap,
    }

    impl MapIndex {
        fn add(&mut self, id: u32, pairs: &[(&str, &str)]) {
            self.all.insert(id);
            for (n, v) in pairs {
                self.map
                    .entry(n.to_string())
                    .or_default()
                    .entry(v.to_string())
                    .or_default()
                    .insert(id);
            }
        }
    }

    impl LabelIndex for MapIndex {
        fn all_series(&self) -> RoaringBitmap {
            self.all.clone()
        }
        fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
            self.map.get(name)?.get(value)
        }
        fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) {
            if let Some(values) = self.map.get(name) {
                for (v, ids) in values {
                    f(v, ids);
                }
            }
        }
    }

    fn ids(index: &MapIndex, matchers: &[Matcher]) -> Vec<u32> {
        select(index, matchers).iter().collect()
    }

    #[test]
    fn all_four_operators_and_missing_labels() {
        let mut index = MapIndex::default();
        index.add(0, &[("__name__", "up"), ("job", "api"), ("env", "prod")]);
        index.add(1, &[("__name__", "up"), ("job", "web")]);
        index.add(2, &[("__name__", "down"), ("job", "api"), ("env", "dev")]);
        let up = Matcher::equal("__name__", "up");
        assert_eq!(ids(&index, std::slice::from_ref(&up)), [0, 1]);
        assert_eq!(
            ids(&index, &[up.clone(), Matcher::not_equal("job", "api")]),
            [1]
        );
        assert_eq!(
            ids(&index, &[Matcher::regex("job", "a.*").unwrap()]),
            [0, 2]
        );
        assert_eq!(
            ids(
                &index,
                &[up.clone(), Matcher::not_regex("job", "w.*").unwrap()]
            ),
            [0]
        );
        // env="" selects series without env; env!="" those with it.
        assert_eq!(ids(&index, &[Matcher::equal("env", "")]), [1]);
        assert_eq!(ids(&index, &[Matcher::not_equal("env", "")]), [0, 2]);
        assert_eq!(ids(&index, &[Matcher::not_equal("env", "prod")]), [1, 2]);
        assert_eq!(
            ids(&index, &[Matcher::regex("env", "prod|").unwrap()]),
            [0, 1]
        );
        assert_eq!(
            ids(&index, &[Matcher::equal("job", "nope")]),
            Vec::<u32>::new()
        );
        assert_eq!(
            ids(&index, &[up, Matcher::equal("nolabel", "x")]),
            Vec::<u32>::new()
        );
    }
}
