//! Record framing: `[u32 LE payload length][u32 LE crc32 of payload][payload]`.
//!
//! The same framing is used inside segments and checkpoints. A frame whose length is zero is
//! never valid: a file that was extended by the filesystem but whose blocks were never written
//! reads back as zeros, and `crc32("") == 0` would otherwise make that garbage look like a run of
//! empty records.

use std::fmt;
use std::io::{self, Read};

use crate::error::WalError;

/// Bytes of the frame header in front of every payload.
pub(crate) const FRAME_HEADER_LEN: usize = 8;

/// The largest payload one record may carry.
///
/// Bounds the allocation replay makes for a length read from disk, so a corrupt length field
/// can never make recovery allocate gigabytes before the checksum rejects it.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;

/// The length rule every record follows, in segments and in checkpoints.
pub(crate) fn check_len(len: usize) -> Result<(), WalError> {
    if len == 0 {
        return Err(WalError::EmptyRecord);
    }
    if len > MAX_RECORD_LEN {
        return Err(WalError::RecordTooLarge {
            len,
            max: MAX_RECORD_LEN,
        });
    }
    Ok(())
}

/// Appends one complete frame holding `payload` to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, payload: &[u8]) {
    buf.reserve(FRAME_HEADER_LEN + payload.len());
    buf.extend_from_slice(&header(payload));
    buf.extend_from_slice(payload);
}

/// The frame header for `payload`, for writers that write header and payload separately.
pub(crate) fn header(payload: &[u8]) -> [u8; FRAME_HEADER_LEN] {
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&frame_len_bytes(payload.len()));
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    header
}

/// Reserves room for a frame header at the end of `buf` and returns where the frame starts.
///
/// The payload is then appended to `buf` in place and [`finish`] fills in the header.
pub(crate) fn begin(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    start
}

/// Fills in the header of the frame that [`begin`] started at `start`; the payload is everything
/// after the header. The caller has already checked the payload length.
pub(crate) fn finish(buf: &mut [u8], start: usize) {
    let (slot, payload) = buf[start..].split_at_mut(FRAME_HEADER_LEN);
    slot.copy_from_slice(&header(payload));
}

fn frame_len_bytes(len: usize) -> [u8; 4] {
    debug_assert!(
        len <= MAX_RECORD_LEN,
        "payload length {len} was not checked"
    );
    (len as u32).to_le_bytes()
}

/// Why the bytes at some offset are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Fewer bytes than a frame header remain in the file.
    ShortHeader { remaining: u64 },
    /// The length field is zero.
    EmptyFrame,
    /// The length field is above [`MAX_RECORD_LEN`].
    LengthTooLarge { len: u64 },
    /// The length field points past the end of the file.
    ShortPayload { len: u64, remaining: u64 },
    /// The payload does not match its checksum.
    ChecksumMismatch { stored: u32, computed: u32 },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::ShortHeader { remaining } => {
                write!(f, "short frame header: {remaining} bytes left")
            }
            Invalid::EmptyFrame => write!(f, "zero frame length"),
            Invalid::LengthTooLarge { len } => {
                write!(f, "frame length {len} above the limit of {MAX_RECORD_LEN}")
            }
            Invalid::ShortPayload { len, remaining } => {
                write!(f, "frame length {len} but only {remaining} bytes left")
            }
            Invalid::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
        }
    }
}

/// What [`FrameReader::next_frame`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A valid record payload.
    Record(&'a [u8]),
    /// The end of the file, exactly at a frame boundary.
    End,
    /// The bytes at [`FrameReader::offset`] are not a valid frame.
    Invalid(Invalid),
}

/// Reads frames from a file of known length.
///
/// The offset only advances over valid frames, so after [`Frame::Invalid`] it is the length of
/// the valid prefix: the point to truncate at.
pub(crate) struct FrameReader<R> {
    reader: R,
    offset: u64,
    end: u64,
    payload: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// Reads frames from `reader`, which is positioned at `offset` of a file `end` bytes long.
    pub(crate) fn new(reader: R, offset: u64, end: u64) -> Self {
        debug_assert!(offset <= end);
        FrameReader {
            reader,
            offset,
            end,
            payload: Vec::new(),
        }
    }

    /// The file offset of the next frame.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next frame. I/O errors are returned as such; malformed bytes are not errors but
    /// [`Frame::Invalid`].
    pub(crate) fn next_frame(&mut self) -> io::Result<Frame<'_>> {
        let remaining = self.end - self.offset;
        if remaining == 0 {
            return Ok(Frame::End);
        }
        if remaining < FRAME_HEADER_LEN as u64 {
            return Ok(Frame::Invalid(Invalid::ShortHeader { remaining }));
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        self.reader.read_exact(&mut header)?;
        let len = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 {
            return Ok(Frame::Invalid(Invalid::EmptyFrame));
        }
        if len > MAX_RECORD_LEN as u64 {
            return Ok(Frame::Invalid(Invalid::LengthTooLarge { len }));
        }
        let payload_room = remaining - FRAME_HEADER_LEN as u64;
        if len > payload_room {
            return Ok(Frame::Invalid(Invalid::ShortPayload {
                len,
                remaining: payload_room,
            }));
        }
        // `len` is at most MAX_RECORD_LEN, so it fits in usize.
        self.payload.resize(len as usize, 0);
        self.reader.read_exact(&mut self.payload)?;
        let computed = crc32fast::hash(&self.payload);
        if computed != stored {
            return Ok(Frame::Invalid(Invalid::ChecksumMismatch {
                stored,
                computed,
            }));
        }
        self.offset += FRAME_HEADER_LEN as u64 + len;
        Ok(Frame::Record(&self.payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Invalid>, u64) {
        let mut reader = FrameReader::new(bytes, 0, bytes.len() as u64);
        let mut records = Vec::new();
        loop {
            match reader.next_frame().unwrap() {
                Frame::Record(payload) => records.push(payload.to_vec()),
                Frame::End => return (records, None, reader.offset()),
                Frame::Invalid(invalid) => return (records, Some(invalid), reader.offset()),
            }
        }
    }

    #[test]
    fn layout_is_length_crc_payload() {
        let mut buf = Vec::new();
        encode(&mut buf, b"abc");
        assert_eq!(&buf[..4], &3u32.to_le_bytes());
        assert_eq!(&buf[4..8], &crc32fast::hash(b"abc").to_le_bytes());
        assert_eq!(&buf[8..], b"abc");
    }

    #[test]
    fn begin_finish_matches_encode() {
        let mut direct = vec![7u8];
        encode(&mut direct, b"hello world");
        let mut in_place = vec![7u8];
        let start = begin(&mut in_place);
        in_place.extend_from_slice(b"hello world");
        finish(&mut in_place, start);
        assert_eq!(direct, in_place);
    }

    #[test]
    fn zero_filled_tail_is_invalid() {
        let mut buf = Vec::new();
        encode(&mut buf, b"x");
        let valid = buf.len() as u64;
        buf.extend_from_slice(&[0; 64]);
        let (records, invalid, offset) = read_all(&buf);
        assert_eq!(records, vec![b"x".to_vec()]);
        assert_eq!(invalid, Some(Invalid::EmptyFrame));
        assert_eq!(offset, valid);
    }

    #[test]
    fn huge_length_is_rejected_before_reading() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&[0; 12]);
        let (_, invalid, offset) = read_all(&buf);
        assert_eq!(
            invalid,
            Some(Invalid::LengthTooLarge {
                len: u64::from(u32::MAX)
            })
        );
        assert_eq!(offset, 0);
    }

    proptest! {
        #[test]
        fn frames_round_trip(records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..40)) {
            let mut buf = Vec::new();
            for record in &records {
                encode(&mut buf, record);
            }
            let (decoded, invalid, offset) = read_all(&buf);
            prop_assert_eq!(decoded, records);
            prop_assert_eq!(invalid, None);
            prop_assert_eq!(offset, buf.len() as u64);
        }

        #[test]
        fn any_truncation_yields_the_complete_prefix(
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..100), 1..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for record in &records {
                encode(&mut buf, record);
                ends.push(buf.len());
            }
            let cut = cut.index(buf.len());
            let complete = ends.iter().filter(|end| **end <= cut).count();
            let (decoded, invalid, offset) = read_all(&buf[..cut]);
            prop_assert_eq!(&decoded[..], &records[..complete]);
            let valid_len = if complete == 0 { 0 } else { ends[complete - 1] };
            prop_assert_eq!(offset, valid_len as u64);
            prop_assert_eq!(invalid.is_some(), cut != valid_len);
        }

        #[test]
        fn any_flipped_byte_stops_at_its_record(
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..100), 1..20),
            at in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for record in &records {
                encode(&mut buf, record);
                ends.push(buf.len());
            }
            let at = at.index(buf.len());
            buf[at] ^= mask;
            let hit = ends.iter().position(|end| at < *end).unwrap();
            let (decoded, invalid, _) = read_all(&buf);
            prop_assert_eq!(&decoded[..], &records[..hit]);
            prop_assert!(invalid.is_some());
        }
    }
}
