//! Prometheus remote write 1.0 (`prometheus.WriteRequest`).

use prost::Message;

use crate::{decode_snappy, BodyError};

/// A remote-write request: series with their samples, and metric metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series in this request.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric family metadata (type, help, unit).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: its labels, samples and exemplars.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Label pairs, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, ordered by time within the series.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

/// One label pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

impl Label {
    /// A label pair.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One float sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// An exemplar attached to a series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Exemplar labels (often a trace ID).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// Metadata of a metric family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// The metric type (`MetricType` as an integer).
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// UNIT text.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Metric types as in `types.proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Unknown.
    Unknown = 0,
    /// Counter.
    Counter = 1,
    /// Gauge.
    Gauge = 2,
    /// Histogram.
    Histogram = 3,
    /// Gauge histogram.
    Gaugehistogram = 4,
    /// Summary.
    Summary = 5,
    /// Info.
    Info = 6,
    /// State set.
    Stateset = 7,
}

impl MetricType {
    /// The lowercase name used by the Prometheus metadata API.
    pub fn api_name(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Gaugehistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }
}

/// Decodes a snappy-compressed remote-write body, with at most `max_decompressed`
/// bytes after decompression.
pub fn decode_write_request(
    body: &[u8],
    max_decompressed: usize,
) -> Result<WriteRequest, BodyError> {
    let raw = decode_snappy(body, max_decompressed)?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| BodyError::Protobuf {
        message: "prometheus.WriteRequest",
        reason: e.to_string(),
    })
}

/// Encodes a request as a client would send it (used by tests and load tools).
pub fn encode_write_request(request: &WriteRequest) -> Vec<u8> {
    crate::encode_snappy(&request.encode_to_vec())
}

/// Encodes the series of `request` as protobuf (uncompressed) writing every field, even
/// one holding its default value: prost, like Prometheus' gogo code, leaves out a sample
/// value equal to `0.0`, so `-0.0` would decode as `+0.0`. Both encodings are valid
/// protobuf; this one carries every bit. Exemplars and metadata are not written.
pub fn encode_series_exact(request: &WriteRequest) -> Vec<u8> {
    let mut encoder = SeriesEncoder::default();
    for ts in &request.timeseries {
        let samples: Vec<(i64, f64)> = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        encoder.push(
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
            &samples,
        );
    }
    encoder.finish()
}

/// Writes series straight into the exact encoding of [`encode_series_exact`] (a
/// `WriteRequest` of series only), without building the messages first: what
/// translators from other protocols produce, so that the receiver reads it back as the
/// same view remote write stores from.
#[derive(Debug, Default)]
pub struct SeriesEncoder {
    out: Vec<u8>,
    series: usize,
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl SeriesEncoder {
    /// Appends one series; `labels` is iterated twice (sizes, then bytes).
    pub fn push<'a, I>(&mut self, labels: I, samples: &[(i64, f64)])
    where
        I: Iterator<Item = (&'a str, &'a str)> + Clone,
    {
        let pair_len = |name: &str, value: &str| {
            1 + varint_len(name.len() as u64)
                + name.len()
                + 1
                + varint_len(value.len() as u64)
                + value.len()
        };
        let sample_len = |ts: i64| 1 + 8 + 1 + varint_len(ts as u64);
        let mut series_len = 0usize;
        for (name, value) in labels.clone() {
            let pair = pair_len(name, value);
            series_len += 1 + varint_len(pair as u64) + pair;
        }
        for (ts, _) in samples {
            let sample = sample_len(*ts);
            series_len += 1 + varint_len(sample as u64) + sample;
        }
        let out = &mut self.out;
        out.reserve(1 + varint_len(series_len as u64) + series_len);
        out.push(1 << 3 | 2);
        put_varint(out, series_len as u64);
        for (name, value) in labels {
            out.push(1 << 3 | 2);
            put_varint(out, pair_len(name, value) as u64);
            out.push(1 << 3 | 2);
            put_varint(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            out.push(2 << 3 | 2);
            put_varint(out, value.len() as u64);
            out.extend_from_slice(value.as_bytes());
        }
        for (ts, value) in samples {
            out.push(2 << 3 | 2);
            put_varint(out, sample_len(*ts) as u64);
            out.push(1 << 3 | 1);
            out.extend_from_slice(&value.to_bits().to_le_bytes());
            out.push(2 << 3);
            put_varint(out, *ts as u64);
        }
        self.series += 1;
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Series written so far.
    pub fn series(&self) -> usize {
        self.series
    }

    /// The encoded request.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_snappy;

    #[test]
    fn the_exact_encoding_keeps_negative_zero() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "z")],
                samples: vec![
                    Sample {
                        value: -0.0,
                        timestamp: -5,
                    },
                    Sample {
                        value: 1.5,
                        timestamp: 7,
                    },
                ],
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        let decoded = WriteRequest::decode(encode_series_exact(&request).as_slice()).unwrap();
        let bits: Vec<(i64, u64)> = decoded.timeseries[0]
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value.to_bits()))
            .collect();
        assert_eq!(bits, [(-5, (-0.0f64).to_bits()), (7, 1.5f64.to_bits())]);
        assert_eq!(decoded.timeseries[0].labels, request.timeseries[0].labels);
    }
    use proptest::prelude::*;

    fn sample_request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "x".into(),
                    },
                ],
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 1000,
                }],
                exemplars: vec![],
            }],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "up".into(),
                help: "h".into(),
                unit: String::new(),
            }],
        }
    }

    #[test]
    fn round_trip_and_clear_errors() {
        let req = sample_request();
        let body = encode_write_request(&req);
        assert_eq!(decode_write_request(&body, 1 << 20).unwrap(), req);
        assert!(matches!(
            decode_write_request(&[], 1 << 20),
            Err(BodyError::Empty)
        ));
        assert!(matches!(
            decode_write_request(b"\xff\xff\xff\xff\xff", 1 << 20),
            Err(BodyError::Snappy(_))
        ));
        let truncated = encode_snappy(&req.encode_to_vec()[..10]);
        assert!(matches!(
            decode_write_request(&truncated, 1 << 20),
            Err(BodyError::Protobuf { .. })
        ));
        assert!(matches!(
            decode_write_request(&body, 4),
            Err(BodyError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_write_request(&bytes, 1 << 16);
            let _ = decode_write_request(&encode_snappy(&bytes), 1 << 16);
        }
    }
}
