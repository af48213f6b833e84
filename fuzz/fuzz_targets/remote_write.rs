//! Remote-write bodies: snappy + protobuf decoding must never panic, whether the input
//! is raw or a valid snappy frame around arbitrary bytes; and the zero-copy decoder the
//! server uses reads exactly what the prost messages read whenever prost accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_proto::remote_write::WriteRequest;
use pitot_proto::remote_write_view::WriteRequestView;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let _ = pitot_proto::remote_write::decode_write_request(data, 1 << 20);
    let framed = pitot_proto::encode_snappy(data);
    let _ = pitot_proto::remote_write::decode_write_request(&framed, 1 << 20);
    let view = WriteRequestView::decode(data);
    if let Ok(prost) = WriteRequest::decode(data) {
        let view = view.expect("the view decoder refused what prost accepts");
        assert_eq!(view.len(), prost.timeseries.len());
        assert_eq!(view.metadata, prost.metadata);
        for (v, p) in view.series().zip(&prost.timeseries) {
            assert_eq!(v.labels.len(), p.labels.len());
            for (&(n, val), l) in v.labels.iter().zip(&p.labels) {
                assert_eq!((n, val), (l.name.as_str(), l.value.as_str()));
            }
            assert_eq!(v.samples.len(), p.samples.len());
            for (a, b) in v.samples.iter().zip(&p.samples) {
                assert_eq!(a.timestamp, b.timestamp);
                assert_eq!(a.value.to_bits(), b.value.to_bits());
            }
        }
    }
});
