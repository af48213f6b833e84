//! Loki push (`logproto.PushRequest`), in both encodings Loki clients send: protobuf in a
//! snappy block (Promtail, Alloy, most client libraries) and JSON (`{"streams":[...]}`,
//! curl and scripts), optionally gzip-compressed.
//!
//! Both decode into the same [`PushStream`] form so validation sees one shape. Stream
//! labels stay as the client sent them (a selector string for protobuf, a map for JSON):
//! checking their syntax is validation's job, so the error can name the stream.

use std::io::Read;

use prost::Message;
use serde::Deserialize;

use crate::{decode_snappy, BodyError};

/// `logproto.PushRequest`: a batch of streams.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// Streams with their entries.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    /// "loki" or "otlp"; informational.
    #[prost(string, tag = "2")]
    pub format: String,
}

/// `logproto.StreamAdapter`: one stream's labels (as selector text) and entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Labels as a selector, for example `{app="api", env="prod"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Entries of the stream.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// A client-side hash of the labels; ignored.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.LabelPairAdapter`: one structured-metadata pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `logproto.EntryAdapter`: one log line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata attached to the line.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Only used by Loki in query responses; ignored on push.
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// How a pushed stream names its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamLabels {
    /// A selector string such as `{app="api"}` (protobuf pushes).
    Selector(String),
    /// Name/value pairs in the order sent (JSON pushes).
    Pairs(Vec<(String, String)>),
}

/// One decoded log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEntry {
    /// Unix time in nanoseconds.
    pub ts: i64,
    /// The line.
    pub line: String,
    /// Structured metadata pairs.
    pub metadata: Vec<(String, String)>,
}

/// One decoded stream of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushStream {
    /// Its labels as sent.
    pub labels: StreamLabels,
    /// Its entries.
    pub entries: Vec<PushEntry>,
}

/// Decodes a snappy-compressed protobuf push body, refusing to inflate past `limit`.
pub fn decode_push_protobuf(body: &[u8], limit: usize) -> Result<Vec<PushStream>, BodyError> {
    let raw = decode_snappy(body, limit)?;
    let request = PushRequest::decode(raw.as_slice()).map_err(|e| BodyError::Protobuf {
        message: "logproto.PushRequest",
        reason: e.to_string(),
    })?;
    Ok(request
        .streams
        .into_iter()
        .map(|s| PushStream {
            labels: StreamLabels::Selector(s.labels),
            entries: s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e.timestamp.map_or(0, |t| {
                        t.seconds
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i64::from(t.nanos))
                    });
                    PushEntry {
                        ts,
                        line: e.line,
                        metadata: e
                            .structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect())
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
pub fn decode_gzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    values: Vec<JsonValue>,
}

/// `["<ns>", "line"]` or `["<ns>", "line", {"k":"v"}]`, decoded with a sequence visitor
/// rather than an untagged enum, which would buffer every value before trying a shape.
struct JsonValue {
    ts: String,
    line: String,
    meta: Option<serde_json::Map<String, serde_json::Value>>,
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array [\"<unix ns>\", \"<line>\"] or [\"<unix ns>\", \"<line>\", {metadata}]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonValue, A::Error> {
                use serde::de::Error;
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                let meta = seq.next_element()?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(4, &self));
                }
                Ok(JsonValue { ts, line, meta })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Decodes a JSON push body (`{"streams":[{"stream":{...},"values":[["<ns>","line"]]}]}`).
/// Timestamps are strings of Unix nanoseconds, as Loki requires; label and metadata
/// values must be strings.
pub fn decode_push_json(body: &[u8]) -> Result<Vec<PushStream>, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    let push: JsonPush =
        serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for (i, s) in push.streams.into_iter().enumerate() {
        let labels = string_pairs(s.stream, || format!("streams[{i}].stream"))?;
        let mut entries = Vec::with_capacity(s.values.len());
        for (j, v) in s.values.into_iter().enumerate() {
            let JsonValue { ts, line, meta } = v;
            let meta = match meta {
                None => Vec::new(),
                Some(meta) => string_pairs(meta, || format!("streams[{i}].values[{j}][2]"))?,
            };
            let ts = ts.parse::<i64>().map_err(|_| {
                BodyError::Json(format!(
                    "streams[{i}].values[{j}][0]: timestamp {ts:?} is not an integer of Unix nanoseconds"
                ))
            })?;
            entries.push(PushEntry {
                ts,
                line,
                metadata: meta,
            });
        }
        streams.push(PushStream {
            labels: StreamLabels::Pairs(labels),
            entries,
        });
    }
    Ok(streams)
}

fn string_pairs(
    map: serde_json::Map<String, serde_json::Value>,
    field: impl Fn() -> String,
) -> Result<Vec<(String, String)>, BodyError> {
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(BodyError::Json(format!(
                "{}: value of {k:?} must be a string, got {other}",
                field()
            ))),
        })
        .collect()
}

/// Encodes streams as a snappy-compressed protobuf push body, as Promtail does (for
/// tests, benchmarks and tools).
pub fn encode_push_protobuf(streams: &[PushStream]) -> Vec<u8> {
    let request = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: match &s.labels {
                    StreamLabels::Selector(sel) => sel.clone(),
                    StreamLabels::Pairs(pairs) => {
                        let inner: Vec<String> = pairs
                            .iter()
                            .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
                            .collect();
                        format!("{{{}}}", inner.join(", "))
                    }
                },
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.ts.div_euclid(1_000_000_000),
                            nanos: e.ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    crate::encode_snappy(&request.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<PushStream> {
        vec![PushStream {
            labels: StreamLabels::Pairs(vec![("app".into(), "api".into())]),
            entries: vec![
                PushEntry {
                    ts: 1_700_000_000_123_456_789,
                    line: "hello \"world\"".into(),
                    metadata: vec![("trace_id".into(), "abc".into())],
                },
                PushEntry {
                    ts: -5,
                    line: String::new(),
                    metadata: vec![],
                },
            ],
        }]
    }

    #[test]
    fn protobuf_round_trip_keeps_nanoseconds_and_metadata() {
        let body = encode_push_protobuf(&sample());
        let back = decode_push_protobuf(&body, 1 << 20).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(
            back[0].labels,
            StreamLabels::Selector("{app=\"api\"}".into())
        );
        assert_eq!(back[0].entries, sample()[0].entries);
    }

    #[test]
    fn json_with_and_without_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[["1700000000000000001","a"],["1700000000000000002","b",{"user":"u1"}]]}]}"#;
        let back = decode_push_json(body).unwrap();
        assert_eq!(
            back[0].labels,
            StreamLabels::Pairs(vec![
                ("app".into(), "api".into()),
                ("env".into(), "prod".into())
            ])
        );
        assert_eq!(back[0].entries[0].ts, 1_700_000_000_000_000_001);
        assert_eq!(
            back[0].entries[1].metadata,
            vec![("user".into(), "u1".into())]
        );
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = decode_push_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["x","l"]]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("streams[0].values[0][0]"), "{err}");
        let err = decode_push_json(br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("streams[0].stream") && err.contains("\"a\""),
            "{err}"
        );
        for bad in [
            &br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#[..],
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{},"x"]]}]}"#,
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{"k":2}]]}]}"#,
            br#"{"streams":[{"stream":{"a":"b"},"values":[[1,"l"]]}]}"#,
        ] {
            assert!(
                decode_push_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(decode_push_json(b"garbage").is_err());
        assert!(decode_push_json(b"").is_err());
    }

    #[test]
    fn bad_snappy_and_truncated_protobuf_are_errors() {
        assert!(decode_push_protobuf(b"\xff\xff\xff\xff\xff", 1 << 20).is_err());
        let body = encode_push_protobuf(&sample());
        let raw = crate::decode_snappy(&body, 1 << 20).unwrap();
        let truncated = crate::encode_snappy(&raw[..raw.len() - 3]);
        assert!(decode_push_protobuf(&truncated, 1 << 20).is_err());
    }

    #[test]
    fn gzip_is_bounded() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode_gzip(&gz, 20_000).unwrap().len(), 10_000);
        assert!(matches!(
            decode_gzip(&gz, 100),
            Err(BodyError::TooLarge { .. })
        ));
        assert!(decode_gzip(b"not gzip", 100).is_err());
    }
}
