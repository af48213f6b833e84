//! Blocks: immutable sets of a tenant's flushed chunks in the object store.
//!
//! A block is four objects under `logs/<tenant>/<ulid>/`: `chunks` (encoded chunks back
//! to back), `filters` (their line filters back to back), `index` (streams, chunk
//! locations and time ranges, see [`index`]) and `meta.json`, written last: a block
//! without `meta.json` is an interrupted write and is removed at open. Only the index is
//! kept in memory; filters and chunks are fetched by range when a query needs them, so
//! memory does not grow with retention beyond one small record per chunk.

pub mod index;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::{path::Path, ObjectStore, PutPayload};
use pitot_core::{Labels, Matcher, TenantId};
use serde::{Deserialize, Serialize};

use crate::chunk::{self, SealedChunk};
use crate::filter::LineFilter;
use crate::postings::Postings;
use crate::LogStoreError;
pub use index::{decode_index, encode_index, BlockIndex, BlockStream, ChunkRef, IndexError};

/// Object-store prefix of every log block (the metrics TSDB owns the root).
pub const LOGS_PREFIX: &str = "logs";

/// Sizes of a block, for logs and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Streams.
    pub streams: u64,
    /// Chunks.
    pub chunks: u64,
    /// Entries.
    pub entries: u64,
    /// Raw line bytes.
    pub raw_bytes: u64,
    /// Bytes of the `chunks` object.
    pub chunk_bytes: u64,
    /// Bytes of the `filters` object.
    pub filter_bytes: u64,
    /// Bytes of the `index` object.
    pub index_bytes: u64,
}

/// `meta.json`: what a block is, readable without the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version (1).
    pub version: u32,
    /// The block's ULID (its directory name).
    pub ulid: String,
    /// Owning tenant.
    pub tenant: String,
    /// Oldest entry (ns).
    pub min_time: i64,
    /// Newest entry (ns).
    pub max_time: i64,
    /// Sizes.
    pub stats: BlockStats,
}

/// A loaded block.
pub struct Block {
    /// Its `meta.json`.
    pub meta: BlockMeta,
    index: BlockIndex,
    postings: Postings,
    dir: Path,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The directory of a tenant's blocks.
pub fn tenant_dir(tenant: &TenantId) -> Path {
    Path::from(LOGS_PREFIX).child(tenant.as_str())
}

impl Block {
    /// Writes `streams` (sorted by labels, each with chunks sorted by min ts) as a new
    /// block of `tenant`. Returns once `meta.json` is stored.
    pub async fn write(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        streams: Vec<(Labels, Vec<SealedChunk>)>,
    ) -> Result<Block, LogStoreError> {
        let ulid = ulid::Ulid::new().to_string();
        let dir = tenant_dir(tenant).child(ulid.as_str());
        let mut chunks = Vec::new();
        let mut filters = Vec::new();
        let mut index = BlockIndex::default();
        let mut stats = BlockStats::default();
        let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
        for (labels, sealed) in streams {
            let mut refs = Vec::with_capacity(sealed.len());
            for c in sealed {
                refs.push(ChunkRef {
                    offset: chunks.len() as u64,
                    len: c.bytes.len() as u64,
                    meta: c.meta,
                    filter_offset: filters.len() as u64,
                    filter_len: c.filter.len() as u64,
                });
                chunks.extend_from_slice(&c.bytes);
                filters.extend_from_slice(&c.filter);
                stats.chunks += 1;
                stats.entries += u64::from(c.meta.entries);
                stats.raw_bytes += u64::from(c.meta.raw_bytes);
                min_time = min_time.min(c.meta.min_ts);
                max_time = max_time.max(c.meta.max_ts);
            }
            stats.streams += 1;
            index.streams.push(BlockStream {
                labels,
                chunks: refs,
            });
        }
        let index_bytes = encode_index(&index);
        stats.chunk_bytes = chunks.len() as u64;
        stats.filter_bytes = filters.len() as u64;
        stats.index_bytes = index_bytes.len() as u64;
        let meta = BlockMeta {
            version: 1,
            ulid,
            tenant: tenant.as_str().to_string(),
            min_time,
            max_time,
            stats,
        };
        let meta_json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| LogStoreError::Corrupt(format!("encoding meta.json: {e}")))?;
        store
            .put(&dir.child("chunks"), PutPayload::from(chunks))
            .await?;
        store
            .put(&dir.child("filters"), PutPayload::from(filters))
            .await?;
        store
            .put(&dir.child("index"), PutPayload::from(index_bytes))
            .await?;
        store
            .put(&dir.child("meta.json"), PutPayload::from(meta_json))
            .await?;
        Ok(Block::from_parts(meta, index, dir, store))
    }

    fn from_parts(
        meta: BlockMeta,
        index: BlockIndex,
        dir: Path,
        store: Arc<dyn ObjectStore>,
    ) -> Block {
        let mut postings = Postings::default();
        for (i, s) in index.streams.iter().enumerate() {
            postings.add(i as u32, &s.labels);
        }
        Block {
            meta,
            index,
            postings,
            dir,
            store,
        }
    }

    /// Loads the block `ulid` of `tenant`; `None` when it has no `meta.json` (an
    /// interrupted write).
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        ulid: &str,
    ) -> Result<Option<Block>, LogStoreError> {
        let dir = tenant_dir(tenant).child(ulid);
        let meta_bytes = match store.get(&dir.child("meta.json")).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| LogStoreError::Corrupt(format!("{dir}/meta.json: {e}")))?;
        let index_bytes = store.get(&dir.child("index")).await?.bytes().await?;
        let index = decode_index(&index_bytes)
            .map_err(|e| LogStoreError::Corrupt(format!("{dir}/index: {e}")))?;
        Ok(Some(Block::from_parts(meta, index, dir, store)))
    }

    /// Deletes the block's objects, `meta.json` first so a partial delete looks like an
    /// interrupted write.
    pub async fn delete(&self) -> Result<(), LogStoreError> {
        delete_dir(&*self.store, &self.dir).await
    }

    /// The block's streams.
    pub fn streams(&self) -> &[BlockStream] {
        &self.index.streams
    }

    /// Indexes (into [`Block::streams`]) of streams matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<usize> {
        self.postings
            .select(matchers)
            .iter()
            .map(|i| i as usize)
            .collect()
    }

    /// Whether the block has entries in `[start, end)`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.meta.max_time >= start && self.meta.min_time < end
    }

    /// Keeps the chunks whose filter may match every literal. Fetches only the filters
    /// of `chunks`, in one coalesced request.
    pub async fn filter_chunks(
        &self,
        chunks: Vec<(usize, ChunkRef)>,
        literals: &[String],
    ) -> Result<Vec<(usize, ChunkRef)>, LogStoreError> {
        let checkable: Vec<&String> = literals
            .iter()
            .filter(|l| l.len() >= crate::filter::MIN_NEEDLE)
            .collect();
        if checkable.is_empty() || chunks.is_empty() {
            return Ok(chunks);
        }
        let ranges: Vec<Range<u64>> = chunks
            .iter()
            .map(|(_, c)| c.filter_offset..c.filter_offset + c.filter_len)
            .collect();
        let filters = self
            .store
            .get_ranges(&self.dir.child("filters"), &ranges)
            .await?;
        let mut kept = Vec::with_capacity(chunks.len());
        for (chunk, bytes) in chunks.into_iter().zip(filters) {
            let filter = LineFilter::parse(&bytes)
                .map_err(|_| LogStoreError::Corrupt(format!("{}/filters: bad filter", self.dir)))?;
            if checkable.iter().all(|l| filter.may_contain(l.as_bytes())) {
                kept.push(chunk);
            }
        }
        Ok(kept)
    }

    /// Fetches the encoded chunks (one coalesced request) and checks their checksums.
    pub async fn fetch_chunks(&self, chunks: &[ChunkRef]) -> Result<Vec<Bytes>, LogStoreError> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let ranges: Vec<Range<u64>> = chunks.iter().map(|c| c.offset..c.offset + c.len).collect();
        let fetched = self
            .store
            .get_ranges(&self.dir.child("chunks"), &ranges)
            .await?;
        for (bytes, c) in fetched.iter().zip(chunks) {
            let meta = chunk::read_meta(bytes)
                .map_err(|e| LogStoreError::Corrupt(format!("{}/chunks: {e}", self.dir)))?;
            if meta != c.meta {
                return Err(LogStoreError::Corrupt(format!(
                    "{}/chunks: chunk at {} disagrees with the index",
                    self.dir, c.offset
                )));
            }
        }
        Ok(fetched)
    }
}

/// Removes a block directory's objects (missing ones are fine).
pub async fn delete_dir(store: &dyn ObjectStore, dir: &Path) -> Result<(), LogStoreError> {
    pitot_storage_api::block_dirs::delete_block_files(
        store,
        dir,
        &["meta.json", "index", "filters", "chunks"],
    )
    .await?;
    Ok(())
}
