//! Prometheus remote read (`prometheus.ReadRequest`, `ReadResponse` and the streamed
//! `ChunkedReadResponse`), from `remote.proto` and `types.proto`.
//!
//! A `SAMPLES` answer is one snappy-compressed `ReadResponse`. A `STREAMED_XOR_CHUNKS`
//! answer is a sequence of frames, each a `ChunkedReadResponse` written as
//! `uvarint(length) crc32c(message) message` (the checksum Castagnoli, big endian, over
//! the message bytes), with no compression: [`write_frame`] and [`read_frame`].

use prost::Message;

use crate::remote_write::{Label, TimeSeries};
use crate::{decode_snappy, BodyError};

/// A remote-read request: queries, and the answer types the client accepts in order of
/// preference (none means `SAMPLES`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries, answered in order.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// `ResponseType` values, most preferred first.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// How the answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One `ReadResponse` with raw samples, snappy-compressed.
    Samples = 0,
    /// Frames of `ChunkedReadResponse` with XOR chunks.
    StreamedXorChunks = 1,
}

/// One query: a time range (inclusive, milliseconds) and label matchers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// First millisecond of the range.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// Last millisecond of the range.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// Every matcher must hold.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// What the client's query does with the data; a server may ignore it.
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// A label matcher.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    /// The operator (`MatchType` as an integer).
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regular expression.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Matcher operators as in `types.proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    /// `=`
    Eq = 0,
    /// `!=`
    Neq = 1,
    /// `=~`
    Re = 2,
    /// `!~`
    Nre = 3,
}

impl MatchType {
    /// The operator as written in a selector.
    pub fn operator(self) -> &'static str {
        match self {
            MatchType::Eq => "=",
            MatchType::Neq => "!=",
            MatchType::Re => "=~",
            MatchType::Nre => "!~",
        }
    }
}

/// Hints about the client's query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadHints {
    /// Query step (ms).
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// The surrounding function or aggregation.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Start (ms).
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// End (ms).
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Grouping labels.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Whether grouping is `by` (else `without`).
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// Range of a range selector (ms).
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// The `SAMPLES` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// One result per query, in the request's order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// The series of one query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// Series with their samples in time order.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One frame of a `STREAMED_XOR_CHUNKS` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    /// Series (Prometheus sends one per frame).
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Index of the query in the request these series answer.
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// One series as encoded chunks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    /// Labels, sorted.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Chunks in start-time order.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// One chunk; its time range is inclusive.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chunk {
    /// First timestamp in the chunk.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Last timestamp in the chunk.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// The encoding (`ChunkEncoding` as an integer).
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The chunk bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// Chunk encodings as in `types.proto` (the same numbers as Prometheus' `chunkenc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// Not set.
    Unknown = 0,
    /// Gorilla-style float chunk.
    Xor = 1,
    /// Native histogram chunk.
    Histogram = 2,
    /// Float native histogram chunk.
    FloatHistogram = 3,
}

/// Decodes a snappy-compressed remote-read body, with at most `max_decompressed`
/// bytes after decompression.
pub fn decode_read_request(body: &[u8], max_decompressed: usize) -> Result<ReadRequest, BodyError> {
    let raw = decode_snappy(body, max_decompressed)?;
    ReadRequest::decode(raw.as_slice()).map_err(|e| BodyError::Protobuf {
        message: "prometheus.ReadRequest",
        reason: e.to_string(),
    })
}

/// Encodes a message snappy-compressed, as a remote-read request or a `SAMPLES` answer
/// is sent.
pub fn encode_snappy_message(message: &impl Message) -> Vec<u8> {
    crate::encode_snappy(&message.encode_to_vec())
}

/// Builds a `SAMPLES` answer, snappy-compressed, from each query's series written by a
/// [`SeriesEncoder`](crate::remote_write::SeriesEncoder) (a `QueryResult` has the same
/// field 1 as a `WriteRequest`), so that every value is written, `-0.0` included, which
/// prost and Prometheus' own encoder leave out as a default.
pub fn encode_samples_response(results: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(results.iter().map(|r| r.len() + 11).sum());
    for result in results {
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(result.len() as u64, &mut out);
        out.extend_from_slice(&result);
    }
    crate::encode_snappy(&out)
}

/// Decodes a snappy-compressed `SAMPLES` answer (what a client does; for tests).
pub fn decode_read_response(
    body: &[u8],
    max_decompressed: usize,
) -> Result<ReadResponse, BodyError> {
    let raw = decode_snappy(body, max_decompressed)?;
    ReadResponse::decode(raw.as_slice()).map_err(|e| BodyError::Protobuf {
        message: "prometheus.ReadResponse",
        reason: e.to_string(),
    })
}

/// The `Content-Type` of a streamed answer.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Appends one frame holding `message` to `out`.
pub fn write_frame(out: &mut Vec<u8>, message: &ChunkedReadResponse) {
    let body = message.encode_to_vec();
    prost::encoding::encode_varint(body.len() as u64, out);
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The stream ends inside a frame.
    #[error("the stream ends inside a frame")]
    Truncated,
    /// The checksum does not match the message.
    #[error("frame checksum mismatch")]
    Checksum,
    /// The message is not a `ChunkedReadResponse`.
    #[error("frame is not a ChunkedReadResponse: {0}")]
    Protobuf(String),
}

/// Reads the frame at the start of `input`, returning it and the rest of the input;
/// what a remote-read client does, kept here to test [`write_frame`] and fuzzed.
pub fn read_frame(mut input: &[u8]) -> Result<(ChunkedReadResponse, &[u8]), FrameError> {
    let len = prost::encoding::decode_varint(&mut input).map_err(|_| FrameError::Truncated)?;
    let crc = input.first_chunk::<4>().ok_or(FrameError::Truncated)?;
    let crc = u32::from_be_bytes(*crc);
    let input = &input[4..];
    let len = usize::try_from(len).map_err(|_| FrameError::Truncated)?;
    if input.len() < len {
        return Err(FrameError::Truncated);
    }
    let (body, rest) = input.split_at(len);
    if crc32c::crc32c(body) != crc {
        return Err(FrameError::Checksum);
    }
    let message =
        ChunkedReadResponse::decode(body).map_err(|e| FrameError::Protobuf(e.to_string()))?;
    Ok((message, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let message = ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label::new("__name__", "up")],
                chunks: vec![Chunk {
                    min_time_ms: 1,
                    max_time_ms: 2,
                    r#type: ChunkEncoding::Xor as i32,
                    data: vec![0, 0],
                }],
            }],
            query_index: 3,
        };
        let mut stream = Vec::new();
        write_frame(&mut stream, &message);
        write_frame(&mut stream, &ChunkedReadResponse::default());
        let (first, rest) = read_frame(&stream).unwrap();
        assert_eq!(first, message);
        let (second, rest) = read_frame(rest).unwrap();
        assert_eq!(second, ChunkedReadResponse::default());
        assert!(rest.is_empty());
        let mut damaged = stream.clone();
        damaged[8] ^= 1;
        assert_eq!(read_frame(&damaged).unwrap_err(), FrameError::Checksum);
        assert_eq!(read_frame(&stream[..6]).unwrap_err(), FrameError::Truncated);
        // The CRC is Castagnoli: its check value for "123456789" is e3069283.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_samples_answer_keeps_negative_zero_and_empty_results() {
        let mut encoder = crate::remote_write::SeriesEncoder::default();
        encoder.push([("__name__", "x")].into_iter(), &[(1, -0.0), (2, 0.0)]);
        let body = encode_samples_response(vec![Vec::new(), encoder.finish()]);
        let response = decode_read_response(&body, 1 << 20).unwrap();
        assert_eq!(response.results.len(), 2);
        assert!(response.results[0].timeseries.is_empty());
        let samples = &response.results[1].timeseries[0].samples;
        assert_eq!(samples[0].value.to_bits(), (-0.0f64).to_bits());
        assert_eq!(samples[1].value.to_bits(), 0);
    }
}
