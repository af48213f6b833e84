//! What decoding an OTLP body will allocate, estimated from its bytes before it is
//! decoded, so the in-flight budgets are charged before the memory is taken (a body of
//! tiny nested messages decodes to many times its size).

use crate::wire::Encoding;

/// Bytes charged per nested message: about the size of the larger generated OTLP
/// structs (data points, metrics) plus an allocation's overhead.
const PER_MESSAGE: usize = 224;

/// Nesting deeper than this is not walked: a length-delimited field below it is
/// charged as if its bytes were all two-byte messages, the most they can hold.
const MAX_DEPTH: u32 = 24;

/// An estimate of the bytes decoding `body` allocates: every length-delimited field
/// whose payload reads as protobuf is charged as a message of [`PER_MESSAGE`] bytes,
/// and every byte four times (strings and bytes copied, packed numbers widened to eight
/// bytes from at least two); for JSON, the bound of Loki's JSON push decoder (objects,
/// arrays and strings counted). A body that is not protobuf at all is charged by size.
pub fn decoded_bytes_bound(body: &[u8], encoding: Encoding) -> usize {
    match encoding {
        Encoding::Json => pitot_proto::loki_push::json_decoded_bytes_bound(body),
        Encoding::Protobuf => messages(body, 0)
            .unwrap_or(0)
            .saturating_mul(PER_MESSAGE)
            .saturating_add(body.len().saturating_mul(4)),
    }
}

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// The messages nested in `buf` if it reads as a sequence of protobuf fields, `None`
/// if it does not (then it is a string, bytes or packed numbers to its parent).
fn messages(buf: &[u8], depth: u32) -> Option<usize> {
    let mut at = 0;
    let mut count = 0usize;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        if key >> 3 == 0 {
            return None;
        }
        match key & 7 {
            0 => {
                varint(buf, &mut at)?;
            }
            1 => at = at.checked_add(8).filter(|&end| end <= buf.len())?,
            5 => at = at.checked_add(4).filter(|&end| end <= buf.len())?,
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&end| end <= buf.len())?;
                let payload = &buf[at..end];
                count = count.saturating_add(if depth >= MAX_DEPTH {
                    1 + payload.len() / 2
                } else {
                    messages(payload, depth + 1).map_or(0, |n| n + 1)
                });
                at = end;
            }
            _ => return None,
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_are_counted_and_strings_are_not() {
        // field 1 = { field 1 = { }, field 2 = "ab" }: two messages ("ab" is not protobuf).
        let body = [0x0a, 0x06, 0x0a, 0x00, 0x12, 0x02, b'a', b'b'];
        assert_eq!(messages(&body, 0), Some(2));
        assert_eq!(
            decoded_bytes_bound(&body, Encoding::Protobuf),
            2 * PER_MESSAGE + 4 * 8
        );
        // A body of empty messages is charged for every one of them.
        let empties = [0x0a, 0x00].repeat(1000);
        assert!(decoded_bytes_bound(&empties, Encoding::Protobuf) >= 1000 * PER_MESSAGE);
        assert_eq!(messages(&[0xff], 0), None);
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
