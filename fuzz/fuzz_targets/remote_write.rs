//! Remote-write bodies: snappy + protobuf decoding must never panic, whether the input
//! is raw or a valid snappy frame around arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pitot_proto::remote_write::decode_write_request(data, 1 << 20);
    let framed = pitot_proto::encode_snappy(data);
    let _ = pitot_proto::remote_write::decode_write_request(&framed, 1 << 20);
});
