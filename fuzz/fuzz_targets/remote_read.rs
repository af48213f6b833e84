//! Remote read: the request decoder, the streamed frame reader and the Prometheus XOR
//! chunk decoder must never panic, whatever the bytes; a chunk that decodes re-encodes
//! to samples that decode the same, bit for bit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_chunkenc::{decode_prometheus_xor, encode_prometheus_xor};
use pitot_proto::remote_read::{decode_read_request, read_frame};

fuzz_target!(|data: &[u8]| {
    let _ = decode_read_request(data, 1 << 20);
    let mut rest = data;
    while let Ok((_, more)) = read_frame(rest) {
        if more.len() == rest.len() {
            break;
        }
        rest = more;
    }
    if let Ok(samples) = decode_prometheus_xor(data) {
        let again = encode_prometheus_xor(&samples).expect("decoded samples are in order");
        let decoded = decode_prometheus_xor(&again).expect("own chunks decode");
        let bits = |s: &[(i64, f64)]| s.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&decoded), bits(&samples));
    }
});
