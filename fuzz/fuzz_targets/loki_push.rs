//! Loki push bodies: protobuf in snappy, JSON, gzip, and the stream-label selector text
//! must never panic, whatever the bytes; the direct protobuf decoder the server uses
//! accepts exactly what the prost messages accept and reads the same streams; and the
//! counts the server charges to the in-flight budget before decoding match what was
//! decoded, within a fixed multiple (60) of the message's size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_proto::loki_push::{
    count_push, decode_gzip, decode_push_json, decode_push_message, decode_push_protobuf,
    decode_push_via_prost,
};

fuzz_target!(|data: &[u8]| {
    let _ = decode_push_protobuf(data, 1 << 20);
    let framed = pitot_proto::encode_snappy(data);
    let _ = decode_push_protobuf(&framed, 1 << 20);
    let _ = decode_push_json(data);
    let _ = decode_gzip(data, 1 << 20);
    let direct = decode_push_message(data);
    match decode_push_via_prost(data).ok() {
        Some(streams) => assert_eq!(direct.as_ref().expect("prost accepted it"), &streams),
        None => assert!(direct.is_err(), "prost refused what the decoder accepted"),
    }
    if let Ok(streams) = &direct {
        let counts = count_push(data).expect("the decoder accepted it");
        assert_eq!(counts.streams, streams.len());
        assert_eq!(
            counts.entries,
            streams.iter().map(|s| s.entries.len()).sum::<usize>()
        );
        assert!(counts.decoded_bytes(data.len()) <= 60 * data.len().max(1));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pitot_distributor::logs::parse_stream_labels(text);
    }
});
