//! OTLP (the OpenTelemetry protocol) over HTTP: the bodies of metrics and logs exports
//! decoded ([`wire`]), and translated into what Pitot stores, as the systems its users
//! know do: metrics into Prometheus series as Prometheus' and Mimir's OTLP receivers do
//! ([`metrics`]), logs into Loki streams as Loki 3 does ([`logs`]).
//!
//! The message types come from the `opentelemetry-proto` crate (generated from the
//! OTLP `.proto` files, with its serde mapping for OTLP JSON), so the wire format is the
//! project's, not a hand copy. Nothing here touches storage: the HTTP layer applies the
//! same limits, metering and answers as every other push.

pub mod bound;
pub mod logs;
pub mod metrics;
pub mod names;
pub mod values;
pub mod wire;

pub use bound::decoded_bytes_bound;
pub use logs::{translate_logs, LogsOptions, LogsTranslation};
pub use metrics::{
    translate_metrics, MetricsOptions, MetricsTranslation, OutputTooLarge, TranslatedExemplar,
};
pub use opentelemetry_proto::tonic as proto;
pub use wire::{
    decode_logs, decode_metrics, logs_response, metrics_response, status_body, Encoding, OtlpError,
};
