//! Compressed chunks of float samples, the unit the TSDB head and blocks
//! store a series in.
//!
//! Two encodings live here. The XOR encoding below is appendable: the head
//! writes each series' open chunk with it. Sealed chunks and blocks use
//! *tagged* chunks ([`encode_chunk`], [`decode_chunk_into`]): a leading byte
//! names the encoding, and [`encode_chunk`] picks the decimal encoding (see
//! the `decimal` module: integer mantissas, frame-of-reference packed), which
//! is two to three times smaller on real counters and gauges, falling back to
//! XOR for values that are not short decimals.
//!
//! A chunk holds up to [`MAX_SAMPLES`] samples (typically about 120) of one
//! series: strictly increasing `i64` millisecond timestamps with `f64`
//! values. The encoding follows the idea of Facebook's Gorilla paper:
//! timestamps are stored as the change of the delta between samples
//! (delta-of-delta), which is zero for a regular scrape interval, and values
//! as the XOR with the previous value, which is mostly zero bits for slowly
//! moving series. A constant series on a regular interval costs 2 bits per
//! sample; a slowly increasing counter about 1 to 2 bytes per sample.
//!
//! Values round-trip bit for bit: NaN payloads (including the Prometheus
//! staleness marker `0x7ff0000000000002`), `-0.0` and infinities are all
//! kept, because the encoder only ever sees `f64::to_bits`.
//!
//! ```
//! use pitot_chunkenc::{decode, XorAppender};
//!
//! let mut chunk = XorAppender::new();
//! chunk.append(1_700_000_000_000, 1.0);
//! chunk.append(1_700_000_015_000, f64::from_bits(0x7ff0_0000_0000_0002));
//! // The open chunk is readable at any time.
//! assert_eq!(chunk.iter().count(), 2);
//! let bytes = chunk.finish();
//! let samples = decode(&bytes)?;
//! assert_eq!(samples[1].1.to_bits(), 0x7ff0_0000_0000_0002);
//! # Ok::<(), pitot_chunkenc::ChunkError>(())
//! ```
//!
//! # Why this shape
//!
//! - The sample count sits in a fixed header that every append rewrites, so
//!   the bytes of an open chunk are a valid chunk at any moment: queries read
//!   the head with [`XorAppender::iter`] without closing it, and the same
//!   bytes can be persisted as they are.
//! - Decoding never trusts its input. Every read is bounds-checked; a
//!   truncated or corrupt chunk ends iteration with a [`ChunkError`]
//!   instead of a panic.
//! - Arithmetic on timestamps wraps (modulo 2^64), so any two `i64`
//!   timestamps in order, even `i64::MIN` then `i64::MAX`, encode exactly.
//!
//! # Byte layout (format version 1)
//!
//! ```text
//! chunk   = count stream
//! count   = u16, big endian: number of samples (0 ..= 65535)
//! stream  = bit stream, most significant bit of each byte first; the last
//!           byte is padded with zero bits, and readers ignore the padding
//!           and any bytes after the last sample
//! ```
//!
//! The stream holds the samples in order, each as a timestamp field then a
//! value field. Fields are bit-packed with no alignment except where noted.
//!
//! | sample | timestamp field | value field |
//! | --- | --- | --- |
//! | 0 | `t0` zigzag-encoded (`(t << 1) ^ (t >> 63)`), as an unsigned LEB128 varint of 1 to 10 bytes | the 64 bits of `v0`, big endian |
//! | 1 | `d1 = t1 - t0` (wrapping, as `u64`, never 0) as an unsigned LEB128 varint | XOR code |
//! | n ≥ 2 | delta-of-delta code for `dod = (tn - tn-1) - (tn-1 - tn-2)` (wrapping) | XOR code |
//!
//! Samples 0 and 1's varints are byte aligned because they follow the header
//! directly and 64 raw bits; each varint byte is 8 stream bits.
//!
//! The delta-of-delta code (payloads are two's complement):
//!
//! | prefix | payload | `dod` range |
//! | --- | --- | --- |
//! | `0` | none | 0 |
//! | `10` | 4 bits | -8 ..= 7 |
//! | `110` | 8 bits | -128 ..= 127 |
//! | `1110` | 14 bits | -8192 ..= 8191 |
//! | `11110` | 24 bits | -2^23 ..= 2^23 - 1 |
//! | `11111` | 64 bits | any |
//!
//! The buckets follow what scrapes produce: `0` for exact intervals, 4 bits
//! for the few milliseconds of jitter an unaligned scraper adds (a jitter of
//! ±j ms gives a delta-of-delta of up to ±2j), 8 bits for jitter of up to
//! about 60 ms, 14 bits for a missed scrape at intervals of up to 8 s, and
//! 24 bits for gaps of up to about two hours. Encoders use the shortest
//! bucket that fits.
//!
//! The XOR code stores `x = bits(vn) ^ bits(vn-1)` against a *window*: a
//! count of leading zeros `L` and trailing zeros `T`, whose `W = 64 - L - T`
//! bits in between are the meaningful ones. The window starts as `L = 0,
//! T = 0` (all 64 bits) at sample 1 and changes only as below:
//!
//! | code | meaning |
//! | --- | --- |
//! | `0` | `x = 0`: the value repeats |
//! | `10` + `W` bits | `x` = those bits shifted left by `T`, current window |
//! | `11` + 5 bits `L` + 6 bits `W` + `W` bits | new window `L`, `W` (`W = 0` means 64; `L + W ≤ 64`; `T = 64 - L - W`), then `x` as with `10` |
//!
//! Which window an encoder picks is its choice; this one reuses the current
//! window when `x` fits in it and wastes at most 11 bits by doing so
//! (the cost of describing a new window), else it opens the tightest window
//! around `x` with `L` clamped to 31.
//!
//! A decoder rejects: a stream that ends inside a sample, a varint longer
//! than 10 bytes or above `u64::MAX`, a window with `L + W > 64`, and a
//! timestamp that is not greater than its predecessor.

mod bits;
mod decimal;
pub mod packing;
mod prometheus_xor;
mod varint;
mod xor;

pub use decimal::{chunk_samples, decode_chunk_into, encode_chunk, tag_xor, TAG_DECIMAL, TAG_XOR};
pub use prometheus_xor::{decode_prometheus_xor, encode_prometheus_xor};
pub use xor::{decode, decode_into, num_samples, XorAppender, XorIter, MAX_SAMPLES};

/// Why a chunk could not be decoded or appended to.
///
/// Decoding errors name the sample at which the stream went wrong, so that
/// storage can report where a chunk is corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The input is shorter than the 2-byte sample-count header.
    #[error("chunk of {len} bytes has no 2-byte sample count header")]
    MissingHeader {
        /// Length of the input in bytes.
        len: usize,
    },
    /// The bit stream ends before the announced number of samples.
    #[error("chunk truncated in sample {index} of {count}")]
    Truncated {
        /// Zero-based index of the sample that could not be read.
        index: usize,
        /// Number of samples the header announces.
        count: usize,
    },
    /// A varint field is longer than 10 bytes or overflows 64 bits.
    #[error("invalid varint in sample {index}")]
    InvalidVarint {
        /// Zero-based index of the sample holding the varint.
        index: usize,
    },
    /// A new XOR window is wider than 64 bits.
    #[error("invalid xor window in sample {index}: {leading} leading zeros and {significant} meaningful bits")]
    InvalidXorWindow {
        /// Zero-based index of the sample holding the window.
        index: usize,
        /// Leading zero count read from the stream.
        leading: u32,
        /// Meaningful bit count read from the stream.
        significant: u32,
    },
    /// A decoded timestamp is not greater than the one before it.
    #[error("timestamp of sample {index} does not increase")]
    NotIncreasing {
        /// Zero-based index of the offending sample.
        index: usize,
    },
    /// A field of a decimal chunk is out of its range or cut short; the text
    /// names the field.
    #[error("malformed chunk: {0}")]
    Malformed(&'static str),
    /// The chunk's leading encoding tag is not one this version reads.
    #[error("unknown chunk encoding {tag}")]
    UnknownEncoding {
        /// The tag byte read.
        tag: u8,
    },
    /// An append would exceed the header's sample count limit.
    #[error("chunk is full with {max} samples")]
    Full {
        /// The sample limit, [`MAX_SAMPLES`].
        max: usize,
    },
    /// An append's timestamp does not follow the chunk's last timestamp.
    #[error("timestamp {timestamp} does not follow the chunk's last timestamp {previous}")]
    OutOfOrder {
        /// The chunk's last timestamp.
        previous: i64,
        /// The rejected timestamp.
        timestamp: i64,
    },
}
