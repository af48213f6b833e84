//! Little helpers for the varint encodings used by WAL records and block indexes.

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `v` zig-zag encoded.
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed string.
pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A bounds-checked reader over a byte slice; every read fails cleanly on truncation.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The input ended early or held an invalid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, Truncated> {
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
    pub fn varint(&mut self) -> Result<i64, Truncated> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).ok_or(Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, Truncated> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Truncated)?))
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, Truncated> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| Truncated)?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| Truncated)
    }

    /// Reads a count, refusing counts larger than the bytes left (each item takes at
    /// least one byte), so corrupt input cannot make callers allocate huge vectors.
    pub fn count(&mut self) -> Result<usize, Truncated> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| Truncated)?;
        if n > self.buf.len() - self.pos.min(self.buf.len()) {
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
        }
    }
}
