//! Loki push bodies: protobuf in snappy, JSON, gzip, and the stream-label selector text
//! must never panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_proto::loki_push::{decode_gzip, decode_push_json, decode_push_protobuf};

fuzz_target!(|data: &[u8]| {
    let _ = decode_push_protobuf(data, 1 << 20);
    let framed = pitot_proto::encode_snappy(data);
    let _ = decode_push_protobuf(&framed, 1 << 20);
    let _ = decode_push_json(data);
    let _ = decode_gzip(data, 1 << 20);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pitot_distributor::logs::parse_stream_labels(text);
    }
});
