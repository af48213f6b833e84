//! [`MemStream`]: one stream in the head, an open buffer plus sealed chunks.

use std::collections::HashMap;

use pitot_core::{Label, Labels};
use pitot_storage_api::LogRejectReason;

use crate::chunk::{self, Columns, SealedChunk};

/// What appending one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The entry was stored.
    Stored,
    /// An identical entry (same timestamp and line) is already buffered; counted as
    /// accepted, stored once.
    Duplicate,
}

/// One stream's recent entries: an uncompressed open buffer that fills up to the chunk
/// target, then is sorted and sealed into a compressed chunk.
#[derive(Debug)]
pub struct MemStream {
    /// The stream identity.
    pub labels: Labels,
    /// Entries not sealed yet, in arrival order.
    pub open: Columns,
    open_sorted: bool,
    /// Once the open buffer is out of order: entries by timestamp, so duplicate checks
    /// stay O(1) instead of scanning the buffer.
    open_index: Option<TsIndex>,
    open_min: i64,
    open_max: i64,
    /// Compressed chunks waiting to be flushed, in seal order.
    pub sealed: Vec<SealedChunk>,
    /// Newest entry ever accepted (`i64::MIN` before the first).
    pub max_ts: i64,
    /// Every entry at or before this time is in a block; older entries are refused.
    pub flushed_through: i64,
    /// Sequence number of the last WAL record that touched this stream.
    pub last_seq: u64,
    /// During replay: records up to this sequence are already in the checkpoint.
    pub checkpoint_seq: u64,
    /// Bumped whenever the open buffer is taken whole, so a [`SealJob`] started before
    /// knows its entries are gone.
    open_generation: u64,
    /// Whether a [`SealJob`] of this stream is compressing outside the head lock.
    sealing: bool,
}

/// The first entries of a stream's open buffer, copied out to be compressed without the
/// head lock (a chunk takes milliseconds to encode, during which every push of the
/// tenant would wait); [`MemStream::finish_seal`] then swaps them for the chunk.
#[derive(Debug)]
pub struct SealJob {
    generation: u64,
    /// How many entries (from the front of the open buffer, in arrival order) it holds.
    entries: usize,
    columns: Columns,
}

impl SealJob {
    /// Sorts and compresses the entries (the slow part; call without the lock).
    pub fn run(self, zstd_level: i32) -> SealedJob {
        let columns = if self.columns.is_sorted() {
            self.columns
        } else {
            self.columns.sorted()
        };
        SealedJob {
            generation: self.generation,
            entries: self.entries,
            chunk: chunk::encode(&columns, zstd_level),
        }
    }
}

/// A compressed [`SealJob`], ready to replace its entries.
#[derive(Debug)]
pub struct SealedJob {
    generation: u64,
    entries: usize,
    chunk: SealedChunk,
}

impl MemStream {
    /// An empty stream whose entries up to `flushed_through` are already in blocks.
    pub fn new(labels: Labels, flushed_through: i64) -> Self {
        MemStream {
            labels,
            open: Columns::default(),
            open_sorted: true,
            open_index: None,
            open_min: i64::MAX,
            open_max: i64::MIN,
            sealed: Vec::new(),
            max_ts: flushed_through,
            flushed_through,
            last_seq: 0,
            checkpoint_seq: 0,
            open_generation: 0,
            sealing: false,
        }
    }

    /// Copies the open buffer into a [`SealJob`] once it holds `target` bytes, unless a
    /// job is already running. The entries stay in the open buffer, visible to queries
    /// and checkpoints, until [`MemStream::finish_seal`].
    pub fn seal_job(&mut self, target: usize) -> Option<SealJob> {
        if self.sealing || self.open.lines.len() < target {
            return None;
        }
        self.sealing = true;
        Some(SealJob {
            generation: self.open_generation,
            entries: self.open.len(),
            columns: self.open.clone(),
        })
    }

    /// Replaces a job's entries by its chunk, unless the open buffer was sealed whole in
    /// the meantime (a flush), which makes the job moot.
    pub fn finish_seal(&mut self, job: SealedJob) {
        if job.generation != self.open_generation {
            return;
        }
        self.sealing = false;
        let k = job.entries;
        let rest = self.open.len() - k;
        let cut = if k == 0 { 0 } else { self.open.ends[k - 1] };
        let mut open = Columns {
            ts: self.open.ts.split_off(k),
            ends: self.open.ends[k..].iter().map(|e| e - cut).collect(),
            lines: self.open.lines.split_off(cut as usize),
            metadata: self
                .open
                .metadata
                .iter()
                .filter(|(i, _)| *i as usize >= k)
                .map(|(i, m)| (*i - k as u32, m.clone()))
                .collect(),
        };
        open.ts.shrink_to(rest);
        self.open = open;
        self.open_sorted = self.open.is_sorted();
        self.open_index = (!self.open_sorted).then(|| TsIndex::build(&self.open.ts));
        self.open_min = self.open.ts.iter().copied().min().unwrap_or(i64::MAX);
        self.open_max = self.open.ts.iter().copied().max().unwrap_or(i64::MIN);
        self.sealed.push(job.chunk);
    }

    /// Stores an entry unless it is too old: older than the newest entry minus
    /// `window`, or at or before what was flushed to blocks. Seals the open buffer
    /// once it holds `target` bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        ts: i64,
        line: &str,
        metadata: &[Label],
        window: i64,
        target: usize,
        zstd_level: i32,
    ) -> Result<Appended, LogRejectReason> {
        if ts <= self.flushed_through || ts < self.max_ts.saturating_sub(window) {
            return Err(LogRejectReason::TooFarBehind);
        }
        if ts <= self.open_max && self.is_buffered(ts, line.as_bytes()) {
            return Ok(Appended::Duplicate);
        }
        if ts < self.open_max && self.open_sorted {
            self.open_sorted = false;
            self.open_index = Some(TsIndex::build(&self.open.ts));
        }
        if let Some(index) = &mut self.open_index {
            index.push(ts, self.open.len() as u32);
        }
        self.open.push(ts, line.as_bytes(), metadata.to_vec());
        self.open_min = self.open_min.min(ts);
        self.open_max = self.open_max.max(ts);
        self.max_ts = self.max_ts.max(ts);
        if self.open.lines.len() >= target {
            self.seal(zstd_level);
        }
        Ok(Appended::Stored)
    }

    /// Whether the open buffer holds an entry with this timestamp and line.
    fn is_buffered(&self, ts: i64, line: &[u8]) -> bool {
        let open = &self.open;
        if self.open_sorted {
            // Equal timestamps sit together at the position a binary search finds.
            let first = open.ts.partition_point(|&t| t < ts);
            return (first..open.len())
                .take_while(|&i| open.ts[i] == ts)
                .any(|i| open.line(i) == line);
        }
        match &self.open_index {
            Some(index) => index.same_ts(ts).any(|i| open.line(i) == line),
            None => open
                .ts
                .iter()
                .enumerate()
                .any(|(i, &t)| t == ts && open.line(i) == line),
        }
    }

    /// Compresses the open buffer into a sealed chunk (no-op when empty).
    pub fn seal(&mut self, zstd_level: i32) {
        if self.open.is_empty() {
            return;
        }
        let columns = std::mem::take(&mut self.open);
        let columns = if self.open_sorted {
            columns
        } else {
            columns.sorted()
        };
        self.sealed.push(chunk::encode(&columns, zstd_level));
        self.open_generation += 1;
        self.sealing = false;
        self.open_sorted = true;
        self.open_index = None;
        self.open_min = i64::MAX;
        self.open_max = i64::MIN;
    }

    /// Adds a chunk restored from a checkpoint.
    pub fn push_sealed(&mut self, chunk: SealedChunk) {
        self.max_ts = self.max_ts.max(chunk.meta.max_ts);
        self.sealed.push(chunk);
    }

    /// Oldest and newest buffered (unsealed) timestamps.
    pub fn open_range(&self) -> Option<(i64, i64)> {
        (!self.open.is_empty()).then_some((self.open_min, self.open_max))
    }

    /// Bytes held: raw open lines plus compressed sealed chunks.
    pub fn memory_bytes(&self) -> usize {
        self.open.lines.len()
            + self.open.ts.len() * 12
            + self
                .sealed
                .iter()
                .map(|c| c.bytes.len() + c.filter.len())
                .sum::<usize>()
    }

    /// A sorted copy of the open entries in `[start, end)` that contain every literal.
    pub fn open_snapshot(&self, start: i64, end: i64, literals: &[String]) -> Columns {
        let mut out = Columns::default();
        for i in 0..self.open.len() {
            let ts = self.open.ts[i];
            if ts < start || ts >= end {
                continue;
            }
            let line = self.open.line(i);
            if !literals
                .iter()
                .all(|l| memchr::memmem::find(line, l.as_bytes()).is_some())
            {
                continue;
            }
            out.push(ts, line, self.open.metadata_of(i).to_vec());
        }
        if self.open_sorted {
            out
        } else {
            out.sorted()
        }
    }
}

/// Entries of an out-of-order open buffer by timestamp: the newest entry per timestamp,
/// and per entry the previous one with the same timestamp.
#[derive(Debug, Default)]
struct TsIndex {
    newest: HashMap<i64, u32>,
    previous: Vec<u32>,
}

impl TsIndex {
    const NONE: u32 = u32::MAX;

    fn build(ts: &[i64]) -> TsIndex {
        let mut index = TsIndex::default();
        for (i, &t) in ts.iter().enumerate() {
            index.push(t, i as u32);
        }
        index
    }

    fn push(&mut self, ts: i64, i: u32) {
        let previous = self.newest.insert(ts, i).unwrap_or(Self::NONE);
        self.previous.push(previous);
    }

    /// Indexes of the entries with timestamp `ts`, newest first.
    fn same_ts(&self, ts: i64) -> impl Iterator<Item = usize> + '_ {
        let first = self.newest.get(&ts).copied().unwrap_or(Self::NONE);
        std::iter::successors((first != Self::NONE).then_some(first), |&i| {
            let p = self.previous[i as usize];
            (p != Self::NONE).then_some(p)
        })
        .map(|i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_with(entries: &[(i64, &str)]) -> MemStream {
        let mut s = MemStream::new(Labels::default(), i64::MIN);
        for &(ts, line) in entries {
            s.append(ts, line, &[], i64::MAX, usize::MAX, 1).unwrap();
        }
        s
    }

    #[test]
    fn a_seal_job_replaces_only_its_entries() {
        let mut s = stream_with(&[(3, "c"), (1, "a"), (2, "b")]);
        let job = s.seal_job(1).expect("buffer is full");
        assert!(s.seal_job(1).is_none(), "one job at a time");
        s.append(5, "e", &[], i64::MAX, usize::MAX, 1).unwrap();
        s.append(4, "d", &[Label::new("k", "v")], i64::MAX, usize::MAX, 1)
            .unwrap();
        s.finish_seal(job.run(1));
        assert_eq!(s.sealed.len(), 1);
        let chunk = chunk::decode(&s.sealed[0].bytes).unwrap();
        assert_eq!(chunk.ts, vec![1, 2, 3]);
        assert_eq!(s.open.ts, vec![5, 4]);
        assert_eq!(s.open.line(1), b"d");
        assert_eq!(s.open.metadata_of(1), &[Label::new("k", "v")]);
        assert_eq!(s.open_range(), Some((4, 5)));
        assert!(s.is_buffered(4, b"d"));
        assert!(s.seal_job(1).is_some(), "sealing is possible again");
    }

    #[test]
    fn a_job_overtaken_by_a_whole_seal_is_dropped() {
        let mut s = stream_with(&[(1, "a"), (2, "b")]);
        let job = s.seal_job(1).unwrap();
        s.seal(1);
        s.append(3, "c", &[], i64::MAX, usize::MAX, 1).unwrap();
        s.finish_seal(job.run(1));
        assert_eq!(s.sealed.len(), 1);
        assert_eq!(s.open.ts, vec![3]);
    }
}
