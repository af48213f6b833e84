//! Loki push (`logproto.PushRequest`), in both encodings Loki clients send: protobuf in a
//! snappy block (Promtail, Alloy, most client libraries) and JSON (`{"streams":[...]}`,
//! curl and scripts), optionally gzip-compressed.
//!
//! Both decode into the same [`PushStream`] form so validation sees one shape. Stream
//! labels stay as the client sent them (a selector string for protobuf, a map for JSON):
//! checking their syntax is validation's job, so the error can name the stream.

use std::io::Read;

use prost::Message;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::wire::{Reader, LEN, VARINT};
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

/// The message name in errors.
const PUSH: &str = "logproto.PushRequest";

/// Decodes a snappy-compressed protobuf push body, refusing to inflate past `limit`.
pub fn decode_push_protobuf(body: &[u8], limit: usize) -> Result<Vec<PushStream>, BodyError> {
    let raw = decode_snappy(body, limit)?;
    decode_push_message(&raw)
}

/// How many streams, entries and structured-metadata pairs a push holds, read from its
/// framing alone (nothing is allocated), so the bytes its decoded form will take can
/// be charged before it is decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Streams.
    pub streams: usize,
    /// Entries of all streams.
    pub entries: usize,
    /// Structured-metadata pairs of all entries.
    pub metadata: usize,
}

impl PushCounts {
    /// Heap bytes of the decoded streams for these counts and a message of
    /// `message_len` bytes (every string copied, at most the message's size).
    pub fn decoded_bytes(&self, message_len: usize) -> usize {
        use std::mem::size_of;
        self.streams
            .saturating_mul(size_of::<PushStream>())
            .saturating_add(self.entries.saturating_mul(size_of::<PushEntry>()))
            .saturating_add(self.metadata.saturating_mul(size_of::<(String, String)>()))
            .saturating_add(message_len)
    }
}

/// Counts the parts of a protobuf `logproto.PushRequest` (already decompressed)
/// without decoding them; framing errors are found here, the rest by the decoder.
pub fn count_push(buf: &[u8]) -> Result<PushCounts, BodyError> {
    let mut counts = PushCounts::default();
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        if (field, wire) != (1, LEN) {
            r.skip(field, wire)?;
            continue;
        }
        counts.streams += 1;
        let mut stream = Reader::new(r.bytes()?, PUSH);
        while let Some((field, wire)) = stream.key()? {
            if (field, wire) != (2, LEN) {
                stream.skip(field, wire)?;
                continue;
            }
            counts.entries += 1;
            counts.metadata += count_len_fields(stream.bytes()?, 3)?;
        }
    }
    Ok(counts)
}

/// How many times field `field` occurs with wire type LEN in `buf`.
fn count_len_fields(buf: &[u8], field: u32) -> Result<usize, BodyError> {
    let mut n = 0;
    let mut r = Reader::new(buf, PUSH);
    while let Some((f, wire)) = r.key()? {
        if (f, wire) == (field, LEN) {
            n += 1;
        }
        r.skip(f, wire)?;
    }
    Ok(n)
}

/// Decodes a protobuf `logproto.PushRequest` (already decompressed) straight into
/// [`PushStream`]s: each line and label text is copied once, from the message, and
/// every vector is allocated at its final size from counts the message justifies.
/// (Decoding into the `prost` messages first and converting held two copies of every
/// entry, about 150 bytes for a two-byte empty entry.) Accepts exactly what `prost`
/// accepts for [`PushRequest`].
pub fn decode_push_message(buf: &[u8]) -> Result<Vec<PushStream>, BodyError> {
    let mut streams = Vec::with_capacity(count_len_fields(buf, 1)?);
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => streams.push(decode_stream(r.bytes()?)?),
            // The format is informational; checked as prost checks a string.
            (2, LEN) => {
                string(&mut r)?;
            }
            (1 | 2, other) => return Err(r.wrong_wire_type(other, LEN)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok(streams)
}

/// A length-delimited string field, checked as UTF-8 as `prost` checks it.
fn string<'a>(r: &mut Reader<'a>) -> Result<&'a str, BodyError> {
    let bytes = r.bytes()?;
    std::str::from_utf8(bytes)
        .map_err(|_| r.error("invalid string value: data is not UTF-8 encoded"))
}

fn decode_stream(buf: &[u8]) -> Result<PushStream, BodyError> {
    let mut labels = "";
    let mut entries = Vec::with_capacity(count_len_fields(buf, 2)?);
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => labels = string(&mut r)?,
            (2, LEN) => entries.push(decode_entry(r.bytes()?)?),
            (3, VARINT) => {
                r.varint()?;
            }
            (1 | 2, other) => return Err(r.wrong_wire_type(other, LEN)),
            (3, other) => return Err(r.wrong_wire_type(other, VARINT)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok(PushStream {
        labels: StreamLabels::Selector(labels.to_owned()),
        entries,
    })
}

fn decode_entry(buf: &[u8]) -> Result<PushEntry, BodyError> {
    // A timestamp sent twice is merged field by field, as protobuf merges messages.
    let mut timestamp: Option<(i64, i32)> = None;
    let mut line = "";
    let mut metadata = Vec::with_capacity(count_len_fields(buf, 3)?);
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => {
                let (seconds, nanos) = timestamp.unwrap_or((0, 0));
                timestamp = Some(decode_timestamp(r.bytes()?, seconds, nanos)?);
            }
            (2, LEN) => line = string(&mut r)?,
            (3, LEN) => {
                let (name, value) = decode_pair(r.bytes()?)?;
                metadata.push((name.to_owned(), value.to_owned()));
            }
            // Parsed labels are only sent by Loki in query answers; checked, not kept.
            (4, LEN) => {
                decode_pair(r.bytes()?)?;
            }
            (1..=4, other) => return Err(r.wrong_wire_type(other, LEN)),
            (_, other) => r.skip(field, other)?,
        }
    }
    let ts = timestamp.map_or(0, |(seconds, nanos)| {
        seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(nanos))
    });
    Ok(PushEntry {
        ts,
        line: line.to_owned(),
        metadata,
    })
}

fn decode_timestamp(buf: &[u8], mut seconds: i64, mut nanos: i32) -> Result<(i64, i32), BodyError> {
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, VARINT) => seconds = r.varint()? as i64,
            (2, VARINT) => nanos = r.varint()? as i32,
            (1 | 2, other) => return Err(r.wrong_wire_type(other, VARINT)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok((seconds, nanos))
}

fn decode_pair(buf: &[u8]) -> Result<(&str, &str), BodyError> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader::new(buf, PUSH);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => name = string(&mut r)?,
            (2, LEN) => value = string(&mut r)?,
            (1 | 2, other) => return Err(r.wrong_wire_type(other, LEN)),
            (_, other) => r.skip(field, other)?,
        }
    }
    Ok((name, value))
}

/// The size a gzip body declares for its content (the ISIZE field of its last eight
/// bytes: the size modulo 2^32, checked by the inflater at the end), so that it can be
/// charged and checked against a limit before inflating. `None` when the body is too
/// short to be gzip.
pub fn gzip_declared_len(body: &[u8]) -> Option<usize> {
    let trailer: [u8; 4] = body.get(body.len().checked_sub(4)?..)?.try_into().ok()?;
    (body.len() >= 18).then(|| u32::from_le_bytes(trailer) as usize)
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

/// Decodes a JSON push body (`{"streams":[{"stream":{...},"values":[["<ns>","line"]]}]}`).
/// Timestamps are strings of Unix nanoseconds, as Loki requires; label and metadata
/// values must be strings.
///
/// The body is read straight into [`PushStream`]s, entry by entry: a timestamp is
/// parsed where it stands (never kept as a string) and no intermediate form of the
/// whole document is built, so a push of many tiny entries holds one [`PushEntry`] and
/// its line per entry (an intermediate document and its conversion held about three
/// times that). Errors name the field (`streams[2].values[7][0]`).
pub fn decode_push_json(body: &[u8]) -> Result<Vec<PushStream>, BodyError> {
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    let JsonPush(streams) =
        serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))?;
    Ok(streams)
}

/// A bound on the heap bytes a JSON push takes once decoded and validated, read off
/// the body without parsing it, to be charged before parsing. Each object or array
/// opened (`{`, `[`) becomes at most one stream, entry or map and its validated copy
/// (128 bytes), each string (two `"`) at most one allocation of its own (32 bytes of
/// allocator overhead at most, its text counted in the body's size twice: decoded and
/// validated). An ordinary entry of a hundred-byte line is charged about four bytes
/// per byte, a body of empty objects about forty.
pub fn json_decoded_bytes_bound(body: &[u8]) -> usize {
    let (mut opened, mut quotes) = (0usize, 0usize);
    for &b in body {
        opened += usize::from(b == b'{' || b == b'[');
        quotes += usize::from(b == b'"');
    }
    body.len()
        .saturating_mul(2)
        .saturating_add(opened.saturating_mul(128))
        .saturating_add(quotes.saturating_mul(16))
}

/// `{"streams": [...]}`; other keys are ignored.
struct JsonPush(Vec<PushStream>);

impl<'de> Deserialize<'de> for JsonPush {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonPush;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object {\"streams\": [...]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonPush, A::Error> {
                let mut streams = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key != "streams" {
                        map.next_value::<IgnoredAny>()?;
                    } else if streams.is_some() {
                        return Err(A::Error::duplicate_field("streams"));
                    } else {
                        streams = Some(map.next_value_seed(StreamsSeed)?);
                    }
                }
                streams
                    .map(JsonPush)
                    .ok_or_else(|| A::Error::missing_field("streams"))
            }
        }
        d.deserialize_map(V)
    }
}

/// The `streams` array.
struct StreamsSeed;

impl<'de> DeserializeSeed<'de> for StreamsSeed {
    type Value = Vec<PushStream>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed {
    type Value = Vec<PushStream>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of streams")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut streams = Vec::new();
        while let Some(stream) = seq.next_element_seed(StreamSeed { i: streams.len() })? {
            streams.push(stream);
        }
        Ok(streams)
    }
}

/// `streams[i]`: `{"stream": {labels}, "values": [entries]}`, both optional.
struct StreamSeed {
    i: usize,
}

impl<'de> DeserializeSeed<'de> for StreamSeed {
    type Value = PushStream;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed {
    type Value = PushStream;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a stream {\"stream\": {...}, \"values\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PushStream, A::Error> {
        let i = self.i;
        let (mut labels, mut entries) = (None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "stream" if labels.is_some() => return Err(A::Error::duplicate_field("stream")),
                "stream" => {
                    let pairs = map.next_value::<serde_json::Map<String, Value>>()?;
                    labels = Some(
                        string_pairs(pairs, || format!("streams[{i}].stream"))
                            .map_err(A::Error::custom)?,
                    );
                }
                "values" if entries.is_some() => return Err(A::Error::duplicate_field("values")),
                "values" => entries = Some(map.next_value_seed(EntriesSeed { i })?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(PushStream {
            labels: StreamLabels::Pairs(labels.unwrap_or_default()),
            entries: entries.unwrap_or_default(),
        })
    }
}

/// `streams[i].values`.
struct EntriesSeed {
    i: usize,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Vec<PushEntry>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed {
    type Value = Vec<PushEntry>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element_seed(EntrySeed {
            i: self.i,
            j: entries.len(),
        })? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// `streams[i].values[j]`: `["<unix ns>", "line"]` or `["<unix ns>", "line", {metadata}]`.
struct EntrySeed {
    i: usize,
    j: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = PushEntry;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = PushEntry;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(
            "an array [\"<unix ns>\", \"<line>\"] or [\"<unix ns>\", \"<line>\", {metadata}]",
        )
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PushEntry, A::Error> {
        let (i, j) = (self.i, self.j);
        let ts = seq
            .next_element_seed(TimestampSeed)?
            .ok_or_else(|| A::Error::invalid_length(0, &self))?;
        let line: String = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &self))?;
        let meta: Option<Option<serde_json::Map<String, Value>>> = seq.next_element()?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(A::Error::invalid_length(4, &self));
        }
        let metadata = match meta.flatten() {
            None => Vec::new(),
            Some(meta) => string_pairs(meta, || format!("streams[{i}].values[{j}][2]"))
                .map_err(A::Error::custom)?,
        };
        let ts = ts.map_err(|text| {
            A::Error::custom(format!(
                "streams[{i}].values[{j}][0]: timestamp {text:?} is not an integer of Unix nanoseconds"
            ))
        })?;
        Ok(PushEntry { ts, line, metadata })
    }
}

/// A timestamp string parsed where it stands: the nanoseconds, or the text when it is
/// not an integer (for the error, which names the entry).
struct TimestampSeed;

impl<'de> DeserializeSeed<'de> for TimestampSeed {
    type Value = Result<i64, String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TimestampSeed {
    type Value = Result<i64, String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string of Unix nanoseconds")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(text.parse::<i64>().map_err(|_| text.to_string()))
    }
}

/// A JSON object's pairs, whose values must all be strings; the error names `field`.
fn string_pairs(
    map: serde_json::Map<String, Value>,
    field: impl Fn() -> String,
) -> Result<Vec<(String, String)>, String> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format!(
                "{}: value of {k:?} must be a string, got {other}",
                field()
            )),
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

/// The reference decoder: `prost`'s messages, converted to [`PushStream`]s (what this
/// module used before [`decode_push_message`]). Not for serving; the unit tests and the
/// fuzz target check that the direct decoder accepts and reads exactly what this does.
pub fn decode_push_via_prost(raw: &[u8]) -> Result<Vec<PushStream>, prost::DecodeError> {
    let request = PushRequest::decode(raw)?;
    Ok(request
        .streams
        .into_iter()
        .map(|s| PushStream {
            labels: StreamLabels::Selector(s.labels),
            entries: s
                .entries
                .into_iter()
                .map(|e| PushEntry {
                    ts: e.timestamp.map_or(0, |t| {
                        t.seconds
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i64::from(t.nanos))
                    }),
                    line: e.line,
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                })
                .collect(),
        })
        .collect())
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
    fn json_tolerates_what_loki_tolerates() {
        // Unknown keys, null metadata, missing "stream" or "values", a label sent twice
        // (the last value kept in the first place, as a JSON object reads).
        let body = br#"{"x":1,"streams":[{"values":[["5","a",null]],"y":[1]},{"stream":{"b":"1","a":"2","b":"3"}}]}"#;
        let back = decode_push_json(body).unwrap();
        assert_eq!(back[0].labels, StreamLabels::Pairs(vec![]));
        assert_eq!(back[0].entries[0].ts, 5);
        assert!(back[0].entries[0].metadata.is_empty());
        assert_eq!(
            back[1].labels,
            StreamLabels::Pairs(vec![("b".into(), "3".into()), ("a".into(), "2".into())])
        );
        assert!(back[1].entries.is_empty());
        assert!(decode_push_json(br#"{"streams":[],"streams":[]}"#).is_err());
        assert!(decode_push_json(br#"{"other":[]}"#).is_err());
    }

    #[test]
    fn json_bound_follows_structure_not_only_size() {
        let entry = format!(r#"["1700000000000000000","{}"],"#, "x".repeat(100));
        let values = entry.repeat(50);
        let ordinary = format!(
            r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{}]}}]}}"#,
            values.trim_end_matches(',')
        );
        assert!(decode_push_json(ordinary.as_bytes()).is_ok());
        let bound = json_decoded_bytes_bound(ordinary.as_bytes());
        assert!(bound < 5 * ordinary.len(), "{bound} for {}", ordinary.len());
        let empty_objects = b"{},".repeat(1000);
        assert!(json_decoded_bytes_bound(&empty_objects) >= 40 * empty_objects.len());
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
    fn direct_decoder_sizes_its_vectors_from_counts() {
        let body = encode_push_protobuf(&sample());
        let raw = crate::decode_snappy(&body, 1 << 20).unwrap();
        let counts = count_push(&raw).unwrap();
        assert_eq!(
            counts,
            PushCounts {
                streams: 1,
                entries: 2,
                metadata: 1
            }
        );
        let streams = decode_push_message(&raw).unwrap();
        assert_eq!(streams[0].entries.capacity(), 2);
        assert_eq!(streams, decode_push_via_prost(&raw).unwrap());
        // A two-byte empty entry costs one PushEntry, the bound decoded_bytes states.
        let mut one_stream = vec![0x0a, 0x00, 0x12, 0x00, 0x12, 0x00];
        one_stream[1] = 4;
        let counts = count_push(&one_stream).unwrap();
        assert_eq!(counts.entries, 2);
        assert!(counts.decoded_bytes(one_stream.len()) < 200);
        assert!(count_push(&[0x0a, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn direct_decoder_agrees_with_prost(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            let ours = decode_push_message(&bytes);
            match decode_push_via_prost(&bytes) {
                Ok(theirs) => proptest::prop_assert_eq!(ours.expect("prost accepted it"), theirs),
                Err(_) => proptest::prop_assert!(ours.is_err(), "prost refused, ours accepted {:?}", ours),
            }
        }

        #[test]
        fn direct_decoder_agrees_on_encoded_pushes(
            lines in proptest::collection::vec("\\PC{0,8}", 0..6),
            ts in proptest::prelude::any::<i64>(),
        ) {
            let streams = vec![PushStream {
                labels: StreamLabels::Selector("{a=\"b\"}".into()),
                entries: lines
                    .into_iter()
                    .map(|line| PushEntry { ts, line, metadata: vec![("k".into(), "v".into())] })
                    .collect(),
            }];
            let raw = crate::decode_snappy(&encode_push_protobuf(&streams), 1 << 20).unwrap();
            proptest::prop_assert_eq!(decode_push_message(&raw).unwrap(), decode_push_via_prost(&raw).unwrap());
        }
    }

    #[test]
    fn gzip_declares_its_size() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gzip_declared_len(&gz), Some(10_000));
        assert_eq!(gzip_declared_len(b"short"), None);
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
