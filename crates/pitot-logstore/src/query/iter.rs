//! Iterating one selected stream: a lazy merge of its chunks, decoding one chunk at a
//! time unless chunks overlap in time, and dropping lines that lack a required literal
//! before they are ever turned into `String`s.

use std::sync::Arc;

use bytes::Bytes;
use memchr::memmem;
use pitot_storage_api::{LogEntry, LogEntryIter};

use crate::chunk::{self, ChunkMeta, Columns};

/// Where a stream's entries come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An encoded chunk (from the head or a block), decoded when reached.
    Chunk {
        /// Its header.
        meta: ChunkMeta,
        /// Its bytes.
        bytes: Bytes,
    },
    /// A sorted copy of a head stream's open buffer.
    Open(Arc<Columns>),
}

impl Source {
    fn min_ts(&self) -> i64 {
        match self {
            Source::Chunk { meta, .. } => meta.min_ts,
            Source::Open(c) => c.ts.first().copied().unwrap_or(i64::MAX),
        }
    }
}

/// Everything needed to walk one stream, shared by every walk.
#[derive(Debug)]
pub struct StreamData {
    /// Sources sorted by min ts.
    pub sources: Vec<Source>,
    /// Range start (ns, inclusive).
    pub start: i64,
    /// Range end (ns, exclusive).
    pub end: i64,
    /// Literals every returned line must contain.
    pub literals: Arc<Vec<String>>,
}

impl StreamData {
    /// Sorts sources by min ts, keeping the given order for ties.
    pub fn new(mut sources: Vec<Source>, start: i64, end: i64, literals: Arc<Vec<String>>) -> Self {
        sources.sort_by_key(Source::min_ts);
        StreamData {
            sources,
            start,
            end,
            literals,
        }
    }
}

/// A fresh iterator over a stream's entries, oldest first.
pub fn entries(data: Arc<StreamData>) -> LogEntryIter {
    Box::new(MergeIter {
        data,
        next_source: 0,
        active: Vec::new(),
        prefetched: None,
    })
}

/// Which entries of a decoded chunk to return.
enum Picks {
    /// A contiguous range of entry indexes.
    Range(usize, usize),
    /// Selected entry indexes, ascending.
    List(Vec<u32>),
}

struct Cursor {
    columns: Arc<Columns>,
    picks: Picks,
    pos: usize,
    order: usize,
}

impl Cursor {
    fn open(source: &Source, order: usize, data: &StreamData) -> Option<Cursor> {
        let columns = match source {
            Source::Chunk { bytes, .. } => match chunk::decode(bytes) {
                Ok(c) => Arc::new(c),
                Err(error) => {
                    // select() checked the checksum, so this is a bug or a crafted chunk.
                    tracing::error!(%error, "skipping a log chunk that does not decode");
                    return None;
                }
            },
            Source::Open(c) => Arc::clone(c),
        };
        let lo = columns.ts.partition_point(|&t| t < data.start);
        let hi = columns.ts.partition_point(|&t| t < data.end);
        let picks = if data.literals.is_empty() {
            Picks::Range(lo, hi)
        } else {
            Picks::List(matching(&columns, lo, hi, &data.literals))
        };
        let cursor = Cursor {
            columns,
            picks,
            pos: 0,
            order,
        };
        (!cursor.done()).then_some(cursor)
    }

    fn index(&self) -> usize {
        match &self.picks {
            Picks::Range(lo, _) => lo + self.pos,
            Picks::List(list) => list[self.pos] as usize,
        }
    }

    fn done(&self) -> bool {
        match &self.picks {
            Picks::Range(lo, hi) => lo + self.pos >= *hi,
            Picks::List(list) => self.pos >= list.len(),
        }
    }

    fn ts(&self) -> i64 {
        self.columns.ts[self.index()]
    }

    fn take(&mut self) -> LogEntry {
        let i = self.index();
        self.pos += 1;
        let c = &self.columns;
        let line = c.line(i).to_vec();
        LogEntry {
            ts: c.ts[i],
            line: String::from_utf8(line)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            metadata: c.metadata_of(i).to_vec(),
        }
    }
}

/// Indexes in `lo..hi` of lines containing every literal. Scans the line column with
/// the longest literal in one pass, then checks the others line by line.
fn matching(columns: &Columns, lo: usize, hi: usize, literals: &[String]) -> Vec<u32> {
    let first = literals
        .iter()
        .max_by_key(|l| l.len())
        .map(String::as_bytes)
        .unwrap_or_default();
    if first.is_empty() || lo >= hi {
        return (lo as u32..hi as u32).collect();
    }
    let finder = memmem::Finder::new(first);
    let mut out = Vec::new();
    let stop = columns.ends[hi - 1] as usize;
    let mut pos = if lo == 0 {
        0
    } else {
        columns.ends[lo - 1] as usize
    };
    let mut i = lo;
    while i < hi {
        let Some(found) = finder.find(&columns.lines[pos..stop]) else {
            break;
        };
        let at = pos + found;
        // The line holding byte `at`; `at < stop`, so it is below `hi`.
        while (columns.ends[i] as usize) <= at {
            i += 1;
        }
        let end = columns.ends[i] as usize;
        if at + first.len() <= end {
            let line = columns.line(i);
            if literals
                .iter()
                .all(|l| memmem::find(line, l.as_bytes()).is_some())
            {
                out.push(i as u32);
            }
            i += 1;
            pos = end;
        } else {
            // The match spans two lines; look again from the next byte.
            pos = at + 1;
        }
    }
    out
}

struct MergeIter {
    data: Arc<StreamData>,
    next_source: usize,
    active: Vec<Cursor>,
    /// The cursor of source `.0`, decoded alongside the previous one.
    prefetched: Option<(usize, Option<Cursor>)>,
}

impl MergeIter {
    /// Opens source `i`. When `i` and `i + 1` are both encoded chunks, decodes them in
    /// parallel on two threads and keeps the second: zstd decoding bounds a scan, and
    /// this uses two cores while holding at most two decoded chunks per stream.
    fn open(&mut self, i: usize) -> Option<Cursor> {
        if let Some((j, cursor)) = self.prefetched.take() {
            if j == i {
                return cursor;
            }
        }
        let data = &*self.data;
        let current = &data.sources[i];
        let next = data.sources.get(i + 1);
        match (current, next) {
            (Source::Chunk { .. }, Some(next @ Source::Chunk { .. })) => {
                let (cursor, following) = std::thread::scope(|scope| {
                    let following = scope.spawn(|| Cursor::open(next, i + 1, data));
                    let cursor = Cursor::open(current, i, data);
                    (cursor, following.join().ok().flatten())
                });
                self.prefetched = Some((i + 1, following));
                cursor
            }
            _ => Cursor::open(current, i, data),
        }
    }
}

impl Iterator for MergeIter {
    type Item = LogEntry;

    fn next(&mut self) -> Option<LogEntry> {
        loop {
            let mut current = self.active.iter().map(Cursor::ts).min();
            while let Some(source) = self.data.sources.get(self.next_source) {
                if current.is_some_and(|t| source.min_ts() > t) {
                    break;
                }
                if let Some(cursor) = self.open(self.next_source) {
                    let ts = cursor.ts();
                    current = Some(current.map_or(ts, |t| t.min(ts)));
                    self.active.push(cursor);
                }
                self.next_source += 1;
            }
            if self.active.is_empty() {
                if self.next_source >= self.data.sources.len() {
                    return None;
                }
                continue;
            }
            let (k, _) = self
                .active
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| (c.ts(), c.order))?;
            let entry = self.active[k].take();
            if self.active[k].done() {
                self.active.swap_remove(k);
            }
            return Some(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(lines: &[&str]) -> Columns {
        let mut c = Columns::default();
        for (i, l) in lines.iter().enumerate() {
            c.push(i as i64, l.as_bytes(), vec![]);
        }
        c
    }

    #[test]
    fn matching_finds_lines_not_spans_across_lines() {
        let c = cols(&["abc", "def", "xab", "cab", "", "abcabc"]);
        let lits = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(matching(&c, 0, c.len(), &lits(&["abc"])), [0, 5]);
        assert_eq!(matching(&c, 0, c.len(), &lits(&["ab"])), [0, 2, 3, 5]);
        assert_eq!(matching(&c, 1, 5, &lits(&["ab"])), [2, 3]);
        assert_eq!(matching(&c, 0, c.len(), &lits(&["cd"])), Vec::<u32>::new());
        assert_eq!(matching(&c, 0, c.len(), &lits(&["ab", "ca"])), [3, 5]);
        assert_eq!(matching(&c, 0, c.len(), &lits(&[""])), [0, 1, 2, 3, 4, 5]);
    }
}
