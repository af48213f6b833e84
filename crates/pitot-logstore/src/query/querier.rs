//! [`LogStoreQuerier`]: selects streams in the head and in blocks, merges them by
//! labels, and skips chunks whose filter rules out a required literal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use pitot_core::{Labels, Matcher, TenantId};
use pitot_storage_api::{
    LogIndexStats, LogQuerier, LogSelectHints, LogStream, LogStreamSet, StorageError,
};

use crate::block::{Block, ChunkRef};
use crate::chunk::ChunkMeta;
use crate::filter::{LineFilter, MIN_NEEDLE};
use crate::head::TenantHead;
use crate::query::iter::{self, Source, StreamData};
use crate::store::BlockListRef;

/// Reads one tenant's logs over `[start, end)`.
pub struct LogStoreQuerier {
    tenant: TenantId,
    head: Option<Arc<Mutex<TenantHead>>>,
    blocks: BlockListRef,
    start: i64,
    end: i64,
}

/// Per stream: what a query would read, for `index_stats` and label lookups.
type Visit<'a> = dyn FnMut(&Labels, &mut dyn Iterator<Item = ChunkMeta>) + 'a;

/// A stream's head chunks and open-buffer copy, taken under the head lock.
type HeadSources = Vec<(Labels, Vec<Source>)>;

impl LogStoreQuerier {
    /// A querier over a tenant's head (if it has one) and its blocks.
    pub(crate) fn new(
        tenant: TenantId,
        head: Option<Arc<Mutex<TenantHead>>>,
        blocks: BlockListRef,
        start: i64,
        end: i64,
    ) -> Self {
        LogStoreQuerier {
            tenant,
            head,
            blocks,
            start,
            end,
        }
    }

    /// The tenant's blocks overlapping `[start, end)`, and whatever `f` takes from the
    /// head, read together under the head lock: a flush moves chunks from the head to a
    /// block under the same lock, so no chunk is seen twice or missed.
    fn snapshot<T>(
        &self,
        start: i64,
        end: i64,
        f: impl FnOnce(Option<&TenantHead>) -> T,
    ) -> (Vec<Arc<Block>>, T) {
        let guard = self.head.as_ref().map(|h| h.lock());
        let blocks = self
            .blocks
            .read()
            .get(&self.tenant)
            .map(|list| {
                list.iter()
                    .filter(|b| b.overlaps(start, end))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let taken = f(guard.as_deref());
        (blocks, taken)
    }

    /// Calls `visit` for every matching stream of the blocks and the head with its
    /// chunks in range (the head's open buffer counts as one chunk); streams without
    /// any are skipped.
    fn visit(&self, matchers: &[Matcher], visit: &mut Visit<'_>) {
        let (start, end) = (self.start, self.end);
        let (blocks, ()) = self.snapshot(start, end, |head| {
            let Some(head) = head else {
                return;
            };
            for id in head.select(matchers) {
                let Some(stream) = head.stream(id) else {
                    continue;
                };
                let open = stream.open_range().map(|(min_ts, max_ts)| ChunkMeta {
                    min_ts,
                    max_ts,
                    entries: stream.open.len() as u32,
                    raw_bytes: stream.open.lines.len() as u32,
                });
                let mut chunks = stream
                    .sealed
                    .iter()
                    .map(|c| c.meta)
                    .chain(open)
                    .filter(|m| m.overlaps(start, end))
                    .peekable();
                if chunks.peek().is_some() {
                    visit(&stream.labels, &mut chunks);
                }
            }
        });
        for block in &blocks {
            for i in block.select(matchers) {
                let stream = &block.streams()[i];
                let mut chunks = stream
                    .chunks
                    .iter()
                    .map(|c| c.meta)
                    .filter(|m| m.overlaps(start, end))
                    .peekable();
                if chunks.peek().is_some() {
                    visit(&stream.labels, &mut chunks);
                }
            }
        }
    }
}

/// The head's part of a select: sealed chunks passing the filters, and a filtered copy
/// of each open buffer.
fn head_sources(
    head: &TenantHead,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    literals: &[String],
) -> HeadSources {
    let checkable: Vec<&String> = literals.iter().filter(|l| l.len() >= MIN_NEEDLE).collect();
    let mut out = Vec::new();
    for id in head.select(matchers) {
        let Some(stream) = head.stream(id) else {
            continue;
        };
        let mut sources = Vec::new();
        for c in &stream.sealed {
            if !c.meta.overlaps(start, end) {
                continue;
            }
            if !checkable.is_empty() {
                let skip = match LineFilter::parse(&c.filter) {
                    Ok(f) => !checkable.iter().all(|l| f.may_contain(l.as_bytes())),
                    Err(_) => false,
                };
                if skip {
                    continue;
                }
            }
            sources.push(Source::Chunk {
                meta: c.meta,
                bytes: c.bytes.clone(),
            });
        }
        if stream
            .open_range()
            .is_some_and(|(min, max)| max >= start && min < end)
        {
            let open = stream.open_snapshot(start, end, literals);
            if !open.is_empty() {
                sources.push(Source::Open(Arc::new(open)));
            }
        }
        if !sources.is_empty() {
            out.push((stream.labels.clone(), sources));
        }
    }
    out
}

#[async_trait]
impl LogQuerier for LogStoreQuerier {
    async fn select(
        &self,
        hints: &LogSelectHints,
        matchers: &[Matcher],
    ) -> Result<LogStreamSet, StorageError> {
        if hints.labels_only {
            let mut labels = BTreeSet::new();
            self.visit(matchers, &mut |l, _| {
                labels.insert(l.clone());
            });
            let streams = labels
                .into_iter()
                .map(|l| LogStream::from_entries(l, Vec::new()))
                .collect();
            return Ok(LogStreamSet {
                streams,
                warnings: Vec::new(),
            });
        }
        let (start, end) = if hints.end > hints.start {
            (self.start.max(hints.start), self.end.min(hints.end))
        } else {
            (self.start, self.end)
        };
        let literals: Vec<String> = hints
            .required_literals
            .iter()
            .filter(|l| !l.is_empty())
            .cloned()
            .collect();
        let (blocks, from_head) = self.snapshot(start, end, |head| {
            head.map(|h| head_sources(h, matchers, start, end, &literals))
                .unwrap_or_default()
        });
        let mut streams: BTreeMap<Labels, Vec<Source>> = BTreeMap::new();
        for block in &blocks {
            let mut wanted: Vec<(usize, ChunkRef)> = Vec::new();
            for i in block.select(matchers) {
                for c in &block.streams()[i].chunks {
                    if c.meta.overlaps(start, end) {
                        wanted.push((i, *c));
                    }
                }
            }
            let wanted = block.filter_chunks(wanted, &literals).await?;
            let refs: Vec<ChunkRef> = wanted.iter().map(|(_, c)| *c).collect();
            let fetched = block.fetch_chunks(&refs).await?;
            for ((i, c), bytes) in wanted.into_iter().zip(fetched) {
                streams
                    .entry(block.streams()[i].labels.clone())
                    .or_default()
                    .push(Source::Chunk {
                        meta: c.meta,
                        bytes,
                    });
            }
        }
        for (labels, sources) in from_head {
            streams.entry(labels).or_default().extend(sources);
        }

        let literals = Arc::new(literals);
        let streams = streams
            .into_iter()
            .map(|(labels, sources)| {
                let data = Arc::new(StreamData::new(sources, start, end, Arc::clone(&literals)));
                LogStream::new(labels, move || iter::entries(Arc::clone(&data)))
            })
            .collect();
        Ok(LogStreamSet {
            streams,
            warnings: Vec::new(),
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        self.visit(matchers, &mut |labels, _| {
            for l in labels {
                if !names.contains(l.name.as_str()) {
                    names.insert(l.name.to_string());
                }
            }
        });
        Ok(names.into_iter().collect())
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut values = BTreeSet::new();
        self.visit(matchers, &mut |labels, _| {
            if let Some(v) = labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        });
        Ok(values.into_iter().collect())
    }

    async fn index_stats(&self, matchers: &[Matcher]) -> Result<LogIndexStats, StorageError> {
        let mut stats = LogIndexStats::default();
        let mut streams = BTreeSet::new();
        self.visit(matchers, &mut |labels, chunks| {
            if !streams.contains(labels) {
                streams.insert(labels.clone());
            }
            for c in chunks {
                stats.chunks += 1;
                stats.entries += u64::from(c.entries);
                stats.bytes += u64::from(c.raw_bytes);
            }
        });
        stats.streams = streams.len() as u64;
        Ok(stats)
    }
}
