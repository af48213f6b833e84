//! Matcher evaluation over an inverted index of label pairs, shared by the head and by
//! block indexes.

use std::collections::HashMap;

use pitot_core::{Labels, Matcher};
use roaring::RoaringBitmap;

/// Label name → value → IDs of the streams that carry the pair.
#[derive(Debug, Default, Clone)]
pub struct Postings {
    map: HashMap<String, HashMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl Postings {
    /// Indexes stream `id` under each of its label pairs.
    pub fn add(&mut self, id: u32, labels: &Labels) {
        for label in labels {
            self.map
                .entry(label.name.to_string())
                .or_default()
                .entry(label.value.to_string())
                .or_default()
                .insert(id);
        }
        self.all.insert(id);
    }

    /// IDs of streams matching every matcher. A matcher that accepts the empty string
    /// also selects streams without the label, so it is evaluated as "all minus the
    /// values it rejects"; the others as the union of the values they accept.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let mut result: Option<RoaringBitmap> = None;
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| (m.matches_empty(), m.equal_value().is_none()));
        for matcher in ordered {
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                break;
            }
            let values = self.map.get(&matcher.name);
            let selected = if matcher.matches_empty() {
                let mut rejected = RoaringBitmap::new();
                for (value, ids) in values.into_iter().flatten() {
                    if !matcher.matches(value) {
                        rejected |= ids;
                    }
                }
                match result.take() {
                    Some(current) => current - rejected,
                    None => &self.all - rejected,
                }
            } else if let Some(value) = matcher.equal_value() {
                let ids = values
                    .and_then(|v| v.get(value))
                    .cloned()
                    .unwrap_or_default();
                match result.take() {
                    Some(current) => current & ids,
                    None => ids,
                }
            } else {
                let mut accepted = RoaringBitmap::new();
                for (value, ids) in values.into_iter().flatten() {
                    if matcher.matches(value) {
                        accepted |= ids;
                    }
                }
                match result.take() {
                    Some(current) => current & accepted,
                    None => accepted,
                }
            };
            result = Some(selected);
        }
        result.unwrap_or_else(|| self.all.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(p: &Postings, matchers: &[Matcher]) -> Vec<u32> {
        p.select(matchers).iter().collect()
    }

    #[test]
    fn operators_and_missing_labels() {
        let mut p = Postings::default();
        p.add(0, &Labels::from_pairs([("app", "api"), ("env", "prod")]));
        p.add(1, &Labels::from_pairs([("app", "web")]));
        p.add(2, &Labels::from_pairs([("app", "api"), ("env", "dev")]));
        assert_eq!(ids(&p, &[Matcher::equal("app", "api")]), [0, 2]);
        assert_eq!(ids(&p, &[Matcher::not_equal("app", "api")]), [1]);
        assert_eq!(ids(&p, &[Matcher::regex("app", "a.*").unwrap()]), [0, 2]);
        assert_eq!(ids(&p, &[Matcher::equal("env", "")]), [1]);
        assert_eq!(ids(&p, &[Matcher::not_equal("env", "")]), [0, 2]);
        assert_eq!(
            ids(&p, &[Matcher::not_regex("env", "pr.*").unwrap()]),
            [1, 2]
        );
        assert_eq!(ids(&p, &[Matcher::equal("nope", "x")]), Vec::<u32>::new());
        assert_eq!(ids(&p, &[]), [0, 1, 2]);
    }
}
