//! WAL records: decoding arbitrary payloads never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pitot_tsdb::wal_record::decode(data);
});
