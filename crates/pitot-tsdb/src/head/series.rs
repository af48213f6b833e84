//! One series in the head: sealed chunks, the open chunk, and an out-of-order buffer.

use std::sync::Arc;

use bytes::Bytes;

use pitot_chunkenc::{decode_chunk_into, encode_chunk, tag_xor, XorAppender};
use pitot_core::Sample;
use pitot_storage_api::{merge_iters, RejectReason, SampleIter};

/// Samples per chunk before it is sealed (as Prometheus: about two hours of 1-minute
/// scrapes, and small enough that a query decodes little it does not need).
pub const SAMPLES_PER_CHUNK: usize = 120;
// A series' first chunk length is kept in a byte.
const _: () = assert!(SAMPLES_PER_CHUNK <= u8::MAX as usize);

/// A sealed, immutable chunk shared with running queries, re-encoded in the compact
/// tagged form (decimal where the values allow): the head holds two hours of every
/// series, and sealed chunks are most of it.
#[derive(Clone)]
struct SealedChunk {
    min_t: i64,
    max_t: i64,
    bytes: Bytes,
}

/// What a series takes below the end of the newest block cut from its head
/// (`min_valid_t`): a client's batch that was on its way during a cut or a flush, in
/// order for each series but older than the newest sample of another, must not be
/// refused. Only a sample newer than anything its series held qualifies (an older
/// timestamp of the series may already be in a block, where the head cannot see a
/// conflict), and only within `window` of the cut. Such a sample stays in the head and
/// is cut into a block of its own range, beside (overlapping) the one already there;
/// reads merge the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Late {
    /// How far below the cut a sample may be (the out-of-order window).
    pub window: i64,
    /// Whether a series the head does not know may take one: live, no (its block may
    /// hold the timestamp); in WAL replay, yes (the live head took it).
    pub new_series: bool,
}

impl Late {
    /// Nothing below the cut.
    pub const NONE: Late = Late {
        window: 0,
        new_series: false,
    };

    /// Whether a sample at `t`, below `min_valid_t`, may come to a series whose newest
    /// timestamp ever is `series_newest_t`.
    fn admits(self, t: i64, min_valid_t: i64, series_newest_t: i64) -> bool {
        let known = series_newest_t != i64::MIN;
        t >= min_valid_t.saturating_sub(self.window.max(0))
            && t > series_newest_t
            && (known || self.new_series)
    }
}

/// A series kept in memory. In-order samples go to compressed chunks; samples older than
/// the newest one (within the out-of-order window) go to a small sorted buffer, merged
/// on read with in-order data winning ties.
pub struct MemSeries {
    /// The series identity: interned `[name, value, ...]` symbol IDs of its head
    /// (`TenantHead::series_labels` spells them out).
    pub labels: Box<[u32]>,
    sealed: Vec<SealedChunk>,
    open: XorAppender,
    ooo: Vec<Sample>,
    max_t: i64,
    /// The newest in-order timestamp of samples drained into blocks since the series
    /// was last emptied by a cut (`i64::MIN` if none): what a late sample must be newer
    /// than (see [`Late`]).
    drained_max_t: i64,
    last_v: u64,
    /// Samples the first open chunk takes before it is sealed (later ones take
    /// [`SAMPLES_PER_CHUNK`]); see [`MemSeries::staggered`].
    first_chunk: u8,
}

/// What an accepted append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The sample was stored.
    Stored,
    /// An identical sample was already stored; nothing changed (as Prometheus does).
    Duplicate,
}

impl MemSeries {
    /// An empty series.
    pub fn new(labels: Box<[u32]>) -> Self {
        MemSeries {
            labels,
            sealed: Vec::new(),
            open: XorAppender::new(),
            ooo: Vec::new(),
            max_t: i64::MIN,
            drained_max_t: i64::MIN,
            last_v: 0,
            first_chunk: SAMPLES_PER_CHUNK as u8,
        }
    }

    /// Reads the first label ID and the open chunk's last byte, so they are in cache
    /// for the verification and append that follow (see [`super::TenantHead::lookup_many`]);
    /// the value means nothing.
    pub fn touch(&self) -> u64 {
        let label = self.labels.first().copied().unwrap_or(0);
        let tail = self.open.bytes().last().copied().unwrap_or(0);
        u64::from(label) ^ u64::from(tail)
    }

    /// Whether the series holds no samples.
    pub fn is_empty(&self) -> bool {
        self.max_t == i64::MIN && self.ooo.is_empty()
    }

    /// Newest in-order timestamp, `i64::MIN` when empty.
    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    /// Whether a cut emptied the series and the head keeps it only to judge late
    /// samples (see [`Late`]).
    pub fn is_placeholder(&self) -> bool {
        self.is_empty() && self.drained_max_t != i64::MIN
    }

    /// Newest in-order timestamp the series held, in the head or cut from it into a
    /// block; `i64::MIN` for a series that never held one.
    pub fn newest_t(&self) -> i64 {
        self.max_t.max(self.drained_max_t)
    }

    /// Oldest timestamp held, if any.
    pub fn min_t(&self) -> Option<i64> {
        let in_order = self
            .sealed
            .first()
            .map(|c| c.min_t)
            .or_else(|| self.open.min_time());
        match (in_order, self.ooo.first()) {
            (Some(a), Some(b)) => Some(a.min(b.t)),
            (a, b) => a.or(b.map(|s| s.t)),
        }
    }

    /// Appends one sample. `min_valid_t` is the end of the newest block cut from the
    /// head; `late` says what may come below it; `ooo_window` is how far behind the
    /// series' newest sample a sample may be.
    pub fn append(
        &mut self,
        t: i64,
        v: f64,
        min_valid_t: i64,
        late: Late,
        ooo_window: i64,
    ) -> Result<Appended, RejectReason> {
        if t < min_valid_t && !late.admits(t, min_valid_t, self.newest_t()) {
            return Err(RejectReason::TooOld);
        }
        if t > self.max_t {
            self.open.append(t, v);
            self.max_t = t;
            self.last_v = v.to_bits();
            let limit = if self.sealed.is_empty() {
                usize::from(self.first_chunk)
            } else {
                SAMPLES_PER_CHUNK
            };
            if self.open.len() >= limit {
                self.seal_open();
            }
            return Ok(Appended::Stored);
        }
        if t == self.max_t {
            return if v.to_bits() == self.last_v {
                Ok(Appended::Duplicate)
            } else {
                Err(RejectReason::DuplicateTimestamp)
            };
        }
        if self.max_t.saturating_sub(t) > ooo_window {
            return Err(RejectReason::OutOfOrder);
        }
        // A sample the in-order chunks already hold is not out of order but repeated:
        // WAL replay meets every sample appended while a checkpoint was written twice,
        // and a client may resend. Kept in the buffer, it would be held twice and make
        // every read of the series merge sample by sample.
        match self.in_order_value_at(t) {
            Some(bits) if bits == v.to_bits() => return Ok(Appended::Duplicate),
            Some(_) => return Err(RejectReason::DuplicateTimestamp),
            None => {}
        }
        match self.ooo.binary_search_by_key(&t, |s| s.t) {
            Ok(i) if self.ooo[i].v.to_bits() == v.to_bits() => Ok(Appended::Duplicate),
            Ok(_) => Err(RejectReason::DuplicateTimestamp),
            Err(i) => {
                self.ooo.insert(i, Sample::new(t, v));
                Ok(Appended::Stored)
            }
        }
    }

    /// The value bits of the in-order sample at `t`, if there is one (decodes the one
    /// chunk whose range holds `t`).
    fn in_order_value_at(&self, t: i64) -> Option<u64> {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        let decoded = match self.sealed.iter().find(|c| c.min_t <= t && t <= c.max_t) {
            Some(chunk) => decode_chunk_into(&chunk.bytes, &mut ts, &mut vs),
            None if self.open.min_time().is_some_and(|min_t| min_t <= t) => {
                pitot_chunkenc::decode_into(self.open.bytes(), &mut ts, &mut vs)
            }
            None => return None,
        };
        decoded.ok()?;
        let i = ts.binary_search(&t).ok()?;
        Some(vs[i].to_bits())
    }

    fn seal_open(&mut self) {
        let open = std::mem::take(&mut self.open);
        let (Some(min_t), Some(max_t)) = (open.min_time(), open.max_time()) else {
            return;
        };
        let (mut ts, mut vs) = (
            Vec::with_capacity(open.len()),
            Vec::with_capacity(open.len()),
        );
        let bytes = match pitot_chunkenc::decode_into(open.bytes(), &mut ts, &mut vs) {
            Ok(()) => encode_chunk(&ts, &vs),
            // The appender's own bytes always decode; keep them as they are if not.
            Err(_) => tag_xor(open.bytes()),
        };
        self.sealed.push(SealedChunk {
            min_t,
            max_t,
            // Exactly sized: the encoder's buffer is reserved for the worst case.
            bytes: Bytes::from(bytes.into_boxed_slice()),
        });
    }

    /// An empty series whose first chunk is sealed after 1 to [`SAMPLES_PER_CHUNK`]
    /// samples, spread by `id`. Series pushed in step (every scrape sends a sample of
    /// each) otherwise fill their open chunks together and seal them in the same second:
    /// the head's memory then rises and falls by the size of every open chunk at once,
    /// and its peak holds all of them full (100k series: about 40 MB of the ingest
    /// peak). Spread, half of the open chunks' bytes are held at any time.
    pub fn staggered(labels: Box<[u32]>, id: u32) -> Self {
        // A multiplicative hash, so that consecutive IDs land far apart.
        let spread = (id.wrapping_mul(0x9E37_79B1) >> 16) as usize % SAMPLES_PER_CHUNK;
        MemSeries {
            first_chunk: (spread + 1) as u8,
            ..MemSeries::new(labels)
        }
    }

    /// A lock-free view of the samples in `[mint, maxt]` (possibly a few more), for a
    /// query to iterate after the head lock is released.
    pub fn snapshot(&self, mint: i64, maxt: i64) -> SeriesSnapshot {
        let mut chunks: Vec<Bytes> = self
            .sealed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
            .map(|c| c.bytes.clone())
            .collect();
        if !self.open.is_empty()
            && self.open.max_time() >= Some(mint)
            && self.open.min_time() <= Some(maxt)
        {
            chunks.push(Bytes::from(tag_xor(self.open.bytes())));
        }
        let ooo: Vec<Sample> = self
            .ooo
            .iter()
            .filter(|s| s.t >= mint && s.t <= maxt)
            .copied()
            .collect();
        SeriesSnapshot {
            chunks: Arc::new(chunks),
            ooo: Arc::new(ooo),
        }
    }

    /// Every sample, ascending.
    pub fn all_samples(&self) -> Vec<Sample> {
        self.snapshot(i64::MIN, i64::MAX).samples().collect()
    }

    /// Removes every sample older than `end`, keeping the rest (used when the head is
    /// cut into a block). Chunks wholly at or after `end` stay as they are and chunks
    /// wholly before it are dropped; only the chunk that straddles `end` is decoded and
    /// re-encoded. (Re-encoding every series whole made a cut decode and rewrite the
    /// entire head, with both copies live in the allocator for a while.)
    pub fn drain_before(&mut self, end: i64) {
        if self.min_t().is_none_or(|t| t >= end) {
            return;
        }
        self.ooo.retain(|s| s.t >= end);
        let first_kept = self.sealed.partition_point(|c| c.max_t < end);
        self.sealed.drain(..first_kept);
        if let Some(first) = self.sealed.first() {
            if first.min_t < end {
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                // Sealed chunks were encoded by this head and decode.
                if decode_chunk_into(&first.bytes, &mut ts, &mut vs).is_ok() {
                    let keep = ts.partition_point(|&t| t < end);
                    self.sealed[0] = SealedChunk {
                        min_t: ts[keep],
                        max_t: first.max_t,
                        bytes: Bytes::from(
                            encode_chunk(&ts[keep..], &vs[keep..]).into_boxed_slice(),
                        ),
                    };
                }
            }
            return;
        }
        if self.open.min_time().is_some_and(|t| t < end) {
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            let mut open = XorAppender::new();
            if pitot_chunkenc::decode_into(self.open.bytes(), &mut ts, &mut vs).is_ok() {
                let keep = ts.partition_point(|&t| t < end);
                for (&t, &v) in ts[keep..].iter().zip(&vs[keep..]) {
                    open.append(t, v);
                }
            }
            self.open = open;
        }
        if self.open.is_empty() {
            // Nothing in order is left (the sealed chunks went before): an append
            // starts afresh, and a series without out-of-order samples is empty.
            self.drained_max_t = self.drained_max_t.max(self.max_t);
            self.max_t = i64::MIN;
        }
    }
}

/// Chunks and out-of-order samples of one series, detached from the head.
#[derive(Clone)]
pub struct SeriesSnapshot {
    chunks: Arc<Vec<Bytes>>,
    ooo: Arc<Vec<Sample>>,
}

impl SeriesSnapshot {
    /// Samples ascending by time; in-order data wins equal timestamps.
    pub fn samples(&self) -> SampleIter {
        let chunks = Arc::clone(&self.chunks);
        let in_order: SampleIter = Box::new(ChunksIter::new(chunks));
        if self.ooo.is_empty() {
            return in_order;
        }
        let ooo = Arc::clone(&self.ooo);
        let ooo_iter: SampleIter = Box::new((0..ooo.len()).map(move |i| ooo[i]));
        merge_iters(vec![in_order, ooo_iter])
    }

    /// Appends the samples in `[mint, maxt]` to `out`, decoding whole chunks at once.
    pub fn collect_range(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        if self.ooo.is_empty() {
            collect_chunks(&self.chunks, false, mint, maxt, out);
        } else {
            out.extend(
                self.samples()
                    .skip_while(|s| s.t < mint)
                    .take_while(|s| s.t <= maxt),
            );
        }
    }
}

/// Appends one chunk's samples to the columns: tagged, or bare XOR for blocks of format
/// version 1.
fn decode_one(
    chunk: &[u8],
    untagged_xor: bool,
    ts: &mut Vec<i64>,
    vs: &mut Vec<f64>,
) -> Result<(), pitot_chunkenc::ChunkError> {
    if untagged_xor {
        pitot_chunkenc::decode_into(chunk, ts, vs)
    } else {
        decode_chunk_into(chunk, ts, vs)
    }
}

/// Decodes chunks (tagged, or bare XOR for blocks of format version 1) straight into
/// `out`, keeping the samples in `[mint, maxt]`: the bulk form of [`ChunksIter`], which
/// stops at the first chunk that does not decode just as the iterator does.
pub fn collect_chunks(
    chunks: &[Bytes],
    untagged_xor: bool,
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) {
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for chunk in chunks {
        // XOR chunks (the open chunk) stream straight into `out`: no columns to fill
        // and copy again, and the iterator is faster than column decoding.
        let xor = match chunk.split_first() {
            _ if untagged_xor => Some(&chunk[..]),
            Some((&pitot_chunkenc::TAG_XOR, body)) => Some(body),
            _ => None,
        };
        if let Some(body) = xor {
            let before = out.len();
            let mut iter = pitot_chunkenc::XorIter::new(body);
            let mut past_maxt = false;
            // The whole chunk is read: one that does not decode adds nothing.
            for (t, v) in iter.by_ref() {
                if t > maxt {
                    past_maxt = true;
                } else if t >= mint {
                    out.push(Sample::new(t, v));
                }
            }
            if iter.err().is_some() {
                out.truncate(before);
                return;
            }
            if past_maxt {
                return;
            }
            continue;
        }
        ts.clear();
        vs.clear();
        if decode_chunk_into(chunk, &mut ts, &mut vs).is_err() {
            return;
        }
        let a = ts.partition_point(|&t| t < mint);
        let b = ts.partition_point(|&t| t <= maxt);
        if a < b {
            out.extend(
                ts[a..b]
                    .iter()
                    .zip(&vs[a..b])
                    .map(|(&t, &v)| Sample::new(t, v)),
            );
        }
        if b < ts.len() {
            return;
        }
    }
}

/// Decodes a list of tagged chunks (see `pitot_chunkenc::encode_chunk`) one after the
/// other. A chunk that does not decode ends the series there.
pub struct ChunksIter {
    chunks: Arc<Vec<Bytes>>,
    next_chunk: usize,
    untagged_xor: bool,
    ts: Vec<i64>,
    vs: Vec<f64>,
    pos: usize,
}

impl ChunksIter {
    /// Iterates tagged chunks in order; they must not overlap.
    pub fn new(chunks: Arc<Vec<Bytes>>) -> Self {
        ChunksIter {
            chunks,
            next_chunk: 0,
            untagged_xor: false,
            ts: Vec::new(),
            vs: Vec::new(),
            pos: 0,
        }
    }

    /// Iterates bare XOR chunks, as blocks of format version 1 store them.
    pub fn untagged_xor(chunks: Arc<Vec<Bytes>>) -> Self {
        ChunksIter {
            untagged_xor: true,
            ..ChunksIter::new(chunks)
        }
    }
}

impl Iterator for ChunksIter {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        while self.pos >= self.ts.len() {
            let chunk = self.chunks.get(self.next_chunk)?;
            self.next_chunk += 1;
            self.ts.clear();
            self.vs.clear();
            self.pos = 0;
            if decode_one(chunk, self.untagged_xor, &mut self.ts, &mut self.vs).is_err() {
                self.next_chunk = self.chunks.len();
                return None;
            }
        }
        let sample = Sample::new(self.ts[self.pos], self.vs[self.pos]);
        self.pos += 1;
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> MemSeries {
        MemSeries::new(Box::new([0, 1]))
    }

    #[test]
    fn in_order_ooo_duplicates_and_bounds() {
        let mut s = series();
        for t in 0..300 {
            assert_eq!(
                s.append(t * 1000, t as f64, 0, Late::NONE, 600_000),
                Ok(Appended::Stored)
            );
        }
        assert_eq!(
            s.append(299_000, 299.0, 0, Late::NONE, 600_000),
            Ok(Appended::Duplicate)
        );
        assert_eq!(
            s.append(299_000, 1.0, 0, Late::NONE, 600_000),
            Err(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            s.append(100_500, 7.0, 0, Late::NONE, 600_000),
            Ok(Appended::Stored)
        );
        assert_eq!(
            s.append(100_500, 7.0, 0, Late::NONE, 600_000),
            Ok(Appended::Duplicate)
        );
        assert_eq!(
            s.append(100_500, 8.0, 0, Late::NONE, 600_000),
            Err(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            s.append(-1, 0.0, 0, Late::NONE, i64::MAX),
            Err(RejectReason::TooOld)
        );
        assert_eq!(
            s.append(1000, 0.0, 0, Late::NONE, 10_000),
            Err(RejectReason::OutOfOrder)
        );
        let all = s.all_samples();
        assert_eq!(all.len(), 301);
        assert!(all.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(all.iter().find(|x| x.t == 100_500).unwrap().v, 7.0);

        let before = s.all_samples();
        s.drain_before(150_000);
        assert_eq!(s.all_samples(), before[151..]);
        assert_eq!(s.min_t(), Some(150_000));
        assert_eq!(s.all_samples().len(), 150);
        let window: Vec<_> = s
            .snapshot(200_000, 201_000)
            .samples()
            .filter(|x| x.t >= 200_000 && x.t <= 201_000)
            .collect();
        assert_eq!(window.len(), 2);
    }

    #[test]
    fn draining_keeps_later_chunks_and_splits_the_straddling_one() {
        for end in [
            0i64, 1, 59_000, 60_000, 119_000, 120_000, 121_000, 250_000, 299_000, 299_001, 400_000,
        ] {
            let mut s = series();
            for t in 0..300i64 {
                s.append(t * 1000, (t as f64).sqrt(), 0, Late::NONE, i64::MAX)
                    .unwrap();
            }
            s.append(250_500, 1.5, 0, Late::NONE, i64::MAX).unwrap();
            let before = s.all_samples();
            let kept_chunks = s.sealed.iter().filter(|c| c.min_t >= end).count();
            s.drain_before(end);
            let want: Vec<Sample> = before.iter().copied().filter(|x| x.t >= end).collect();
            assert_eq!(s.all_samples(), want, "end={end}");
            assert_eq!(s.min_t(), want.first().map(|x| x.t), "end={end}");
            assert!(s.sealed.len() >= kept_chunks, "end={end}");
            // Appending goes on after the drain.
            assert_eq!(
                s.append(300_000, 1.0, 0, Late::NONE, 0),
                Ok(Appended::Stored)
            );
        }
        // A series whose samples all sealed (no open chunk) drains to empty.
        let mut s = series();
        for t in 0..SAMPLES_PER_CHUNK as i64 {
            s.append(t, 1.0, 0, Late::NONE, 0).unwrap();
        }
        assert!(s.open.is_empty());
        s.drain_before(SAMPLES_PER_CHUNK as i64);
        assert!(s.is_empty());
        assert_eq!(s.min_t(), None);
    }

    #[test]
    fn resent_in_order_samples_are_duplicates_not_out_of_order() {
        let mut s = series();
        // One sealed chunk and part of the open one.
        for t in 0..150i64 {
            s.append(t * 1000, t as f64, 0, Late::NONE, i64::MAX)
                .unwrap();
        }
        for t in [3i64, 119, 120, 148] {
            assert_eq!(
                s.append(t * 1000, t as f64, 0, Late::NONE, i64::MAX),
                Ok(Appended::Duplicate),
                "t={t}"
            );
            assert_eq!(
                s.append(t * 1000, -1.0, 0, Late::NONE, i64::MAX),
                Err(RejectReason::DuplicateTimestamp),
                "t={t}"
            );
        }
        assert!(s.ooo.is_empty());
        // Between two in-order samples is still out of order.
        assert_eq!(
            s.append(3_500, 9.0, 0, Late::NONE, i64::MAX),
            Ok(Appended::Stored)
        );
        assert_eq!(s.ooo, vec![Sample::new(3_500, 9.0)]);
        assert_eq!(s.all_samples().len(), 151);
    }

    #[test]
    fn sealed_chunks_are_compact_and_bare_xor_chunks_still_read() {
        let mut s = series();
        for t in 0..SAMPLES_PER_CHUNK as i64 {
            s.append(t * 15_000, 1000.0 + t as f64 * 0.25, 0, Late::NONE, 0)
                .unwrap();
        }
        assert_eq!(s.sealed.len(), 1);
        assert_eq!(s.sealed[0].bytes[0], pitot_chunkenc::TAG_DECIMAL);
        assert!(
            s.sealed[0].bytes.len() < 40,
            "{} bytes",
            s.sealed[0].bytes.len()
        );
        assert_eq!(s.all_samples().len(), SAMPLES_PER_CHUNK);

        let mut xor = XorAppender::new();
        xor.append(5, 1.5);
        xor.append(6, 2.5);
        let chunks = Arc::new(vec![Bytes::from(xor.finish())]);
        let read: Vec<_> = ChunksIter::untagged_xor(Arc::clone(&chunks)).collect();
        assert_eq!(read, vec![Sample::new(5, 1.5), Sample::new(6, 2.5)]);
        let mut bulk = Vec::new();
        collect_chunks(&chunks, true, 6, 100, &mut bulk);
        assert_eq!(bulk, vec![Sample::new(6, 2.5)]);

        // The bulk path yields what the iterator yields, with and without out-of-order data.
        let mut s = series();
        for t in 0..300i64 {
            s.append(t * 10, t as f64 / 4.0, 0, Late::NONE, 1000)
                .unwrap();
        }
        let want: Vec<_> = s
            .snapshot(0, i64::MAX)
            .samples()
            .filter(|x| (555..=2222).contains(&x.t))
            .collect();
        let mut got = Vec::new();
        s.snapshot(0, i64::MAX).collect_range(555, 2222, &mut got);
        assert_eq!(got, want);
        // Into the open (XOR) chunk, which streams straight into the output.
        for (mint, maxt) in [(1_000, 2_500), (2_405, 2_955), (0, i64::MAX)] {
            let want: Vec<_> = s
                .snapshot(0, i64::MAX)
                .samples()
                .filter(|x| (mint..=maxt).contains(&x.t))
                .collect();
            let mut got = Vec::new();
            s.snapshot(0, i64::MAX).collect_range(mint, maxt, &mut got);
            assert_eq!(got, want);
            assert!(got.iter().any(|x| x.t >= 2_400));
        }
        // A chunk that does not decode ends the series there, adding nothing of its own.
        let mut xor = XorAppender::new();
        for t in 0..50 {
            xor.append(10_000 + t * 10, t as f64 * 1.37);
        }
        let whole = pitot_chunkenc::tag_xor(&xor.finish());
        let cut = Bytes::copy_from_slice(&whole[..whole.len() / 2]);
        let mut got = Vec::new();
        collect_chunks(
            &[Bytes::from(whole.clone()), cut.clone()],
            false,
            0,
            i64::MAX,
            &mut got,
        );
        assert_eq!(got.len(), 50);
        let mut got = Vec::new();
        collect_chunks(&[cut, Bytes::from(whole)], false, 0, i64::MAX, &mut got);
        assert!(got.is_empty());
        s.append(2_985, 9.0, 0, Late::NONE, 1000).unwrap();
        let want: Vec<_> = s
            .snapshot(0, i64::MAX)
            .samples()
            .filter(|x| x.t >= 2900)
            .collect();
        let mut got = Vec::new();
        s.snapshot(0, i64::MAX)
            .collect_range(2900, i64::MAX, &mut got);
        assert_eq!(got, want);
        assert!(got.iter().any(|x| x.t == 2_985));
    }

    #[test]
    fn staggered_series_seal_their_first_chunk_early_then_every_full_chunk() {
        let mut lengths = std::collections::HashSet::new();
        for id in 0..1000u32 {
            let mut s = MemSeries::staggered(Box::new([0, 1]), id);
            let first = usize::from(s.first_chunk);
            assert!((1..=SAMPLES_PER_CHUNK).contains(&first));
            lengths.insert(first);
            for t in 0..(first + 2 * SAMPLES_PER_CHUNK) as i64 {
                s.append(t, t as f64, 0, Late::NONE, 0).unwrap();
            }
            assert_eq!(s.sealed.len(), 3, "id {id}, first chunk {first}");
            assert!(s.open.is_empty());
            let all = s.all_samples();
            assert_eq!(all.len(), first + 2 * SAMPLES_PER_CHUNK);
            assert!(all.iter().enumerate().all(|(i, x)| x.t == i as i64));
        }
        // Spread over the whole range, not bunched.
        assert!(
            lengths.len() > SAMPLES_PER_CHUNK * 3 / 4,
            "{}",
            lengths.len()
        );
    }
}
