//! The XOR chunk: appender, iterator and bulk decoders.
//!
//! The format is specified in the crate documentation; the constants below
//! are its numbers, and the encoder and decoder both read them from here.

use crate::bits::{BitReader, BitWriter, OutOfBits};
use crate::ChunkError;

/// Length in bytes of the sample-count header.
const HEADER_LEN: usize = 2;

/// Bytes reserved up front for a new chunk: enough for 120 typical samples.
const INITIAL_CAPACITY: usize = 128;

/// Payload widths of the delta-of-delta buckets after the prefixes `10`,
/// `110`, `1110` and `11110`; prefix `11111` carries 64 bits.
const DOD_BITS: [u32; 4] = [4, 8, 14, 24];

/// Length of the longest delta-of-delta prefix, `11111`.
const DOD_MAX_PREFIX: u32 = DOD_BITS.len() as u32 + 1;

/// Width of the leading-zeros field of a new XOR window; counts above its
/// maximum are clamped and the extra zeros become meaningful bits.
const LEADING_BITS: u32 = 5;

/// The largest leading-zero count the field can hold.
const MAX_LEADING: u32 = (1 << LEADING_BITS) - 1;

/// Width of the meaningful-bits field of a new XOR window (64 is written as 0).
const SIGNIFICANT_BITS: u32 = 6;

/// A new window costs this many bits more than reusing one: two control bits
/// plus the two fields, against two control bits.
const NEW_WINDOW_OVERHEAD: u32 = LEADING_BITS + SIGNIFICANT_BITS;

/// The most samples one chunk can hold: the header is a `u16`.
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// Whether `value` fits a two's complement field of `bits` bits.
#[inline]
fn fits_signed(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

/// Sign-extends the low `bits` bits of `raw` (`1..=64`).
#[inline]
fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

/// Maps signed to unsigned so that small magnitudes get short varints.
#[inline]
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Writes `value` as an unsigned LEB128 varint, one byte per 8-bit field.
fn write_uvarint(writer: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        writer.write((value & 0x7f) | 0x80, 8);
        value >>= 7;
    }
    writer.write(value, 8);
}

/// Builds one chunk of float samples in time order.
///
/// The chunk exists so that the TSDB head can keep recent samples compressed
/// while still serving queries: [`XorAppender::bytes`] is a complete, valid
/// chunk after every append, and [`XorAppender::iter`] reads it in place.
#[derive(Debug, Clone)]
pub struct XorAppender {
    writer: BitWriter,
    count: u16,
    first_t: i64,
    last_t: i64,
    /// Last timestamp delta, wrapping; meaningful from the second sample on.
    last_delta: i64,
    /// Bits of the last value.
    last_v: u64,
    /// Current XOR window: leading and trailing zero counts.
    leading: u32,
    trailing: u32,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// Starts an empty chunk.
    pub fn new() -> Self {
        let mut writer = BitWriter::with_prefix(&[0; HEADER_LEN], INITIAL_CAPACITY);
        writer.seal();
        XorAppender {
            writer,
            count: 0,
            first_t: 0,
            last_t: 0,
            last_delta: 0,
            last_v: 0,
            leading: 0,
            trailing: 0,
        }
    }

    /// Reopens an encoded chunk for further appends, so that a head chunk
    /// reloaded from disk (or a snapshot) can keep growing.
    ///
    /// The whole chunk is decoded to recover the encoder state; bytes after
    /// the last sample are dropped.
    pub fn from_chunk(bytes: &[u8]) -> Result<Self, ChunkError> {
        let mut iter = XorIter::new(bytes);
        for _ in iter.by_ref() {}
        if let Some(err) = iter.err() {
            return Err(err);
        }
        if iter.count == 0 {
            return Ok(Self::new());
        }
        let decoder = &iter.decoder;
        let stream_bits = decoder.reader.bit_position();
        let writer = BitWriter::resume(bytes, HEADER_LEN, stream_bits);
        Ok(XorAppender {
            writer,
            count: iter.count as u16,
            first_t: iter.first_t,
            last_t: decoder.t,
            last_delta: decoder.delta,
            last_v: decoder.v,
            leading: 64 - decoder.window_significant - decoder.window_trailing,
            trailing: decoder.window_trailing,
        })
    }

    /// Appends a sample.
    ///
    /// The caller guarantees that `t` is greater than the previous timestamp
    /// (checked in debug builds only; use [`XorAppender::try_append`] for
    /// untrusted input). A chunk that breaks this rule fails to decode from
    /// the offending sample on.
    ///
    /// # Panics
    ///
    /// Panics if the chunk already holds [`MAX_SAMPLES`] samples.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(
            self.len() < MAX_SAMPLES,
            "chunk is full with {MAX_SAMPLES} samples"
        );
        debug_assert!(
            self.is_empty() || t > self.last_t,
            "timestamp {t} does not follow {}",
            self.last_t
        );
        self.append_unchecked(t, v.to_bits());
    }

    /// Appends a sample after checking the ordering and size rules that
    /// [`XorAppender::append`] leaves to the caller.
    pub fn try_append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.len() >= MAX_SAMPLES {
            return Err(ChunkError::Full { max: MAX_SAMPLES });
        }
        if !self.is_empty() && t <= self.last_t {
            return Err(ChunkError::OutOfOrder {
                previous: self.last_t,
                timestamp: t,
            });
        }
        self.append_unchecked(t, v.to_bits());
        Ok(())
    }

    fn append_unchecked(&mut self, t: i64, v: u64) {
        self.writer.unseal();
        match self.count {
            0 => {
                write_uvarint(&mut self.writer, zigzag(t));
                self.writer.write(v, 64);
                self.first_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.last_t);
                write_uvarint(&mut self.writer, delta as u64);
                self.write_value(v);
                self.last_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.last_t);
                self.write_dod(delta.wrapping_sub(self.last_delta));
                self.write_value(v);
                self.last_delta = delta;
            }
        }
        self.last_t = t;
        self.last_v = v;
        self.count += 1;
        self.publish();
    }

    /// Seals the bit stream and stores the sample count in the header.
    fn publish(&mut self) {
        self.writer.seal();
        self.writer.bytes_mut()[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.writer.write(0b0, 1);
            return;
        }
        for (bucket, &bits) in DOD_BITS.iter().enumerate() {
            if fits_signed(dod, bits) {
                // `bucket + 1` ones, then a zero.
                let prefix_len = bucket as u32 + 2;
                let prefix = (1u64 << prefix_len) - 2;
                let payload = dod as u64 & ((1u64 << bits) - 1);
                self.writer
                    .write((prefix << bits) | payload, prefix_len + bits);
                return;
            }
        }
        self.writer.write((1 << DOD_MAX_PREFIX) - 1, DOD_MAX_PREFIX);
        self.writer.write(dod as u64, 64);
    }

    fn write_value(&mut self, v: u64) {
        let xor = v ^ self.last_v;
        if xor == 0 {
            self.writer.write(0b0, 1);
            return;
        }
        let leading = xor.leading_zeros().min(MAX_LEADING);
        let trailing = xor.trailing_zeros();
        let significant = 64 - leading - trailing;
        let window_significant = 64 - self.leading - self.trailing;
        // Reuse the window when the bits fit and the wasted zeros cost no
        // more than describing a tighter window would.
        let fits_window = leading >= self.leading && trailing >= self.trailing;
        if fits_window && window_significant <= significant + NEW_WINDOW_OVERHEAD {
            self.writer.write(0b10, 2);
            self.writer.write(xor >> self.trailing, window_significant);
            return;
        }
        let header = (0b11 << (LEADING_BITS + SIGNIFICANT_BITS))
            | (u64::from(leading) << SIGNIFICANT_BITS)
            | u64::from(significant & 63);
        self.writer
            .write(header, 2 + LEADING_BITS + SIGNIFICANT_BITS);
        self.writer.write(xor >> trailing, significant);
        self.leading = leading;
        self.trailing = trailing;
    }

    /// Number of samples appended.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether no sample has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the chunk holds [`MAX_SAMPLES`] and takes no more appends.
    pub fn is_full(&self) -> bool {
        self.len() >= MAX_SAMPLES
    }

    /// Timestamp of the first sample, for chunk time-range pruning.
    pub fn min_time(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.first_t)
    }

    /// Timestamp of the last sample, for chunk time-range pruning and
    /// out-of-order checks by the caller.
    pub fn max_time(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.last_t)
    }

    /// The encoded chunk so far; always a complete chunk that decodes to the
    /// samples appended.
    pub fn bytes(&self) -> &[u8] {
        self.writer.bytes()
    }

    /// Closes the chunk and returns its bytes.
    pub fn finish(self) -> Vec<u8> {
        self.writer.into_bytes()
    }

    /// Iterates the samples appended so far without closing the chunk, so
    /// that queries can read the head.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bytes())
    }
}

/// Decoding failure inside the bit stream; the caller adds the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Corrupt {
    Truncated,
    Varint,
    NotIncreasing,
    Window { leading: u32, significant: u32 },
}

impl From<OutOfBits> for Corrupt {
    fn from(_: OutOfBits) -> Self {
        Corrupt::Truncated
    }
}

impl Corrupt {
    fn at(self, index: usize, count: usize) -> ChunkError {
        match self {
            Corrupt::Truncated => ChunkError::Truncated { index, count },
            Corrupt::Varint => ChunkError::InvalidVarint { index },
            Corrupt::NotIncreasing => ChunkError::NotIncreasing { index },
            Corrupt::Window {
                leading,
                significant,
            } => ChunkError::InvalidXorWindow {
                index,
                leading,
                significant,
            },
        }
    }
}

/// Decoder state between samples.
#[derive(Debug, Clone)]
struct Decoder<'a> {
    reader: BitReader<'a>,
    t: i64,
    delta: i64,
    v: u64,
    window_trailing: u32,
    window_significant: u32,
}

impl<'a> Decoder<'a> {
    fn new(stream: &'a [u8]) -> Self {
        Decoder {
            reader: BitReader::new(stream),
            t: 0,
            delta: 0,
            v: 0,
            window_trailing: 0,
            window_significant: 64,
        }
    }

    fn read_uvarint(&mut self) -> Result<u64, Corrupt> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.reader.read(8)?;
            if shift == 63 && byte > 1 {
                return Err(Corrupt::Varint);
            }
            value |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Corrupt::Varint)
    }

    fn first(&mut self) -> Result<(), Corrupt> {
        self.t = unzigzag(self.read_uvarint()?);
        self.v = self.reader.read_wide(64)?;
        Ok(())
    }

    fn second(&mut self) -> Result<(), Corrupt> {
        self.delta = self.read_uvarint()? as i64;
        self.advance_time()?;
        self.read_value()
    }

    #[inline]
    fn rest(&mut self) -> Result<(), Corrupt> {
        let r = &mut self.reader;
        r.ensure(DOD_MAX_PREFIX);
        let ones = r.peek_leading_ones(DOD_MAX_PREFIX);
        let dod = if ones == 0 {
            r.consume(1)?;
            0
        } else if ones < DOD_MAX_PREFIX {
            let payload = DOD_BITS[ones as usize - 1];
            let raw = r.read(ones + 1 + payload)?;
            sign_extend(raw, payload)
        } else {
            r.consume(DOD_MAX_PREFIX)?;
            r.read_wide(64)? as i64
        };
        self.delta = self.delta.wrapping_add(dod);
        self.advance_time()?;
        self.read_value()
    }

    #[inline]
    fn advance_time(&mut self) -> Result<(), Corrupt> {
        let t = self.t.wrapping_add(self.delta);
        if t <= self.t {
            return Err(Corrupt::NotIncreasing);
        }
        self.t = t;
        Ok(())
    }

    #[inline]
    fn read_value(&mut self) -> Result<(), Corrupt> {
        let r = &mut self.reader;
        r.ensure(2);
        let control = r.peek(2);
        if control < 0b10 {
            r.consume(1)?;
            return Ok(());
        }
        if control == 0b10 && self.window_significant <= 54 {
            // Control bits and payload in one read: the common case.
            let raw = r.read(2 + self.window_significant)?;
            let bits = raw & ((1u64 << self.window_significant) - 1);
            self.v ^= bits << self.window_trailing;
            return Ok(());
        }
        r.consume(2)?;
        if control == 0b11 {
            let header = r.read(LEADING_BITS + SIGNIFICANT_BITS)? as u32;
            let leading = header >> SIGNIFICANT_BITS;
            let significant = match header & 63 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return Err(Corrupt::Window {
                    leading,
                    significant,
                });
            }
            self.window_trailing = 64 - leading - significant;
            self.window_significant = significant;
        }
        let bits = r.read_wide(self.window_significant)?;
        self.v ^= bits << self.window_trailing;
        Ok(())
    }
}

/// Iterates the samples of an encoded chunk.
///
/// It exists so that queries can stream a chunk without materialising it.
/// On malformed or truncated input it stops early and [`XorIter::err`] says
/// why; it never panics and never reads outside the slice.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    decoder: Decoder<'a>,
    /// Samples the header announces, or the number yielded once stopped.
    count: usize,
    index: usize,
    first_t: i64,
    err: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Starts iterating the chunk in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let (count, stream, err) = match split_header(bytes) {
            Ok((count, stream)) => (count, stream, None),
            Err(err) => (0, &[][..], Some(err)),
        };
        XorIter {
            decoder: Decoder::new(stream),
            count,
            index: 0,
            first_t: 0,
            err,
        }
    }

    /// Why iteration stopped before the announced sample count, if it did.
    /// `None` while samples remain or after a clean end.
    pub fn err(&self) -> Option<ChunkError> {
        self.err
    }

    #[inline]
    fn step(&mut self) -> Result<(), Corrupt> {
        match self.index {
            0 => {
                self.decoder.first()?;
                self.first_t = self.decoder.t;
                Ok(())
            }
            1 => self.decoder.second(),
            _ => self.decoder.rest(),
        }
    }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        if self.index >= self.count {
            return None;
        }
        match self.step() {
            Ok(()) => {
                self.index += 1;
                Some((self.decoder.t, f64::from_bits(self.decoder.v)))
            }
            Err(corrupt) => {
                self.err = Some(corrupt.at(self.index, self.count));
                self.count = self.index;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.count - self.index))
    }
}

/// Splits a chunk into its sample count and bit stream.
fn split_header(bytes: &[u8]) -> Result<(usize, &[u8]), ChunkError> {
    match bytes.split_first_chunk::<HEADER_LEN>() {
        Some((header, stream)) => Ok((usize::from(u16::from_be_bytes(*header)), stream)),
        None => Err(ChunkError::MissingHeader { len: bytes.len() }),
    }
}

/// Number of samples a chunk announces in its header, without decoding it.
pub fn num_samples(bytes: &[u8]) -> Result<usize, ChunkError> {
    split_header(bytes).map(|(count, _)| count)
}

/// Decodes a whole chunk into `(timestamp, value)` pairs.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let mut iter = XorIter::new(bytes);
    let mut samples = Vec::with_capacity(iter.count);
    samples.extend(iter.by_ref());
    match iter.err() {
        Some(err) => Err(err),
        None => Ok(samples),
    }
}

/// Decodes a whole chunk by appending to timestamp and value columns, the
/// layout query evaluation wants.
///
/// On error both columns are restored to their lengths before the call.
pub fn decode_into(bytes: &[u8], ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), ChunkError> {
    let (count, stream) = split_header(bytes)?;
    let (ts_len, vs_len) = (ts.len(), vs.len());
    // Filling preallocated slots keeps capacity checks out of the loop.
    ts.resize(ts_len + count, 0);
    vs.resize(vs_len + count, 0.0);
    let result = decode_columns(stream, &mut ts[ts_len..], &mut vs[vs_len..]);
    if let Err((index, corrupt)) = result {
        ts.truncate(ts_len);
        vs.truncate(vs_len);
        return Err(corrupt.at(index, count));
    }
    Ok(())
}

/// Fills `ts` and `vs` (of equal length) with the first samples of the
/// stream; on error returns the index of the failing sample.
fn decode_columns(stream: &[u8], ts: &mut [i64], vs: &mut [f64]) -> Result<(), (usize, Corrupt)> {
    debug_assert_eq!(ts.len(), vs.len());
    let mut decoder = Decoder::new(stream);
    let mut slots = ts.iter_mut().zip(vs.iter_mut());
    if let Some((t, v)) = slots.next() {
        decoder.first().map_err(|corrupt| (0, corrupt))?;
        (*t, *v) = (decoder.t, f64::from_bits(decoder.v));
    }
    if let Some((t, v)) = slots.next() {
        decoder.second().map_err(|corrupt| (1, corrupt))?;
        (*t, *v) = (decoder.t, f64::from_bits(decoder.v));
    }
    for (index, (t, v)) in slots.enumerate() {
        decoder.rest().map_err(|corrupt| (index + 2, corrupt))?;
        (*t, *v) = (decoder.t, f64::from_bits(decoder.v));
    }
    Ok(())
}
