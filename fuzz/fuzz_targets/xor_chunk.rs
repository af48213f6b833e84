//! Stored chunks: every decoder agrees and none panics on arbitrary bytes, and
//! whatever decodes as a tagged chunk encodes again to the same samples.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let all = pitot_chunkenc::decode(data);
    let iterated: Vec<(i64, f64)> = pitot_chunkenc::XorIter::new(data).collect();
    if let Ok(all) = all {
        assert_eq!(all.len(), iterated.len());
    }
    let _ = pitot_chunkenc::num_samples(data);

    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let _ = pitot_chunkenc::chunk_samples(data);
    if pitot_chunkenc::decode_chunk_into(data, &mut ts, &mut vs).is_ok() && !ts.is_empty() {
        let again = pitot_chunkenc::encode_chunk(&ts, &vs);
        let (mut ts2, mut vs2) = (Vec::new(), Vec::new());
        pitot_chunkenc::decode_chunk_into(&again, &mut ts2, &mut vs2).expect("re-encoded chunk decodes");
        assert_eq!(ts, ts2);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&vs), bits(&vs2));
    }
});
