//! OTLP/HTTP bodies: the request messages in binary protobuf or JSON (the encoding the
//! `Content-Type` names), and the answers in the same encoding: the export response
//! (with `partial_success` when something was rejected) or a `google.rpc.Status`.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (protobuf's JSON mapping with OTLP's exceptions: hex trace
    /// and span IDs, enums as integers).
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` header names (parameters ignored), or why none.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Encoding, OtlpError> {
        let media = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(OtlpError::ContentType(
                content_type.unwrap_or("").to_string(),
            )),
        }
    }

    /// The `Content-Type` of answers in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why an OTLP body cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The `Content-Type` is neither OTLP encoding.
    #[error("unsupported Content-Type {0:?}: OTLP/HTTP takes application/x-protobuf or application/json")]
    ContentType(String),
    /// The body is not the protobuf message.
    #[error("the body is not a valid protobuf {message}: {reason}")]
    Protobuf {
        /// The message expected.
        message: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The body is not the JSON message.
    #[error("the body is not a valid OTLP JSON {message}: {reason}")]
    Json {
        /// The message expected.
        message: &'static str,
        /// What the decoder said (with line and column).
        reason: String,
    },
}

impl OtlpError {
    /// The stable reason ID of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            OtlpError::ContentType(_) => "otlp_unsupported_content_type",
            OtlpError::Protobuf { .. } => "otlp_invalid_protobuf",
            OtlpError::Json { .. } => "otlp_invalid_json",
        }
    }
}

fn decode<M: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
    message: &'static str,
) -> Result<M, OtlpError> {
    match encoding {
        Encoding::Protobuf => M::decode(body).map_err(|e| OtlpError::Protobuf {
            message,
            reason: e.to_string(),
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| OtlpError::Json {
            message,
            reason: e.to_string(),
        }),
    }
}

fn encode<M: Message + serde::Serialize>(message: &M, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        // Serializing generated messages to a vector cannot fail.
        Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
    }
}

/// Decodes an `ExportMetricsServiceRequest`.
pub fn decode_metrics(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceRequest, OtlpError> {
    decode(body, encoding, "ExportMetricsServiceRequest")
}

/// Decodes an `ExportLogsServiceRequest`.
pub fn decode_logs(body: &[u8], encoding: Encoding) -> Result<ExportLogsServiceRequest, OtlpError> {
    decode(body, encoding, "ExportLogsServiceRequest")
}

/// The metrics export response; `partial_success` is set when `rejected` is non-zero
/// or there is a message to give.
pub fn metrics_response(rejected: u64, message: String, encoding: Encoding) -> Vec<u8> {
    let partial_success =
        (rejected > 0 || !message.is_empty()).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected.min(i64::MAX as u64) as i64,
            error_message: message,
        });
    encode(&ExportMetricsServiceResponse { partial_success }, encoding)
}

/// The logs export response, as [`metrics_response`].
pub fn logs_response(rejected: u64, message: String, encoding: Encoding) -> Vec<u8> {
    let partial_success = (rejected > 0 || !message.is_empty()).then(|| ExportLogsPartialSuccess {
        rejected_log_records: rejected.min(i64::MAX as u64) as i64,
        error_message: message,
    });
    encode(&ExportLogsServiceResponse { partial_success }, encoding)
}

/// `google.rpc.Status`, the body OTLP/HTTP gives every 4xx and 5xx answer.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct Status {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong, for the client's log.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The gRPC code that goes with an HTTP status, as the gRPC/HTTP mapping gives it.
fn grpc_code(http_status: u16) -> i32 {
    match http_status {
        400 => 3,       // INVALID_ARGUMENT
        401 => 16,      // UNAUTHENTICATED
        403 => 7,       // PERMISSION_DENIED
        404 => 5,       // NOT_FOUND
        413 | 429 => 8, // RESOURCE_EXHAUSTED
        415 => 3,
        503 => 14, // UNAVAILABLE
        _ => 2,    // UNKNOWN
    }
}

/// The body of an error answer with HTTP status `http_status`.
pub fn status_body(http_status: u16, message: String, encoding: Encoding) -> Vec<u8> {
    encode(
        &Status {
            code: grpc_code(http_status),
            message,
        },
        encoding,
    )
}
