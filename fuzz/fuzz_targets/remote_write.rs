//! Remote-write bodies: snappy + protobuf decoding must never panic, whether the input
//! is raw or a valid snappy frame around arbitrary bytes; and the zero-copy decoder the
//! server uses reads exactly what the prost messages read whenever prost accepts; its
//! vectors are exactly as large as the counts read off the framing, which the server
//! charges to the in-flight budget before decoding, and those are bounded by a fixed
//! multiple (40) of the message's size. A 2.0 request that decodes converts to series
//! that the view reads back, one per 2.0 series, or is refused naming the series.
//! Exemplars decode in the second pass exactly as prost reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_proto::remote_write::WriteRequest;
use pitot_proto::remote_write_view::WriteRequestView;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(v2) = pitot_proto::remote_write_v2::decode(data) {
        let series = v2.timeseries.len();
        if let Ok(converted) = pitot_proto::remote_write_v2::to_v1(v2) {
            assert_eq!(converted.request.timeseries.len(), series);
            let encoded = pitot_proto::remote_write::encode_series_exact(&converted.request);
            let view = WriteRequestView::decode(&encoded).expect("converted series read back");
            assert_eq!(view.len(), series);
        }
    }
    let _ = pitot_proto::remote_write::decode_write_request(data, 1 << 20);
    let framed = pitot_proto::encode_snappy(data);
    let _ = pitot_proto::remote_write::decode_write_request(&framed, 1 << 20);
    let view = WriteRequestView::decode(data);
    if let Ok(counts) = pitot_proto::remote_write_view::count(data) {
        assert!(counts.view_bytes() <= 40 * data.len(), "{counts:?}");
        if let Ok(view) = &view {
            assert_eq!(
                (
                    view.len(),
                    view.label_count(),
                    view.sample_count(),
                    view.metadata.len()
                ),
                (
                    counts.series,
                    counts.labels,
                    counts.samples,
                    counts.metadata
                )
            );
        }
    } else {
        assert!(
            view.is_err(),
            "the framing count refused what the decoder accepts"
        );
    }
    if let Ok(prost) = WriteRequest::decode(data) {
        let view = view.expect("the view decoder refused what prost accepts");
        assert_eq!(view.len(), prost.timeseries.len());
        assert_eq!(view.metadata, prost.metadata);
        // Every exemplar is counted (the push charges for them before decoding them),
        // and the second pass decodes each, with its series, as prost does.
        let exemplars: usize = prost.timeseries.iter().map(|t| t.exemplars.len()).sum();
        assert_eq!(view.exemplars, exemplars as u64);
        let decoded = pitot_proto::remote_write_view::decode_exemplars(data)
            .expect("the exemplar pass refused what prost accepts");
        let expected: Vec<(usize, &pitot_proto::remote_write::Exemplar)> = prost
            .timeseries
            .iter()
            .enumerate()
            .flat_map(|(i, t)| t.exemplars.iter().map(move |e| (i, e)))
            .collect();
        assert_eq!(decoded.len(), expected.len());
        for ((i, e), (j, f)) in decoded.iter().zip(&expected) {
            assert_eq!(i, j);
            assert_eq!(e.labels, f.labels);
            assert_eq!(e.timestamp, f.timestamp);
            assert_eq!(e.value.to_bits(), f.value.to_bits());
        }
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
