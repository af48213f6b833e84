//! Varint helpers and a bounds-checked reader, shared by chunks, WAL records and block
//! indexes. Every read fails cleanly on truncated or hostile input.

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zig-zag encoded.
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// The input ended early or held an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

/// A bounds-checked reader over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Reads an unsigned varint.
    pub(crate) fn uvarint(&mut self) -> Result<u64, Truncated> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(Truncated)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Truncated)
    }

    /// Reads a zig-zag varint.
    pub(crate) fn varint(&mut self) -> Result<i64, Truncated> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a little-endian u64.
    pub(crate) fn u64_le(&mut self) -> Result<u64, Truncated> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Truncated)?))
    }

    /// Reads `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads a length-prefixed byte string.
    pub(crate) fn len_bytes(&mut self) -> Result<&'a [u8], Truncated> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| Truncated)?;
        self.bytes(n)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<&'a str, Truncated> {
        std::str::from_utf8(self.len_bytes()?).map_err(|_| Truncated)
    }

    /// Reads a count, refusing counts larger than the bytes left (each item takes at
    /// least one byte), so corrupt input cannot make callers allocate huge vectors.
    pub(crate) fn count(&mut self) -> Result<usize, Truncated> {
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
            put_bytes(&mut buf, s.as_bytes());
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.uvarint().unwrap(), u);
            prop_assert_eq!(r.varint().unwrap(), i);
            prop_assert_eq!(r.str().unwrap(), s.as_str());
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.uvarint(), Err(Truncated));
        }
    }
}
