//! MSB-first bit writer and bounds-checked bit reader over byte buffers.
//!
//! Both sides work on a 64-bit accumulator so that a field costs a shift and
//! a mask, not a loop over bits. Bits are packed most significant bit first:
//! the first bit written is bit 7 of the first byte.

/// Returns a mask of the low `n` bits, for `n` in `0..=64`.
#[inline]
fn low_mask(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Appends bits to a byte vector.
///
/// Whole bytes go to `buf` as soon as they are complete; fewer than eight
/// bits stay in `acc` until [`BitWriter::seal`] publishes them as a
/// zero-padded tail byte, so that the buffer can be read between appends.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    /// Complete bytes, followed by the padded tail byte while sealed.
    buf: Vec<u8>,
    /// Pending bits in the low `pending` bits; the bits above are garbage.
    acc: u64,
    /// Number of pending bits, always below 8 between calls.
    pending: u32,
    /// Whether the last byte of `buf` is the published tail byte.
    sealed_tail: bool,
}

impl BitWriter {
    /// Starts a writer whose stream follows `prefix` (already byte aligned).
    pub(crate) fn with_prefix(prefix: &[u8], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(prefix.len()));
        buf.extend_from_slice(prefix);
        BitWriter {
            buf,
            acc: 0,
            pending: 0,
            sealed_tail: false,
        }
    }

    /// Rebuilds a writer from published bytes whose stream part holds
    /// exactly `stream_bits` bits after a `prefix_len`-byte prefix.
    ///
    /// Padding bits of a partial last byte are dropped, so that later writes
    /// start from a clean accumulator whatever the padding held.
    pub(crate) fn resume(bytes: &[u8], prefix_len: usize, stream_bits: usize) -> Self {
        let full = prefix_len + stream_bits / 8;
        let pending = (stream_bits % 8) as u32;
        let mut writer = BitWriter::with_prefix(&bytes[..full], full + 64);
        if pending > 0 {
            writer.acc = u64::from(bytes[full] >> (8 - pending));
            writer.pending = pending;
        }
        writer.seal();
        writer
    }

    /// Writes the low `n` bits of `value`, most significant first; `n <= 64`.
    #[inline]
    pub(crate) fn write(&mut self, value: u64, n: u32) {
        debug_assert!(!self.sealed_tail, "write on a sealed writer");
        debug_assert!(n <= 64);
        if n > 56 {
            self.write_small(value >> 32, n - 32);
            self.write_small(value, 32);
        } else {
            self.write_small(value, n);
        }
    }

    /// Writes the low `n <= 56` bits of `value`.
    #[inline]
    fn write_small(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 56 && self.pending < 8);
        if n == 0 {
            return;
        }
        self.acc = (self.acc << n) | (value & low_mask(n));
        self.pending += n;
        if self.buf.capacity() - self.buf.len() < 8 {
            self.grow();
        }
        while self.pending >= 8 {
            self.pending -= 8;
            self.buf.push((self.acc >> self.pending) as u8);
        }
    }

    /// Grows the buffer by a quarter instead of doubling it: a head holds one open
    /// chunk per series, all of them filling at once, and doubling left up to half of
    /// each unused (tens of MB at 100k series).
    #[cold]
    fn grow(&mut self) {
        self.buf.reserve_exact((self.buf.len() / 4).max(32));
    }

    /// Removes the published tail byte so that writing can go on.
    #[inline]
    pub(crate) fn unseal(&mut self) {
        if self.sealed_tail {
            self.buf.pop();
            self.sealed_tail = false;
        }
    }

    /// Publishes pending bits as a zero-padded tail byte.
    #[inline]
    pub(crate) fn seal(&mut self) {
        debug_assert!(!self.sealed_tail);
        if self.pending > 0 {
            self.buf.push((self.acc << (8 - self.pending)) as u8);
            self.sealed_tail = true;
        }
    }

    /// The published bytes; complete only while sealed.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access to the published bytes, for patching the header.
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Gives up the buffer; pending bits must have been sealed.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        debug_assert!(self.pending == 0 || self.sealed_tail);
        self.buf
    }
}

/// The reader ran past the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfBits;

/// Reads bits MSB-first from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the first byte of `data` not yet counted in `avail`.
    pos: usize,
    /// Loaded bits, left aligned: the next bit to read is bit 63. Bits below
    /// the top `avail` are either zero or a copy of the bytes at `pos..`
    /// (the fast refill loads ahead), never anything else.
    acc: u64,
    /// Number of valid bits at the top of `acc`.
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// Starts reading at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            avail: 0,
        }
    }

    /// Number of bits consumed so far.
    pub(crate) fn bit_position(&self) -> usize {
        self.pos * 8 - self.avail as usize
    }

    /// Loads whole bytes until more than 56 bits are available or the input
    /// is exhausted.
    #[inline]
    fn refill(&mut self) {
        debug_assert!(self.avail < 64);
        let rest = &self.data[self.pos..];
        if let Some(word) = rest.first_chunk::<8>() {
            // Load eight bytes at once and count only those that fit
            // completely; the partial one is loaded again, to the same bit
            // positions, by the next refill.
            self.acc |= u64::from_be_bytes(*word) >> self.avail;
            let loaded = (63 - self.avail) / 8;
            self.pos += loaded as usize;
            self.avail += loaded * 8;
        } else {
            for &byte in rest {
                if self.avail > 56 {
                    break;
                }
                self.acc |= u64::from(byte) << (56 - self.avail);
                self.pos += 1;
                self.avail += 8;
            }
        }
    }

    /// Makes at least `n <= 56` bits available if the input still has them.
    #[inline]
    pub(crate) fn ensure(&mut self, n: u32) {
        if self.avail < n {
            self.refill();
        }
    }

    /// The next `n` bits (`1..=56`) without consuming them. Bits past the end
    /// of the input read as zero; callers check with [`BitReader::consume`].
    #[inline]
    pub(crate) fn peek(&self, n: u32) -> u64 {
        debug_assert!((1..=56).contains(&n));
        self.acc >> (64 - n)
    }

    /// Number of leading one bits in the next `max <= 8` bits, for decoding
    /// unary prefix codes. Call [`BitReader::ensure`] first.
    #[inline]
    pub(crate) fn peek_leading_ones(&self, max: u32) -> u32 {
        (!self.acc).leading_zeros().min(max)
    }

    /// Drops `n <= 56` bits that were peeked.
    #[inline]
    pub(crate) fn consume(&mut self, n: u32) -> Result<(), OutOfBits> {
        debug_assert!(n <= 56);
        if self.avail < n {
            return Err(OutOfBits);
        }
        self.acc <<= n;
        self.avail -= n;
        Ok(())
    }

    /// Reads `n` bits (`1..=56`) as an unsigned number.
    #[inline]
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, OutOfBits> {
        debug_assert!((1..=56).contains(&n));
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return Err(OutOfBits);
            }
        }
        let value = self.acc >> (64 - n);
        self.acc <<= n;
        self.avail -= n;
        Ok(value)
    }

    /// Reads `n` bits (`1..=64`) as an unsigned number.
    #[inline]
    pub(crate) fn read_wide(&mut self, n: u32) -> Result<u64, OutOfBits> {
        if n > 56 {
            let high = self.read(n - 32)?;
            let low = self.read(32)?;
            Ok((high << 32) | low)
        } else {
            self.read(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_across_byte_and_word_boundaries() {
        let fields: Vec<(u64, u32)> = (1..=64u32)
            .map(|n| (0xdead_beef_cafe_f00d_u64.rotate_left(n) & low_mask(n), n))
            .chain([(1, 1), (0, 3), (u64::MAX, 64), (5, 3)])
            .collect();
        let mut writer = BitWriter::with_prefix(&[], 0);
        for &(value, n) in &fields {
            writer.write(value, n);
        }
        writer.seal();
        let total: u32 = fields.iter().map(|&(_, n)| n).sum();
        let bytes = writer.into_bytes();
        assert_eq!(bytes.len(), total.div_ceil(8) as usize);

        let mut reader = BitReader::new(&bytes);
        for &(value, n) in &fields {
            assert_eq!(reader.read_wide(n), Ok(value), "field of {n} bits");
        }
        assert_eq!(reader.bit_position(), total as usize);
    }

    #[test]
    fn reader_reports_truncation_instead_of_reading_past_the_end() {
        let bytes = [0xff, 0x01];
        let mut reader = BitReader::new(&bytes);
        assert_eq!(reader.read(12), Ok(0xff0));
        assert_eq!(reader.read(5), Err(OutOfBits));
        assert_eq!(reader.read(4), Ok(0x1));
        assert_eq!(reader.read(1), Err(OutOfBits));
    }

    #[test]
    fn seal_publishes_a_padded_tail_that_unseal_takes_back() {
        let mut writer = BitWriter::with_prefix(&[0xaa], 4);
        writer.write(0b101, 3);
        writer.seal();
        assert_eq!(writer.bytes(), &[0xaa, 0b1010_0000]);
        writer.unseal();
        writer.write(0b11111, 5);
        writer.seal();
        assert_eq!(writer.bytes(), &[0xaa, 0b1011_1111]);
    }

    #[test]
    fn resume_continues_the_stream_and_drops_padding_garbage() {
        let bytes = [0x00, 0b1010_0111];
        let mut writer = BitWriter::resume(&bytes, 1, 3);
        assert_eq!(writer.bytes(), &[0x00, 0b1010_0000]);
        writer.unseal();
        writer.write(0b1, 1);
        writer.seal();
        assert_eq!(writer.bytes(), &[0x00, 0b1011_0000]);
    }
}
