//! A zero-copy decoder for remote-write requests.
//!
//! A remote-write client resends every series' labels with every sample, so a request
//! is mostly label strings of series the server already has. Decoding them into a
//! `String` each (what a generated decoder does) was a quarter of Pitot's ingest CPU.
//! This decoder borrows names and values from the decompressed body and puts the
//! labels and samples of all series into two flat vectors, so a request costs three
//! allocations whatever its size. It accepts exactly what the `prost` messages in
//! [`crate::remote_write`] accept (a fuzz target checks the two against each other).

use prost::Message;

use crate::remote_write::{MetricMetadata, Sample};
use crate::BodyError;

/// A decoded remote-write request borrowing its label strings from the body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteRequestView<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    /// Where each series' labels and samples end in the flat vectors.
    ends: Vec<(u32, u32)>,
    /// Metric family metadata (rare, so decoded into owned messages).
    pub metadata: Vec<MetricMetadata>,
}

/// Where one label's message, name and value lie in its series' bytes.
#[derive(Debug, Clone, PartialEq)]
struct LabelRanges {
    span: (usize, usize),
    name: (usize, usize),
    value: (usize, usize),
}

/// One series of a [`WriteRequestView`]: its labels as sent (order and empty values
/// included) and its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesView<'v, 'a> {
    /// Label pairs in request order.
    pub labels: &'v [(&'a str, &'a str)],
    /// Samples in request order.
    pub samples: &'v [Sample],
}

impl<'a> WriteRequestView<'a> {
    /// Decodes a protobuf `prometheus.WriteRequest` (already decompressed).
    pub fn decode(buf: &'a [u8]) -> Result<Self, BodyError> {
        let mut view = WriteRequestView::default();
        // One series' label ranges at a time, reused across series.
        let mut ranges = Vec::new();
        let mut r = Reader::new(buf);
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, LEN) => {
                    let series = r.bytes()?;
                    view.decode_series(series, &mut ranges)?;
                }
                (3, LEN) => {
                    let bytes = r.bytes()?;
                    let metadata =
                        MetricMetadata::decode(bytes).map_err(|e| BodyError::Protobuf {
                            message: "prometheus.WriteRequest",
                            reason: e.to_string(),
                        })?;
                    view.metadata.push(metadata);
                }
                (1 | 3, other) => return Err(r.wrong_wire_type(other, LEN)),
                (_, other) => r.skip(field, other)?,
            }
        }
        Ok(view)
    }

    /// Decodes one series; label strings are collected as byte ranges of `buf` in
    /// `ranges` first and turned into `&str` at the end.
    fn decode_series(
        &mut self,
        buf: &'a [u8],
        ranges: &mut Vec<LabelRanges>,
    ) -> Result<(), BodyError> {
        let mut r = Reader::new(buf);
        ranges.clear();
        while let Some((field, wire)) = r.key()? {
            match (field, wire) {
                (1, LEN) => {
                    let label = r.bytes()?;
                    ranges.push(label_ranges(label, r.pos - label.len())?);
                }
                (2, LEN) => {
                    let sample = r.bytes()?;
                    self.samples.push(decode_sample(sample)?);
                }
                // Exemplars (3) and native histograms (4) are accepted and not stored.
                (1..=3, other) if other != LEN => return Err(r.wrong_wire_type(other, LEN)),
                (_, other) => r.skip(field, other)?,
            }
        }
        self.push_labels(buf, ranges)?;
        let labels = u32::try_from(self.labels.len()).map_err(|_| too_many())?;
        let samples = u32::try_from(self.samples.len()).map_err(|_| too_many())?;
        self.ends.push((labels, samples));
        Ok(())
    }

    /// Turns one series' label ranges into strings. Labels are sent back to back, and
    /// their framing bytes (keys, and lengths under 128) are ASCII, so one UTF-8 check
    /// over the span of all of them validates every name and value at once: a slice of
    /// valid UTF-8 cut next to ASCII bytes is valid UTF-8. Anything else (long strings,
    /// samples between labels, invalid text) takes the check of each string on its own.
    fn push_labels(&mut self, buf: &'a [u8], ranges: &[LabelRanges]) -> Result<(), BodyError> {
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            return Ok(());
        };
        let (lo, hi) = (first.span.0, last.span.1);
        if let Ok(text) = std::str::from_utf8(&buf[lo..hi]) {
            let start = self.labels.len();
            let all = ranges.iter().all(|r| {
                match (
                    text.get(r.name.0 - lo..r.name.1 - lo),
                    text.get(r.value.0 - lo..r.value.1 - lo),
                ) {
                    (Some(name), Some(value)) => {
                        self.labels.push((name, value));
                        true
                    }
                    _ => false,
                }
            });
            if all {
                return Ok(());
            }
            self.labels.truncate(start);
        }
        for r in ranges {
            let name = std::str::from_utf8(&buf[r.name.0..r.name.1]);
            let value = std::str::from_utf8(&buf[r.value.0..r.value.1]);
            match (name, value) {
                (Ok(name), Ok(value)) => self.labels.push((name, value)),
                _ => {
                    return Err(BodyError::Protobuf {
                        message: "prometheus.WriteRequest",
                        reason: "a label name or value is not valid UTF-8".to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the request holds no series.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total samples of all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Total label pairs of all series, as sent.
    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// The series in request order.
    pub fn series(&self) -> impl ExactSizeIterator<Item = SeriesView<'_, 'a>> + '_ {
        let mut start = (0usize, 0usize);
        self.ends.iter().map(move |&(l, s)| {
            let (l, s) = (l as usize, s as usize);
            let view = SeriesView {
                labels: &self.labels[start.0..l],
                samples: &self.samples[start.1..s],
            };
            start = (l, s);
            view
        })
    }
}

fn too_many() -> BodyError {
    BodyError::Protobuf {
        message: "prometheus.WriteRequest",
        reason: "more than 4294967295 labels or samples".to_string(),
    }
}

/// The ranges of a label message `buf` that starts at offset `at` of its series.
fn label_ranges(buf: &[u8], at: usize) -> Result<LabelRanges, BodyError> {
    // What every client sends: the name (field 1), then the value (field 2), each
    // shorter than 128 bytes and nothing else. Anything else takes the general path.
    if let [0x0a, name_len, rest @ ..] = buf {
        let name_len = usize::from(*name_len);
        if name_len < 0x80 {
            if let Some([0x12, value_len, value @ ..]) = rest.get(name_len..) {
                if *value_len < 0x80 && usize::from(*value_len) == value.len() {
                    let value_at = at + 4 + name_len;
                    return Ok(LabelRanges {
                        span: (at, at + buf.len()),
                        name: (at + 2, at + 2 + name_len),
                        value: (value_at, value_at + value.len()),
                    });
                }
            }
        }
    }
    let mut r = Reader::new(buf);
    // A missing name or value is empty (proto3), placed inside the span.
    let mut out = LabelRanges {
        span: (at, at + buf.len()),
        name: (at, at),
        value: (at, at),
    };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1 | 2, LEN) => {
                let bytes = r.bytes()?;
                let range = (at + r.pos - bytes.len(), at + r.pos);
                if field == 1 {
                    out.name = range;
                } else {
                    out.value = range;
                }
            }
            (1 | 2, other) => return Err(r.wrong_wire_type(other, LEN)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok(out)
}

fn decode_sample(buf: &[u8]) -> Result<Sample, BodyError> {
    // What every client sends: the value (field 1), then the timestamp (field 2) and
    // nothing else. Anything else takes the general path.
    if let [0x09, rest @ ..] = buf {
        if let Some((value, [0x10, timestamp @ ..])) = rest.split_first_chunk::<8>() {
            let mut r = Reader::new(timestamp);
            if let Ok(t) = r.varint() {
                if r.pos == timestamp.len() {
                    return Ok(Sample {
                        value: f64::from_bits(u64::from_le_bytes(*value)),
                        timestamp: t as i64,
                    });
                }
            }
        }
    }
    let mut r = Reader::new(buf);
    let mut sample = Sample {
        value: 0.0,
        timestamp: 0,
    };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, FIXED64) => sample.value = f64::from_bits(r.fixed64()?),
            (2, VARINT) => sample.timestamp = r.varint()? as i64,
            (1, other) => return Err(r.wrong_wire_type(other, FIXED64)),
            (2, other) => return Err(r.wrong_wire_type(other, VARINT)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok(sample)
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Deepest nesting of groups skipped (as `prost`'s recursion limit).
const MAX_GROUP_DEPTH: usize = 100;

/// A cursor over protobuf wire format.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn error(&self, reason: impl Into<String>) -> BodyError {
        BodyError::Protobuf {
            message: "prometheus.WriteRequest",
            reason: reason.into(),
        }
    }

    fn wrong_wire_type(&self, got: u8, want: u8) -> BodyError {
        self.error(format!(
            "invalid wire type {got} (expected {want}) at byte {}",
            self.pos
        ))
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, BodyError> {
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
    fn key(&mut self) -> Result<Option<(u32, u8)>, BodyError> {
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
    fn take(&mut self, n: u64) -> Result<&'a [u8], BodyError> {
        let rest = self.buf.len() - self.pos;
        if n > rest as u64 {
            return Err(self.error(format!("field of {n} bytes but only {rest} bytes left")));
        }
        let bytes = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(bytes)
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], BodyError> {
        let n = self.varint()?;
        self.take(n)
    }

    fn fixed64(&mut self) -> Result<u64, BodyError> {
        let bytes = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(le))
    }

    /// Skips a field Pitot does not read, groups included.
    fn skip(&mut self, field: u32, wire: u8) -> Result<(), BodyError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{Exemplar, Label, TimeSeries, WriteRequest};
    use proptest::prelude::*;

    /// Series as owned label pairs and (timestamp, value bits).
    type Plain = Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>;

    fn owned(view: &WriteRequestView<'_>) -> Plain {
        view.series()
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                    s.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect()
    }

    fn expected(req: &WriteRequest) -> Plain {
        req.timeseries
            .iter()
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    s.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_what_prost_writes_and_skips_exemplars() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![Label::new("__name__", "up"), Label::new("job", "é")],
                    samples: vec![
                        Sample {
                            value: -0.0,
                            timestamp: -5,
                        },
                        Sample {
                            value: f64::NAN,
                            timestamp: i64::MAX,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        labels: vec![Label::new("trace_id", "abc")],
                        value: 1.0,
                        timestamp: 3,
                    }],
                },
                TimeSeries {
                    labels: vec![],
                    samples: vec![],
                    exemplars: vec![],
                },
            ],
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "up".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        };
        let bytes = req.encode_to_vec();
        let view = WriteRequestView::decode(&bytes).unwrap();
        // Compared with prost's reading of the same bytes: proto3 does not encode a
        // zero value, so -0.0 comes back as 0.0 from both.
        let prost = WriteRequest::decode(&bytes[..]).unwrap();
        assert_eq!(owned(&view), expected(&prost));
        assert_eq!(view.metadata, req.metadata);
        assert_eq!(view.len(), 2);
        assert_eq!(view.sample_count(), 2);
    }

    #[test]
    fn refuses_what_prost_refuses() {
        // A label whose name is not UTF-8.
        let bad_utf8 = [0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert!(WriteRequest::decode(&bad_utf8[..]).is_err());
        assert!(WriteRequestView::decode(&bad_utf8).is_err());
        // A length running past the end.
        let truncated = [0x0a, 0x10, 0x0a];
        assert!(WriteRequestView::decode(&truncated).is_err());
        // Field number 0.
        assert!(WriteRequestView::decode(&[0x02, 0x00]).is_err());
        // A series sent as a varint.
        assert!(WriteRequest::decode(&[0x08, 0x01][..]).is_err());
        assert!(WriteRequestView::decode(&[0x08, 0x01]).is_err());
    }

    #[test]
    fn skips_unknown_fields_and_groups() {
        // field 2 varint, field 9 group containing field 1 fixed32, then one series.
        let mut bytes = vec![0x10, 0x05, 0x4b, 0x0d, 1, 2, 3, 4, 0x4c];
        let series = TimeSeries {
            labels: vec![Label::new("__name__", "x")],
            samples: vec![Sample {
                value: 1.5,
                timestamp: 7,
            }],
            exemplars: vec![],
        };
        let encoded = series.encode_to_vec();
        bytes.push(0x0a);
        bytes.push(encoded.len() as u8);
        bytes.extend_from_slice(&encoded);
        let prost = WriteRequest::decode(&bytes[..]).unwrap();
        let view = WriteRequestView::decode(&bytes).unwrap();
        assert_eq!(owned(&view), expected(&prost));
        assert_eq!(view.len(), 1);
    }

    #[test]
    fn long_and_interleaved_labels_are_read_exactly() {
        let long = "ü".repeat(100); // 200 bytes: a two-byte length prefix
        let series = |labels: &[(&str, &str)]| TimeSeries {
            labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            samples: vec![],
            exemplars: vec![],
        };
        let a = series(&[("__name__", "a"), ("long", &long), ("z", "é")]).encode_to_vec();
        let sample = Sample {
            value: 2.0,
            timestamp: 9,
        }
        .encode_to_vec();
        let label = Label::new("k", "v").encode_to_vec();
        // A series with a sample between its labels.
        let mut b = Vec::new();
        b.push(0x0a);
        b.push(label.len() as u8);
        b.extend_from_slice(&label);
        b.push(0x12);
        b.push(sample.len() as u8);
        b.extend_from_slice(&sample);
        b.push(0x0a);
        b.push(label.len() as u8);
        b.extend_from_slice(&label);
        let mut bytes = Vec::new();
        for series in [&a, &b] {
            bytes.push(0x0a);
            prost::encoding::encode_varint(series.len() as u64, &mut bytes);
            bytes.extend_from_slice(series);
        }
        let prost = WriteRequest::decode(&bytes[..]).unwrap();
        let view = WriteRequestView::decode(&bytes).unwrap();
        assert_eq!(owned(&view), expected(&prost));
        assert_eq!(view.series().next().unwrap().labels[1].1, long);
    }

    fn arb_request() -> impl Strategy<Value = WriteRequest> {
        let label = ("[a-z_]{0,6}", "\\PC{0,6}|\\PC{60,90}").prop_map(|(n, v)| Label::new(n, v));
        let sample = (any::<i64>(), any::<u64>()).prop_map(|(t, v)| Sample {
            timestamp: t,
            value: f64::from_bits(v),
        });
        let series = (
            prop::collection::vec(label, 0..5),
            prop::collection::vec(sample, 0..5),
        )
            .prop_map(|(labels, samples)| TimeSeries {
                labels,
                samples,
                exemplars: vec![],
            });
        prop::collection::vec(series, 0..6).prop_map(|timeseries| WriteRequest {
            timeseries,
            metadata: vec![],
        })
    }

    /// A label or sample message of the shape every client sends (which the decoder
    /// reads on a fast path), with lengths, keys and varints that may be off.
    fn arb_near_canonical_part() -> impl Strategy<Value = Vec<u8>> {
        let len = prop_oneof![0u8..8, 0x7eu8..=0x82, any::<u8>()];
        let key = |k: u8| prop_oneof![4 => Just(k), 1 => any::<u8>()];
        let label = (
            key(0x0a),
            len.clone(),
            prop::collection::vec(any::<u8>(), 0..6),
            key(0x12),
            len,
            prop_oneof![
                prop::collection::vec(prop_oneof![b'a'..=b'z', any::<u8>()], 0..8),
                prop::collection::vec(b'a'..=b'z', 0x80..0x83),
            ],
        )
            .prop_map(|(k1, n, name, k2, m, value)| {
                let mut out = vec![k1, n];
                out.extend_from_slice(&name);
                out.extend_from_slice(&[k2, m]);
                out.extend_from_slice(&value);
                (0x0a, out)
            });
        let sample = (
            key(0x09),
            any::<[u8; 8]>(),
            key(0x10),
            prop::collection::vec(any::<u8>(), 0..11),
        )
            .prop_map(|(k1, value, k2, varint)| {
                let mut out = vec![k1];
                out.extend_from_slice(&value);
                out.push(k2);
                out.extend_from_slice(&varint);
                (0x12, out)
            });
        prop_oneof![label, sample].prop_map(|(key, message)| {
            let mut out = vec![key];
            prost::encoding::encode_varint(message.len() as u64, &mut out);
            out.extend_from_slice(&message);
            out
        })
    }

    proptest! {
        #[test]
        fn near_canonical_labels_and_samples_decode_as_prost_decodes_them(
            parts in prop::collection::vec(arb_near_canonical_part(), 1..6)
        ) {
            let series = parts.concat();
            let mut bytes = vec![0x0a];
            prost::encoding::encode_varint(series.len() as u64, &mut bytes);
            bytes.extend_from_slice(&series);
            let prost = WriteRequest::decode(&bytes[..]);
            let view = WriteRequestView::decode(&bytes);
            match (&prost, &view) {
                (Ok(prost), Ok(view)) => prop_assert_eq!(owned(view), expected(prost)),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "prost {:?}, view {:?}", prost, view),
            }
        }

        #[test]
        fn agrees_with_prost(req in arb_request()) {
            let bytes = req.encode_to_vec();
            let view = WriteRequestView::decode(&bytes).unwrap();
            let prost = WriteRequest::decode(&bytes[..]).unwrap();
            prop_assert_eq!(owned(&view), expected(&prost));
            prop_assert_eq!(view.len(), req.timeseries.len());
        }

        #[test]
        fn never_accepts_what_prost_refuses_nor_differs(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let prost = WriteRequest::decode(&bytes[..]);
            let view = WriteRequestView::decode(&bytes);
            if let Ok(prost) = &prost {
                let view = view.expect("prost accepted it");
                prop_assert_eq!(owned(&view), expected(prost));
            }
        }
    }
}
