//! Block indexes: decoding arbitrary bytes (raw, and zstd-wrapped so the decoder's own
//! parser is reached) never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pitot_tsdb::decode_block_index(data);
    let wrapped = zstd::bulk::compress(data, 1).unwrap_or_default();
    let _ = pitot_tsdb::decode_block_index(&wrapped);
});
