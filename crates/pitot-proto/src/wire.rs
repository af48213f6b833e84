//! Protobuf wire format, read in place: the cursor the hand-written decoders share.
//!
//! Every length read here is checked against the bytes that are left before anything
//! is sliced, so a declared length can never make a decoder allocate or read more than
//! the message holds.

use crate::BodyError;

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// Deepest nesting of groups skipped (as `prost`'s recursion limit).
const MAX_GROUP_DEPTH: usize = 100;

/// A cursor over protobuf wire format.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader of `buf`, a `message` (named in errors).
    pub(crate) fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            message,
        }
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> BodyError {
        BodyError::Protobuf {
            message: self.message,
            reason: reason.into(),
        }
    }

    pub(crate) fn wrong_wire_type(&self, got: u8, want: u8) -> BodyError {
        self.error(format!(
            "invalid wire type {got} (expected {want}) at byte {}",
            self.pos
        ))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, BodyError> {
        match self.buf.get(self.pos) {
            Some(&byte) if byte < 0x80 => {
                self.pos += 1;
                Ok(u64::from(byte))
            }
            _ => self.varint_slow(),
        }
    }

    fn varint_slow(&mut self) -> Result<u64, BodyError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error("buffer ends inside a varint"));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(self.error("varint longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 64 bits"))
    }

    /// The next field number and wire type, or `None` at the end.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<Option<(u32, u8)>, BodyError> {
        match self.buf.get(self.pos) {
            None => Ok(None),
            // A one-byte key of a field from 1 to 15 with a valid wire type.
            Some(&byte) if (8..0x80).contains(&byte) && byte & 7 <= FIXED32 => {
                self.pos += 1;
                Ok(Some((u32::from(byte >> 3), byte & 7)))
            }
            Some(_) => self.key_slow(),
        }
    }

    #[cold]
    fn key_slow(&mut self) -> Result<Option<(u32, u8)>, BodyError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| self.error(format!("invalid key {key}")))?;
        let wire = (key & 7) as u8;
        if wire > FIXED32 {
            return Err(self.error(format!("invalid wire type {wire}")));
        }
        let field = key >> 3;
        if field == 0 {
            return Err(self.error("invalid field number 0"));
        }
        Ok(Some((field, wire)))
    }

    #[inline]
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], BodyError> {
        let rest = self.buf.len() - self.pos;
        if n > rest as u64 {
            return Err(self.error(format!("field of {n} bytes but only {rest} bytes left")));
        }
        let bytes = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(bytes)
    }

    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], BodyError> {
        let n = self.varint()?;
        self.take(n)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, BodyError> {
        let bytes = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(le))
    }

    /// Skips a field Pitot does not read, groups included.
    pub(crate) fn skip(&mut self, field: u32, wire: u8) -> Result<(), BodyError> {
        let mut open: Vec<u32> = Vec::new();
        let (mut field, mut wire) = (field, wire);
        loop {
            match wire {
                VARINT => {
                    self.varint()?;
                }
                FIXED64 => {
                    self.take(8)?;
                }
                LEN => {
                    self.bytes()?;
                }
                FIXED32 => {
                    self.take(4)?;
                }
                START_GROUP => {
                    if open.len() >= MAX_GROUP_DEPTH {
                        return Err(self.error("groups nested too deeply"));
                    }
                    open.push(field);
                }
                END_GROUP => match open.pop() {
                    Some(start) if start == field => {}
                    _ => return Err(self.error("unexpected end group")),
                },
                _ => unreachable!("key() refuses wire types above 5"),
            }
            if open.is_empty() {
                return Ok(());
            }
            match self.key()? {
                Some((f, w)) => (field, wire) = (f, w),
                None => return Err(self.error("buffer ends inside a group")),
            }
        }
    }
}
