//! Prometheus remote write 2.0 (`io.prometheus.write.v2.Request`), declared from the
//! specification's `types.proto`: label names and values, help and unit texts are
//! references into one symbols table; metadata travels with each series.
//!
//! Pitot stores float samples, exemplars and metadata; native histograms are decoded
//! only far enough to be counted (kept as their raw bytes), so the receiver can name
//! them in its answer and its `...-Written` headers instead of acknowledging them. A
//! request converts to the 1.0 form the rest of the write path takes, exemplars with
//! their labels resolved.

use std::collections::BTreeMap;

use prost::Message;

use crate::remote_write::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};

/// The request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// Every string the request refers to; the first is the empty string.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries2>,
}

/// One series of a 2.0 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries2 {
    /// Pairs of symbol references: name, value, name, value, ...
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample2>,
    /// Native histogram samples, kept undecoded (counted, not stored).
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub histograms: Vec<Vec<u8>>,
    /// Exemplars.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar2>,
    /// The series' metric metadata.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata2>,
}

/// A float sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample2 {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// When the counter or histogram started (created timestamp), milliseconds; 0 if
    /// unknown.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// An exemplar.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar2 {
    /// Label symbol references.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// Metric metadata: the type (numbered as 1.0's `MetricType`), help and unit symbols.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata2 {
    /// The metric type.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Symbol reference of the help text.
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol reference of the unit.
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// A 2.0 request in the 1.0 form, with what 1.0 cannot carry counted.
#[derive(Debug, Default)]
pub struct Converted {
    /// Series with their samples and exemplars (labels resolved), and metadata (one
    /// entry per metric family).
    pub request: WriteRequest,
    /// Native histogram samples in the request.
    pub histograms: usize,
    /// Exemplars in the request.
    pub exemplars: usize,
}

/// Decodes an (uncompressed) 2.0 request. Fields 1 to 3 are reserved in 2.0 because
/// they are 1.0's: a body holding them is a 1.0 request sent as 2.0, refused rather than
/// read as an empty 2.0 request.
pub fn decode(raw: &[u8]) -> Result<Request, crate::BodyError> {
    let error = |reason: String| crate::BodyError::Protobuf {
        message: "io.prometheus.write.v2.Request",
        reason,
    };
    let mut buf = raw;
    while !buf.is_empty() {
        let (tag, wire_type) =
            prost::encoding::decode_key(&mut buf).map_err(|e| error(e.to_string()))?;
        if (1..=3).contains(&tag) {
            return Err(error(format!(
                "field {tag} is reserved in 2.0 (it is remote write 1.0's); is this a 1.0 request sent with proto=io.prometheus.write.v2.Request?"
            )));
        }
        prost::encoding::skip_field(wire_type, tag, &mut buf, Default::default())
            .map_err(|e| error(e.to_string()))?;
    }
    Request::decode(raw).map_err(|e| error(e.to_string()))
}

/// Resolves the symbol references of `request`; an out-of-range reference or an odd
/// number of label references is an error naming the series.
pub fn to_v1(request: Request) -> Result<Converted, String> {
    let symbols = &request.symbols;
    let symbol = |series: usize, what: &str, r: u32| {
        symbols.get(r as usize).ok_or_else(|| {
            format!(
                "timeseries[{series}]: {what} refers to symbol {r}, but the request has {} symbols",
                symbols.len()
            )
        })
    };
    let mut out = Converted::default();
    let mut families: BTreeMap<String, MetricMetadata> = BTreeMap::new();
    for (i, ts) in request.timeseries.iter().enumerate() {
        if ts.labels_refs.len() % 2 != 0 {
            return Err(format!(
                "timeseries[{i}]: labels_refs holds {} references; they come in name/value pairs",
                ts.labels_refs.len()
            ));
        }
        let mut labels = Vec::with_capacity(ts.labels_refs.len() / 2);
        for pair in ts.labels_refs.chunks_exact(2) {
            labels.push(Label {
                name: symbol(i, "a label name", pair[0])?.clone(),
                value: symbol(i, "a label value", pair[1])?.clone(),
            });
        }
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            if e.labels_refs.len() % 2 != 0 {
                return Err(format!(
                    "timeseries[{i}]: an exemplar's labels_refs holds {} references; they come in name/value pairs",
                    e.labels_refs.len()
                ));
            }
            let mut labels = Vec::with_capacity(e.labels_refs.len() / 2);
            for pair in e.labels_refs.chunks_exact(2) {
                labels.push(Label {
                    name: symbol(i, "an exemplar label name", pair[0])?.clone(),
                    value: symbol(i, "an exemplar label value", pair[1])?.clone(),
                });
            }
            exemplars.push(crate::remote_write::Exemplar {
                labels,
                value: e.value,
                timestamp: e.timestamp,
            });
        }
        if let Some(m) = &ts.metadata {
            let help = symbol(i, "help_ref", m.help_ref)?;
            let unit = symbol(i, "unit_ref", m.unit_ref)?;
            let name = labels.iter().find(|l| l.name == "__name__");
            if let (Some(name), true) =
                (name, m.r#type != 0 || !help.is_empty() || !unit.is_empty())
            {
                families
                    .entry(name.value.clone())
                    .or_insert_with(|| MetricMetadata {
                        r#type: m.r#type,
                        metric_family_name: name.value.clone(),
                        help: help.clone(),
                        unit: unit.clone(),
                    });
            }
        }
        out.histograms += ts.histograms.len();
        out.exemplars += ts.exemplars.len();
        out.request.timeseries.push(TimeSeries {
            labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    value: s.value,
                    timestamp: s.timestamp,
                })
                .collect(),
            exemplars,
        });
    }
    out.request.metadata = families.into_values().collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            symbols: [
                "",
                "__name__",
                "up",
                "job",
                "node",
                "Whether the target is up",
                "seconds",
            ]
            .map(String::from)
            .to_vec(),
            timeseries: vec![TimeSeries2 {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![Sample2 {
                    value: -0.0,
                    timestamp: 5,
                    start_timestamp: 1,
                }],
                histograms: vec![vec![8, 1]],
                exemplars: vec![Exemplar2 {
                    labels_refs: vec![3, 4],
                    value: 1.0,
                    timestamp: 5,
                }],
                metadata: Some(Metadata2 {
                    r#type: 2,
                    help_ref: 5,
                    unit_ref: 6,
                }),
            }],
        }
    }

    #[test]
    fn symbols_resolve_to_the_v1_form() {
        let raw = request().encode_to_vec();
        let converted = to_v1(decode(&raw).expect("decodes")).expect("converts");
        let ts = &converted.request.timeseries[0];
        assert_eq!(
            ts.labels,
            vec![Label::new("__name__", "up"), Label::new("job", "node")]
        );
        assert_eq!(ts.samples[0].timestamp, 5);
        assert_eq!((converted.histograms, converted.exemplars), (1, 1));
        let meta = &converted.request.metadata[0];
        assert_eq!(
            (meta.r#type, meta.help.as_str(), meta.unit.as_str()),
            (2, "Whether the target is up", "seconds")
        );
    }

    #[test]
    fn a_v1_request_is_not_read_as_an_empty_v2_request() {
        let v1 = crate::remote_write::WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "x")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
                exemplars: vec![],
            }],
            metadata: vec![],
        };
        let e = decode(&v1.encode_to_vec()).unwrap_err();
        assert!(e.to_string().contains("1.0 request"), "{e}");
    }

    #[test]
    fn bad_references_name_the_series() {
        let mut bad = request();
        bad.timeseries[0].labels_refs = vec![1, 99];
        let e = to_v1(bad).unwrap_err();
        assert!(
            e.starts_with("timeseries[0]: a label value refers to symbol 99"),
            "{e}"
        );
        let mut odd = request();
        odd.timeseries[0].labels_refs = vec![1];
        assert!(to_v1(odd).unwrap_err().contains("name/value pairs"));
    }
}
