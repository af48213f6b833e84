//! Immutable blocks: a tenant's samples of one time range, written once to the object
//! store as three objects under `<tenant>/<block id>/`: `chunks`, `index`, and
//! `meta.json`. `meta.json` is written last, so a block without it is an interrupted
//! write and is ignored (and removed) on load.

pub mod format;
mod querier;

use std::sync::Arc;

use bytes::Bytes;
use object_store::{path::Path, ObjectStore, PutPayload};
use pitot_chunkenc::encode_chunk;
use pitot_core::{Labels, Sample, TenantId};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

pub use format::{BlockIndex, BlockSeries, ChunkMeta};
pub use querier::BlockQuerier;

use crate::postings::LabelIndex;
use crate::TsdbError;

/// Format version of blocks written now: 2 stores tagged chunks (decimal or XOR, see
/// `pitot_chunkenc::encode_chunk`); version 1 stored bare XOR chunks and is still read.
pub const FORMAT_VERSION: u32 = 2;

/// Samples per block chunk: two hours of a 15-second series fit one chunk, so its header
/// and packing groups are paid once, while a long-range query still skips chunks.
pub const BLOCK_CHUNK_SAMPLES: usize = 512;

/// The small description of a block, stored as `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ID (a ULID: sortable by creation time).
    pub ulid: String,
    /// Oldest timestamp the block covers (inclusive, ms).
    pub min_time: i64,
    /// End of the covered range (exclusive, ms).
    pub max_time: i64,
    /// Counts, for operators and the bytes-per-sample figure.
    pub stats: BlockStats,
    /// Format version of the block.
    pub version: u32,
}

/// Counts of what a block holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Series.
    pub num_series: u64,
    /// Samples.
    pub num_samples: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Bytes of the `chunks` object.
    pub chunk_bytes: u64,
    /// Bytes of the `index` object.
    pub index_bytes: u64,
}

/// An open block: its meta and index in memory, chunks read on demand.
pub struct Block {
    /// The block's description.
    pub meta: BlockMeta,
    index: BlockIndex,
    all: RoaringBitmap,
    store: Arc<dyn ObjectStore>,
    chunks_path: Path,
    dir: Path,
}

fn block_dir(tenant: &TenantId, ulid: &str) -> Path {
    Path::from(format!("{}/{}", tenant.as_str(), ulid))
}

/// Builds a block one series at a time (in label order), encoding each series into
/// chunks as it is added, so that cutting a head holds only compressed bytes, never a
/// copy of every raw sample of the range.
#[derive(Default)]
pub struct BlockBuilder {
    chunks: Vec<u8>,
    series: Vec<BlockSeries>,
    /// Label strings of the series added so far, interned (a cut adds every series of
    /// the head, and a label set per series was most of the builder's memory).
    symbols: Vec<Box<str>>,
    symbol_ids: std::collections::HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    stats: BlockStats,
}

impl BlockBuilder {
    /// An empty block.
    pub fn new() -> Self {
        BlockBuilder::default()
    }

    /// Adds a series (after every series added before it in label order) with its
    /// samples, ascending; a series without samples is skipped.
    pub fn add(&mut self, labels: &Labels, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        let mut pairs = Vec::with_capacity(labels.len() * 2);
        for label in labels {
            pairs.push(self.intern(&label.name));
            pairs.push(self.intern(&label.value));
        }
        let mut metas = Vec::with_capacity(samples.len().div_ceil(BLOCK_CHUNK_SAMPLES));
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for part in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            ts.clear();
            vs.clear();
            ts.extend(part.iter().map(|s| s.t));
            vs.extend(part.iter().map(|s| s.v));
            let bytes = encode_chunk(&ts, &vs);
            metas.push(ChunkMeta {
                min_t: part[0].t,
                max_t: part[part.len() - 1].t,
                offset: self.chunks.len() as u64,
                len: bytes.len() as u32,
            });
            self.chunks.extend_from_slice(&bytes);
        }
        self.stats.num_series += 1;
        self.stats.num_samples += samples.len() as u64;
        self.stats.num_chunks += metas.len() as u64;
        self.series.push(BlockSeries {
            labels: pairs.into_boxed_slice(),
            chunks: metas.into_boxed_slice(),
        });
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.symbol_ids.get(s) {
            return id;
        }
        let id = self.symbols.len() as u32;
        self.symbols.push(s.into());
        self.symbol_ids.insert(s.into(), id);
        id
    }

    /// Whether no series was added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Writes the block covering `[min_time, max_time)` and opens it.
    pub async fn write(
        self,
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        min_time: i64,
        max_time: i64,
    ) -> Result<Block, TsdbError> {
        Block::write_built(store, tenant, min_time, max_time, self).await
    }
}

impl Block {
    /// Writes a block of `series` (sorted by labels, samples ascending) covering
    /// `[min_time, max_time)` and opens it.
    pub async fn write(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        min_time: i64,
        max_time: i64,
        series: Vec<(Labels, Vec<Sample>)>,
    ) -> Result<Block, TsdbError> {
        let mut builder = BlockBuilder::new();
        for (labels, samples) in series {
            builder.add(&labels, &samples);
        }
        builder.write(store, tenant, min_time, max_time).await
    }

    async fn write_built(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        min_time: i64,
        max_time: i64,
        built: BlockBuilder,
    ) -> Result<Block, TsdbError> {
        let ulid = ulid::Ulid::new().to_string();
        let dir = block_dir(tenant, &ulid);
        let BlockBuilder {
            chunks,
            series,
            symbols,
            symbol_ids,
            mut stats,
        } = built;
        drop(symbol_ids);
        let index_bytes = Bytes::from(format::encode_index(&symbols, &series));
        drop((series, symbols));
        stats.chunk_bytes = chunks.len() as u64;
        stats.index_bytes = index_bytes.len() as u64;
        let meta = BlockMeta {
            ulid,
            min_time,
            max_time,
            stats,
            version: FORMAT_VERSION,
        };
        let chunks_path = dir.child("chunks");
        store.put(&chunks_path, PutPayload::from(chunks)).await?;
        store
            .put(&dir.child("index"), PutPayload::from(index_bytes.clone()))
            .await?;
        let meta_json = serde_json::to_vec_pretty(&meta).expect("block meta serializes");
        store
            .put(&dir.child("meta.json"), PutPayload::from(meta_json))
            .await?;
        // Keep the series just written and build postings from them, as loading the
        // index would, instead of reading the block back.
        // The open block holds the index as a reader would load it.
        let index = format::decode_index(&index_bytes)
            .map_err(|e| TsdbError::Corrupt(format!("block {dir} just written: {e}")))?;
        Ok(Block::from_parts(meta, index, store, dir))
    }

    /// Opens the block `ulid` of `tenant`. Returns `Ok(None)` if it has no `meta.json`
    /// (an interrupted write).
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        ulid: &str,
    ) -> Result<Option<Block>, TsdbError> {
        let dir = block_dir(tenant, ulid);
        let meta_bytes = match store.get(&dir.child("meta.json")).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| TsdbError::Corrupt(format!("block {dir} meta.json: {e}")))?;
        if meta.version == 0 || meta.version > FORMAT_VERSION {
            return Err(TsdbError::Corrupt(format!(
                "block {dir} has format version {}; this build reads 1 to {FORMAT_VERSION} (upgrade Pitot to read it)",
                meta.version
            )));
        }
        let index_bytes = store.get(&dir.child("index")).await?.bytes().await?;
        let index = format::decode_index(&index_bytes)
            .map_err(|e| TsdbError::Corrupt(format!("block {dir}: {e}")))?;
        Ok(Some(Block::from_parts(meta, index, store, dir)))
    }

    fn from_parts(
        meta: BlockMeta,
        index: BlockIndex,
        store: Arc<dyn ObjectStore>,
        dir: Path,
    ) -> Block {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..index.series.len() as u32);
        Block {
            meta,
            index,
            all,
            store,
            chunks_path: dir.child("chunks"),
            dir,
        }
    }

    /// Deletes the block's objects (meta first, so a half-deleted block is ignored).
    pub async fn delete(&self) -> Result<(), TsdbError> {
        delete_dir(&*self.store, &self.dir).await
    }

    /// The block's series.
    pub fn series(&self) -> &[BlockSeries] {
        &self.index.series
    }

    /// The label set of series `id` of this block.
    pub fn labels(&self, id: u32) -> Labels {
        self.index.labels(&self.index.series[id as usize])
    }

    /// The label pairs of series `id` of this block.
    pub fn label_pairs(&self, id: u32) -> impl Iterator<Item = (&str, &str)> {
        self.index.pairs(&self.index.series[id as usize])
    }

    /// Reads the chunk bytes of several series at once: one byte range per series.
    pub async fn read_chunks(
        &self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> Result<Vec<Bytes>, TsdbError> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store.get_ranges(&self.chunks_path, &ranges).await?)
    }
}

/// Deletes `meta.json` first, then the other objects of a block directory.
pub async fn delete_dir(store: &dyn ObjectStore, dir: &Path) -> Result<(), TsdbError> {
    pitot_storage_api::block_dirs::delete_block_files(
        store,
        dir,
        &["meta.json", "index", "chunks"],
    )
    .await?;
    Ok(())
}

impl LabelIndex for Block {
    fn all_series(&self) -> RoaringBitmap {
        self.all.clone()
    }

    fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        let values = self.index.postings.get(name)?;
        let i = values
            .binary_search_by(|(v, _)| v.as_str().cmp(value))
            .ok()?;
        Some(&values[i].1)
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, &RoaringBitmap)) {
        if let Some(values) = self.index.postings.get(name) {
            for (value, ids) in values {
                f(value, ids);
            }
        }
    }
}
