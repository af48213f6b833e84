//! LEB128 varints and a bounds-checked reader: the byte-level encoding shared by the
//! TSDB's and the log store's WAL records, block indexes and chunks, and the decimal
//! chunks of `pitot-chunkenc`. Every read fails cleanly on truncated or hostile input;
//! none allocates.

/// Zig-zag form of a signed value: small for values near zero, either sign.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The signed value of a zig-zag form.
#[inline]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zig-zag encoded.
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, zigzag(v));
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Appends a length-prefixed UTF-8 string.
pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, s.as_bytes());
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended inside it.
    #[error("varint truncated")]
    Truncated,
    /// Its tenth byte carries bits beyond 64.
    #[error("varint above 64 bits")]
    Overflow,
}

/// Reads an unsigned varint at `*pos` of `bytes`, advancing `*pos` past it; for
/// decoders that keep their own position in a hot loop.
#[inline]
pub fn read_uvarint(bytes: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or(VarintError::Truncated)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(VarintError::Overflow);
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(VarintError::Overflow)
}

/// Reads a zig-zag varint at `*pos` of `bytes`, advancing `*pos` past it.
#[inline]
pub fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    read_uvarint(bytes, pos).map(unzigzag)
}

/// The input ended early or held an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// A bounds-checked reader over a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, Truncated> {
        read_uvarint(self.buf, &mut self.pos).map_err(|_| Truncated)
    }

    /// Reads a zig-zag varint.
    pub fn varint(&mut self) -> Result<i64, Truncated> {
        self.uvarint().map(unzigzag)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, Truncated> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Truncated)?))
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads a length-prefixed byte string.
    pub fn len_bytes(&mut self) -> Result<&'a [u8], Truncated> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| Truncated)?;
        self.bytes(n)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, Truncated> {
        std::str::from_utf8(self.len_bytes()?).map_err(|_| Truncated)
    }

    /// Reads a count, refusing counts larger than the bytes left (each item takes at
    /// least one byte), so corrupt input cannot make callers allocate huge vectors.
    pub fn count(&mut self) -> Result<usize, Truncated> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| Truncated)?;
        if n > self.remaining() {
            return Err(Truncated);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>(), s in ".{0,20}") {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, u);
            put_varint(&mut buf, i);
            put_str(&mut buf, &s);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.uvarint().unwrap(), u);
            prop_assert_eq!(r.varint().unwrap(), i);
            prop_assert_eq!(r.str().unwrap(), s.as_str());
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.uvarint(), Err(Truncated));
            let mut pos = 0;
            prop_assert_eq!(read_uvarint(&buf, &mut pos), Ok(u));
            prop_assert_eq!(read_varint(&buf, &mut pos), Ok(i));
        }
    }

    #[test]
    fn hostile_varints_fail_cleanly() {
        let mut pos = 0;
        assert_eq!(
            read_uvarint(&[0x80, 0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        let mut pos = 0;
        let eleven = [0xff; 11];
        assert_eq!(read_uvarint(&eleven, &mut pos), Err(VarintError::Overflow));
        let mut pos = 0;
        let above_64 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            read_uvarint(&above_64, &mut pos),
            Err(VarintError::Overflow)
        );
        let mut r = Reader::new(&[0x05, b'a']);
        assert_eq!(r.count(), Err(Truncated), "a count above the bytes left");
    }
}
