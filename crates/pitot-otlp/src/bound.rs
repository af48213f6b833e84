//! What decoding an OTLP body will allocate, estimated from its bytes before it is
//! decoded, so the in-flight budgets are charged before the memory is taken (a body of
//! tiny nested messages decodes to many times its size).

use crate::wire::Encoding;

/// Bytes charged per nested message: about the size of the larger generated OTLP
/// structs (data points, metrics) plus an allocation's overhead.
const PER_MESSAGE: usize = 224;

/// An estimate of the bytes decoding `body` allocates: every length-delimited field
/// whose payload reads as protobuf is charged as a message of [`PER_MESSAGE`] bytes,
/// and every byte four times (strings and bytes copied, packed numbers widened to eight
/// bytes from at least two); for JSON, the bound of Loki's JSON push decoder (objects,
/// arrays and strings counted). A body that is not protobuf at all is charged by size.
pub fn decoded_bytes_bound(body: &[u8], encoding: Encoding) -> usize {
    match encoding {
        Encoding::Json => pitot_proto::loki_push::json_decoded_bytes_bound(body),
        Encoding::Protobuf => pitot_proto::nested_messages(body)
            .unwrap_or(0)
            .saturating_mul(PER_MESSAGE)
            .saturating_add(body.len().saturating_mul(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_are_charged() {
        let body = [0x0a, 0x06, 0x0a, 0x00, 0x12, 0x02, b'a', b'b'];
        assert_eq!(
            decoded_bytes_bound(&body, Encoding::Protobuf),
            2 * PER_MESSAGE + 4 * 8
        );
        // A body of empty messages is charged for every one of them.
        let empties = [0x0a, 0x00].repeat(1000);
        assert!(decoded_bytes_bound(&empties, Encoding::Protobuf) >= 1000 * PER_MESSAGE);
    }

    #[test]
    fn the_generated_structs_fit_the_per_message_charge() {
        use opentelemetry_proto::tonic::{common::v1 as c, logs::v1 as l, metrics::v1 as m};
        for size in [
            size_of::<m::ResourceMetrics>(),
            size_of::<m::ScopeMetrics>(),
            size_of::<m::Metric>(),
            size_of::<m::NumberDataPoint>(),
            size_of::<m::HistogramDataPoint>(),
            size_of::<m::ExponentialHistogramDataPoint>(),
            size_of::<m::SummaryDataPoint>(),
            size_of::<m::Exemplar>(),
            size_of::<c::KeyValue>(),
            size_of::<c::AnyValue>(),
            size_of::<l::LogRecord>(),
            size_of::<l::ResourceLogs>(),
        ] {
            assert!(size <= PER_MESSAGE, "a generated struct of {size} bytes");
        }
    }
}
