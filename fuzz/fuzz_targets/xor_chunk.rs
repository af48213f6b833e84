//! Stored chunks: every decoder agrees and none panics on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let all = pitot_chunkenc::decode(data);
    let iterated: Vec<(i64, f64)> = pitot_chunkenc::XorIter::new(data).collect();
    if let Ok(all) = all {
        assert_eq!(all.len(), iterated.len());
    }
    let _ = pitot_chunkenc::num_samples(data);
});
