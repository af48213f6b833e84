//! The head: one tenant's recent log streams in memory, indexed by label pairs.

mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use pitot_core::{Labels, Matcher};
use roaring::RoaringBitmap;

use crate::postings::Postings;
pub use stream::{Appended, MemStream, SealJob};

/// One tenant's in-memory streams.
///
/// Stream IDs are dense `u32`s, stable for the life of the process and across WAL
/// replay, so WAL records name a stream by ID after logging its labels once. Streams
/// are never removed from the head: an emptied stream keeps the time up to which it was
/// flushed, which later appends and replays must respect.
#[derive(Debug, Default)]
pub struct TenantHead {
    streams: HashMap<u32, MemStream>,
    by_labels: HashMap<Arc<Labels>, u32>,
    postings: Postings,
    next_id: u32,
    /// Newest flushed entry per stream, from blocks loaded at open, for streams the
    /// head does not hold yet.
    flushed: HashMap<Labels, i64>,
}

impl TenantHead {
    /// An empty head; `flushed` says up to when each stream is already in blocks.
    pub fn new(flushed: HashMap<Labels, i64>) -> Self {
        TenantHead {
            flushed,
            ..TenantHead::default()
        }
    }

    /// Whether the head has a stream with `labels`.
    pub fn contains(&self, labels: &Labels) -> bool {
        self.by_labels.contains_key(labels)
    }

    /// Number of streams in the head.
    pub fn num_streams(&self) -> usize {
        self.streams.len()
    }

    /// The stream ID of `labels`, creating the stream if needed; returns whether it
    /// was created.
    pub fn get_or_create(&mut self, labels: &Labels) -> (u32, bool) {
        if let Some(&id) = self.by_labels.get(labels) {
            return (id, false);
        }
        let id = self.next_id;
        self.insert_stream(id, labels.clone());
        (id, true)
    }

    /// Inserts a stream under a known ID (replay); a no-op if the ID exists.
    pub fn insert_stream(&mut self, id: u32, labels: Labels) {
        if self.streams.contains_key(&id) {
            return;
        }
        self.next_id = self.next_id.max(id.saturating_add(1));
        let flushed = self.flushed.remove(&labels).unwrap_or(i64::MIN);
        self.postings.add(id, &labels);
        self.by_labels.insert(Arc::new(labels.clone()), id);
        self.streams.insert(id, MemStream::new(labels, flushed));
    }

    /// The stream with `id`.
    pub fn stream(&self, id: u32) -> Option<&MemStream> {
        self.streams.get(&id)
    }

    /// The stream with `id`, mutably.
    pub fn stream_mut(&mut self, id: u32) -> Option<&mut MemStream> {
        self.streams.get_mut(&id)
    }

    /// IDs of streams matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        self.postings.select(matchers)
    }

    /// Every stream ID, ascending.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Every stream, in no particular order.
    pub fn streams(&self) -> impl Iterator<Item = &MemStream> {
        self.streams.values()
    }
}
