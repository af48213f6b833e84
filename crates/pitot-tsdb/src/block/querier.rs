use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use pitot_core::Matcher;
use pitot_storage_api::{Querier, SelectHints, Series, SeriesSet, StorageError};

use super::Block;
use crate::head::{collect_chunks, ChunksIter};
use crate::postings;

/// Reads one block for one time range.
pub struct BlockQuerier {
    block: Arc<Block>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    /// Reads `[mint, maxt]` of `block`.
    pub fn new(block: Arc<Block>, mint: i64, maxt: i64) -> Self {
        BlockQuerier { block, mint, maxt }
    }
}

#[async_trait]
impl Querier for BlockQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let ids = postings::select(&*self.block, matchers);
        let (mint, maxt) = (self.mint, self.maxt);
        let mut wanted = Vec::new();
        let mut ranges = Vec::new();
        for id in ids {
            let series = &self.block.series()[id as usize];
            let chunks: Vec<_> = series
                .chunks
                .iter()
                .filter(|c| c.max_t >= mint && c.min_t <= maxt)
                .copied()
                .collect();
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
                continue;
            };
            if !hints.labels_only {
                ranges.push(first.offset..last.offset + u64::from(last.len));
            }
            wanted.push((id, chunks));
        }
        if hints.labels_only {
            let series = wanted
                .into_iter()
                .map(|(id, _)| Series::from_samples(self.block.labels(id), Vec::new()))
                .collect();
            return Ok(SeriesSet {
                series,
                warnings: Vec::new(),
            });
        }
        let data = self
            .block
            .read_chunks(ranges)
            .await
            .map_err(|e| StorageError::Io(e.to_string()))?;
        let mut out = Vec::with_capacity(wanted.len());
        for ((id, chunks), bytes) in wanted.into_iter().zip(data) {
            let base = chunks[0].offset;
            let mut parts = Vec::with_capacity(chunks.len());
            for c in &chunks {
                let start = (c.offset - base) as usize;
                let end = start + c.len as usize;
                if end > bytes.len() {
                    return Err(StorageError::Corrupt(format!(
                        "block {} chunk at offset {} runs past the chunks object",
                        self.block.meta.ulid, c.offset
                    )));
                }
                parts.push(bytes.slice(start..end));
            }
            let parts = Arc::new(parts);
            let untagged = self.block.meta.version < 2;
            let bulk = Arc::clone(&parts);
            out.push(
                Series::new(self.block.labels(id), move || {
                    let chunks = if untagged {
                        ChunksIter::untagged_xor(Arc::clone(&parts))
                    } else {
                        ChunksIter::new(Arc::clone(&parts))
                    };
                    Box::new(chunks.filter(move |s| s.t >= mint && s.t <= maxt))
                })
                .with_bulk(move |a, b, out| {
                    collect_chunks(&bulk, untagged, a.max(mint), b.min(maxt), out)
                }),
            );
        }
        Ok(SeriesSet {
            series: out,
            warnings: Vec::new(),
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let ids = postings::select(&*self.block, matchers);
        let mut names: BTreeSet<String> = BTreeSet::new();
        for id in ids {
            for (name, _) in self.block.label_pairs(id) {
                if !names.contains(name) {
                    names.insert(name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let ids = postings::select(&*self.block, matchers);
        let mut values = Vec::new();
        crate::postings::LabelIndex::for_each_value(&*self.block, name, &mut |value, postings| {
            if !postings.is_disjoint(&ids) {
                values.push(value.to_string());
            }
        });
        Ok(values)
    }
}
