//! Interned label strings of one head: a series keeps pairs of symbol IDs instead of
//! its own copy of every name and value, which were most of a series' memory.

use std::collections::HashMap;
use std::sync::Arc;

use pitot_core::{Label, Labels};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Label strings by ID and IDs by string.
#[derive(Default)]
pub struct Symbols {
    ids: FastMap<Arc<str>, u32>,
    strs: Vec<Arc<str>>,
}

impl Symbols {
    /// The ID of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        let s: Arc<str> = Arc::from(s);
        self.strs.push(Arc::clone(&s));
        self.ids.insert(s, id);
        id
    }

    /// The string of `id`.
    pub fn get(&self, id: u32) -> &str {
        &self.strs[id as usize]
    }

    /// Number of strings held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.strs.len()
    }

    /// Interns a label set as `[name, value, name, value, ...]`.
    pub fn encode(&mut self, labels: &Labels) -> Box<[u32]> {
        let mut out = Vec::with_capacity(labels.len() * 2);
        for label in labels {
            out.push(self.intern(&label.name));
            out.push(self.intern(&label.value));
        }
        out.into_boxed_slice()
    }

    /// The label set of interned pairs.
    pub fn decode(&self, pairs: &[u32]) -> Labels {
        Labels::from_unsorted(
            pairs
                .chunks_exact(2)
                .map(|p| Label::new(self.get(p[0]), self.get(p[1])))
                .collect(),
        )
    }

    /// The (name, value) strings of interned pairs.
    pub fn pairs<'a>(&'a self, pairs: &'a [u32]) -> impl Iterator<Item = (&'a str, &'a str)> {
        pairs
            .chunks_exact(2)
            .map(|p| (self.get(p[0]), self.get(p[1])))
    }

    /// Whether interned pairs spell the label pairs `labels`.
    pub fn equals_pairs(&self, pairs: &[u32], labels: &[(&str, &str)]) -> bool {
        pairs.len() == labels.len() * 2
            && pairs
                .chunks_exact(2)
                .zip(labels)
                .all(|(p, &(n, v))| self.get(p[1]) == v && self.get(p[0]) == n)
    }
}
