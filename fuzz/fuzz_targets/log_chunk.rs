//! Log storage decoders: chunks, line filters, block indexes and WAL records never
//! panic on arbitrary bytes, and a chunk that decodes re-encodes to the same entries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_logstore::{block, chunk, filter, wal_record};

fuzz_target!(|data: &[u8]| {
    if let Ok(columns) = chunk::decode(data) {
        let meta = chunk::read_meta(data).expect("decoded chunk has a readable header");
        assert_eq!(meta.entries as usize, columns.len());
        let again = chunk::decode(&chunk::encode(&columns, 1).bytes).expect("re-encoded chunk decodes");
        assert_eq!(again, columns);
    }
    if let Ok(f) = filter::LineFilter::parse(data) {
        let _ = f.may_contain(b"needle-of-some-length");
    }
    let _ = block::decode_index(data);
    let _ = wal_record::decode(data);
});
