//! The per-chunk line filter: proves that a needle (a case-sensitive substring) occurs
//! in no line of a chunk, so `|= "needle"` queries skip the chunk without decompressing.
//!
//! # Why sampled n-grams
//!
//! A needle is a substring, not a word: `|= "d13ab44a"` must find `order_id=d13ab44aef`.
//! A word-token bloom filter can only be consulted for tokens that separators bound on
//! both sides *inside* the needle, which a bare trace id or `insufficient_funds` does not
//! have, so it skips nothing for the needles people actually search. An index of every
//! n-gram is safe for any needle of at least n bytes, but log lines are full of random
//! hex and numbers, where every position is a new n-gram: the filter would cost about as
//! much as the compressed lines.
//!
//! So the filter indexes a *content-defined sample* of the [`GRAM`]-byte grams: those
//! whose hash falls below a threshold (a [`DENSITY`] fraction of them). Whether a gram
//! is sampled depends only on its bytes, so every sampled gram of a needle is sampled
//! wherever the needle occurs and was indexed: checking the needle's sampled grams has
//! no false negatives. A long needle has several sampled grams, each of which must be
//! present, so the per-item false-positive rate can be high (a one-hash bloom filter
//! with [`BITS_PER_ITEM`] bits per distinct gram) while a 32-character trace id (about
//! seven sampled grams) still skips nearly every chunk that lacks it. A short needle
//! may have no sampled gram (a 10-byte needle: 6 grams, none sampled with probability
//! 18%); it then never skips.
//!
//! Minimizers (the least hash of every window of w grams) were measured first: they
//! guarantee an indexed gram for every needle of `n + w - 1` bytes, at the same size,
//! but cost 6 ns per byte to build, a large share of the ingest budget; threshold
//! sampling is one multiply and one compare per byte.
//!
//! # Layout
//!
//! `[u8 version = 1][u8 gram][u8 density × 256][u8 reserved][u32 LE bit count][bitmap]`;
//! the bit count is a multiple of 64, at least 64; bit `i` is bit `i % 8` of byte `i / 8`.
//! The parameters are stored so a filter built with other values still checks correctly.

/// Bytes per gram. Five bytes keep random hex selective (16^5 values) while letting
/// short needles use the filter.
pub const GRAM: usize = 6;
/// Fraction of grams indexed, in 256ths.
pub const DENSITY_256: u8 = 64;
/// Fraction of grams indexed.
pub const DENSITY: f64 = DENSITY_256 as f64 / 256.0;
/// Shortest needle that may have a sampled gram.
pub const MIN_NEEDLE: usize = GRAM;
/// Bloom bits per distinct sampled gram (one hash function).
pub const BITS_PER_ITEM: usize = 3;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;

/// A serialized filter has a bad header or length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("log chunk filter is corrupt")]
pub struct FilterError;

/// Collects the sampled grams of a chunk's lines, then freezes into a [`LineFilter`].
#[derive(Debug, Default)]
pub struct FilterBuilder {
    items: Vec<u32>,
}

impl FilterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        FilterBuilder::default()
    }

    /// Indexes one line.
    pub fn add_line(&mut self, line: &[u8]) {
        sampled_grams(line, GRAM, threshold(DENSITY_256), &mut self.items);
    }

    /// Builds the serialized filter, with [`BITS_PER_ITEM`] bits per distinct gram.
    pub fn finish(self) -> Vec<u8> {
        let bits = (self.estimate_distinct() * BITS_PER_ITEM as f64) as usize;
        let bits = bits.max(64).next_multiple_of(64);
        let mut words = vec![0u64; bits / 64];
        for &item in &self.items {
            let bit = bit_index(item, bits);
            words[bit >> 6] |= 1 << (bit & 63);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + bits / 8);
        out.push(VERSION);
        out.push(GRAM as u8);
        out.push(DENSITY_256);
        out.push(0);
        out.extend_from_slice(&(bits as u32).to_le_bytes());
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Distinct grams, estimated by linear counting over a bitmap with about two bits
    /// per item pushed: no sort, no hash set.
    fn estimate_distinct(&self) -> f64 {
        let m = (self.items.len() * 2).next_power_of_two().max(64);
        let mut sketch = vec![0u64; m / 64];
        for &item in &self.items {
            let bit = ((item as usize).wrapping_mul(0x9E37_79B9) >> 7) & (m - 1);
            sketch[bit >> 6] |= 1 << (bit & 63);
        }
        let zeros = m as u64
            - sketch
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>();
        if zeros == 0 {
            return self.items.len() as f64;
        }
        let m = m as f64;
        (m * (m / zeros as f64).ln()).min(self.items.len() as f64)
    }
}

/// A serialized filter, borrowed; checks needles without copying.
#[derive(Debug, Clone, Copy)]
pub struct LineFilter<'a> {
    gram: usize,
    threshold: u32,
    bits: usize,
    bitmap: &'a [u8],
}

impl<'a> LineFilter<'a> {
    /// Parses a filter, checking its header and length.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FilterError> {
        if bytes.len() < HEADER_LEN || bytes[0] != VERSION {
            return Err(FilterError);
        }
        let gram = usize::from(bytes[1]);
        let bits = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let bitmap = &bytes[HEADER_LEN..];
        if !(1..=8).contains(&gram) || bits < 64 || bits & 63 != 0 || bitmap.len() != bits / 8 {
            return Err(FilterError);
        }
        Ok(LineFilter {
            gram,
            threshold: threshold(bytes[2]),
            bits,
            bitmap,
        })
    }

    /// Size of the bitmap in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Whether some line may contain `needle`; `false` is a proof that none does.
    pub fn may_contain(&self, needle: &[u8]) -> bool {
        let mut items = Vec::new();
        sampled_grams(needle, self.gram, self.threshold, &mut items);
        items.iter().all(|&item| {
            let bit = bit_index(item, self.bits);
            self.bitmap[bit >> 3] & (1 << (bit & 7)) != 0
        })
    }

    /// Whether some line may contain every needle.
    pub fn may_contain_all(&self, needles: &[String]) -> bool {
        needles.iter().all(|n| self.may_contain(n.as_bytes()))
    }
}

/// The hash bound below which a gram is sampled.
fn threshold(density_256: u8) -> u32 {
    ((u64::from(density_256) << 32) / 256).min(u64::from(u32::MAX)) as u32
}

/// Appends to `out` the hash of every gram of `line` whose hash is below `threshold`.
fn sampled_grams(line: &[u8], gram: usize, threshold: u32, out: &mut Vec<u32>) {
    if line.len() < gram {
        return;
    }
    let n = line.len() - gram + 1;
    let shift = 64 - 8 * gram as u32;
    // Branch-free: every hash is written to a small stack block, the length only grows
    // past sampled ones (a quarter of the grams, too many for a well-predicted branch);
    // each block's sampled prefix is then appended at once, so `out` is never
    // zero-filled ahead of the writes.
    const BLOCK: usize = 64;
    let mut block = [0u32; BLOCK];
    // Grams whose 8-byte load stays inside the line, then the last few byte by byte.
    let fast = line.len().saturating_sub(7).min(n);
    let mut i = 0;
    while i < fast {
        let end = (i + BLOCK).min(fast);
        let mut len = 0;
        for w in line[i..end + 7].windows(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let h = gram_hash(u64::from_le_bytes(word) << shift);
            block[len & (BLOCK - 1)] = h;
            len += usize::from(h < threshold);
        }
        out.extend_from_slice(&block[..len]);
        i = end;
    }
    for i in fast..n {
        let mut word = [0u8; 8];
        word[..gram].copy_from_slice(&line[i..i + gram]);
        let h = gram_hash(u64::from_le_bytes(word) << shift);
        if h < threshold {
            out.push(h);
        }
    }
}

/// Hashes a gram held in the top bytes of `x` (the rest zero).
fn gram_hash(x: u64) -> u32 {
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// Maps an item to a bit, with a second mix: sampled hashes are all below the
/// threshold, so their top bits alone would cluster.
fn bit_index(item: u32, bits: usize) -> usize {
    let mixed = (u64::from(item) ^ 0x5851_F42D).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) >> 32;
    ((mixed * bits as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(lines: &[&str]) -> Vec<u8> {
        let mut b = FilterBuilder::new();
        for l in lines {
            b.add_line(l.as_bytes());
        }
        b.finish()
    }

    #[test]
    fn rare_needles_are_ruled_out() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("2026-11-25T10:46:28.013Z INFO [worker-{i}] order created order_id={:010x} total={i}.90", i * 7919))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let bytes = build(&refs);
        let f = LineFilter::parse(&bytes).unwrap();
        assert!(f.may_contain(b"order created"));
        assert!(f.may_contain(format!("{:010x}", 77 * 7919).as_bytes()));
        let absent = ["insufficient_funds_xyz", "4bf92f3577b34da6a3ce929d0e0e4736"];
        for needle in absent {
            assert!(!f.may_contain(needle.as_bytes()), "{needle}");
        }
        // Too short to check: never skips.
        assert!(f.may_contain(b"zzz"));
    }

    #[test]
    fn corrupt_filters_are_refused() {
        let bytes = build(&["hello world, this is a line"]);
        assert!(LineFilter::parse(&bytes[..bytes.len() - 1]).is_err());
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(LineFilter::parse(&bad).is_err());
        assert!(LineFilter::parse(&[]).is_err());
    }

    proptest! {
        #[test]
        fn sampled_grams_match_a_naive_scan(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let t = threshold(DENSITY_256);
            let mut fast = Vec::new();
            sampled_grams(&line, GRAM, t, &mut fast);
            let naive: Vec<u32> = line
                .windows(GRAM)
                .map(|g| {
                    let mut word = [0u8; 8];
                    word[..GRAM].copy_from_slice(g);
                    gram_hash(u64::from_le_bytes(word) << (64 - 8 * GRAM as u32))
                })
                .filter(|&h| h < t)
                .collect();
            prop_assert_eq!(fast, naive);
        }

        #[test]
        fn a_line_containing_the_needle_is_never_skipped(
            lines in proptest::collection::vec("[a-f0-9 =_:-]{0,80}", 1..20),
            pick in any::<prop::sample::Index>(),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let line = &lines[pick.index(lines.len())];
            let (mut lo, mut hi) = (a.index(line.len() + 1), b.index(line.len() + 1));
            if lo > hi { std::mem::swap(&mut lo, &mut hi); }
            let needle = &line[lo..hi];
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let bytes = build(&refs);
            let f = LineFilter::parse(&bytes).unwrap();
            prop_assert!(f.may_contain(needle.as_bytes()));
        }
    }
}
