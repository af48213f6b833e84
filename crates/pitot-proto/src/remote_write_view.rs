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
use crate::wire::{Reader, FIXED64, LEN, VARINT};
use crate::BodyError;

/// The message name in errors.
const MESSAGE: &str = "prometheus.WriteRequest";

/// A decoded remote-write request borrowing its label strings from the body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteRequestView<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    /// Where each series' labels and samples end in the flat vectors.
    ends: Vec<(u32, u32)>,
    /// Metric family metadata (rare, so decoded into owned messages).
    pub metadata: Vec<MetricMetadata>,
    /// Exemplars the request carried (field 3 of a series), counted here and decoded
    /// by [`decode_exemplars`] when there are any.
    pub exemplars: u64,
    /// Native histogram samples the request carried (field 4 of a series), likewise
    /// counted, not stored.
    pub histograms: u64,
}

/// Bytes one decoded exemplar may take beyond its labels' text (its struct, its label
/// vector and label structs, allocator overhead), for charging before
/// [`decode_exemplars`].
pub const EXEMPLAR_DECODED_BYTES: usize = 256;

/// Decodes the exemplars of a remote write 1.0 request (field 3 of each series), each
/// with the index of its series in [`WriteRequestView::series`]. A second pass over the
/// body, run only when the view counted exemplars: they are rare, and decoding them
/// owned keeps the view small.
pub fn decode_exemplars(
    buf: &[u8],
) -> Result<Vec<(usize, crate::remote_write::Exemplar)>, BodyError> {
    let mut out = Vec::new();
    let mut r = Reader::new(buf, MESSAGE);
    let mut index = 0;
    while let Some((field, wire)) = r.key()? {
        if (field, wire) != (1, LEN) {
            r.skip(field, wire)?;
            continue;
        }
        let mut series = Reader::new(r.bytes()?, MESSAGE);
        while let Some((f, w)) = series.key()? {
            if (f, w) == (3, LEN) {
                let bytes = series.bytes()?;
                let exemplar = <crate::remote_write::Exemplar as prost::Message>::decode(bytes)
                    .map_err(|e| BodyError::Protobuf {
                        message: "prometheus.Exemplar",
                        reason: e.to_string(),
                    })?;
                out.push((index, exemplar));
            } else {
                series.skip(f, w)?;
            }
        }
        index += 1;
    }
    Ok(out)
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
        Self::decode_counted(buf, count(buf)?)
    }

    /// Decodes a request whose parts [`count`] has counted: the flat vectors are
    /// allocated once at their final size (no doubling, so no slack of up to half),
    /// from counts the body's own bytes justify. Wrong counts only cost regrowth.
    pub fn decode_counted(buf: &'a [u8], counts: WireCounts) -> Result<Self, BodyError> {
        let mut view = WriteRequestView {
            labels: Vec::with_capacity(counts.labels),
            samples: Vec::with_capacity(counts.samples),
            ends: Vec::with_capacity(counts.series),
            metadata: Vec::with_capacity(counts.metadata),
            exemplars: 0,
            histograms: 0,
        };
        // One series' label ranges at a time, reused across series.
        let mut ranges = Vec::new();
        let mut r = Reader::new(buf, MESSAGE);
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
                            message: MESSAGE,
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
        let mut r = Reader::new(buf, MESSAGE);
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
                // Exemplars (3) are counted here and decoded by `decode_exemplars`;
                // native histograms (4) are counted, not stored: the push refuses them
                // by name.
                (3, LEN) => {
                    r.bytes()?;
                    self.exemplars += 1;
                }
                (4, LEN) => {
                    r.bytes()?;
                    self.histograms += 1;
                }
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
                        message: MESSAGE,
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

/// How many series, label pairs, samples and metadata entries a request holds, read
/// from its framing alone: no string is checked or copied and nothing is allocated, so
/// limits that depend on these counts (ingestion rate, bytes in flight) can refuse a
/// request before it is decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounts {
    /// Series (`TimeSeries` messages).
    pub series: usize,
    /// Label pairs of all series.
    pub labels: usize,
    /// Samples of all series.
    pub samples: usize,
    /// Metric metadata entries.
    pub metadata: usize,
}

impl WireCounts {
    /// Heap bytes of the decoded [`WriteRequestView`]'s vectors for these counts (each
    /// metadata entry counted at its size before its strings). Every part is at least
    /// two bytes on the wire, so this is at most 40 times the body's size.
    pub fn view_bytes(&self) -> usize {
        use std::mem::size_of;
        self.labels
            .saturating_mul(size_of::<(&str, &str)>())
            .saturating_add(self.samples.saturating_mul(size_of::<Sample>()))
            .saturating_add(self.series.saturating_mul(size_of::<(u32, u32)>()))
            .saturating_add(self.metadata.saturating_mul(size_of::<MetricMetadata>()))
    }
}

/// Counts the parts of a protobuf `prometheus.WriteRequest` (already decompressed)
/// without decoding them. Framing errors (a length past the end, a bad key) are found
/// here; errors inside labels and samples are found by the decoder.
pub fn count(buf: &[u8]) -> Result<WireCounts, BodyError> {
    let mut counts = WireCounts::default();
    let mut r = Reader::new(buf, MESSAGE);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => {
                counts.series += 1;
                let mut series = Reader::new(r.bytes()?, MESSAGE);
                while let Some((field, wire)) = series.key()? {
                    match (field, wire) {
                        (1, LEN) => counts.labels += 1,
                        (2, LEN) => counts.samples += 1,
                        _ => {}
                    }
                    series.skip(field, wire)?;
                }
            }
            (3, LEN) => {
                counts.metadata += 1;
                r.bytes()?;
            }
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok(counts)
}

fn too_many() -> BodyError {
    BodyError::Protobuf {
        message: MESSAGE,
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
    let mut r = Reader::new(buf, MESSAGE);
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
            let mut r = Reader::new(timestamp, MESSAGE);
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
    let mut r = Reader::new(buf, MESSAGE);
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
    fn counts_match_the_decoded_view_and_size_it_exactly() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![Label::new("__name__", "up"), Label::new("job", "a")],
                    samples: vec![
                        Sample {
                            value: 1.0,
                            timestamp: 1,
                        };
                        3
                    ],
                    exemplars: vec![],
                },
                TimeSeries::default(),
            ],
            metadata: vec![MetricMetadata::default()],
        };
        let bytes = req.encode_to_vec();
        let counts = count(&bytes).unwrap();
        assert_eq!(
            counts,
            WireCounts {
                series: 2,
                labels: 2,
                samples: 3,
                metadata: 1
            }
        );
        let view = WriteRequestView::decode_counted(&bytes, counts).unwrap();
        assert_eq!(view.labels.capacity(), 2);
        assert_eq!(view.samples.capacity(), 3);
        assert_eq!(view.ends.capacity(), 2);
        // Two-byte parts are the worst case the documented bound covers.
        let empty_labels = [0x0a, 0x08, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00];
        let counts = count(&empty_labels).unwrap();
        assert_eq!(counts.labels, 4);
        assert!(counts.view_bytes() <= 40 * empty_labels.len());
        // A declared length past the end is refused before anything is allocated.
        assert!(count(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
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
