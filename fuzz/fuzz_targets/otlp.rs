//! OTLP bodies (metrics and logs, protobuf and JSON) must never panic, whatever the
//! bytes; what decodes translates within its output bound into series that remote
//! write's view reads back (so the server can store them) with valid label names, and
//! every data point is either translated or rejected; the decoded-size estimate is
//! computed for every body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_otlp::{
    decode_logs, decode_metrics, decoded_bytes_bound, translate_logs, translate_metrics, Encoding,
    LogsOptions, MetricsOptions,
};

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fuzz_target!(|data: &[u8]| {
    let promote = vec!["host.name".to_string(), "k8s.pod.name".to_string()];
    let stream_labels = vec!["service.name".to_string()];
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let _ = decoded_bytes_bound(data, encoding);
        if let Ok(request) = decode_metrics(data, encoding) {
            let options = MetricsOptions {
                promote_resource_attributes: &promote,
                max_output_bytes: 1 << 22,
            };
            if let Ok(out) = translate_metrics(&request, options) {
                let view = pitot_proto::remote_write_view::WriteRequestView::decode(&out.series)
                    .expect("translated series read back");
                assert_eq!(view.sample_count(), out.series_count);
                let decoded: pitot_proto::remote_write::WriteRequest =
                    prost::Message::decode(out.series.as_slice()).expect("prost reads them too");
                for ts in &decoded.timeseries {
                    for label in &ts.labels {
                        // An empty attribute key stays empty: the distributor refuses that series.
                        assert!(label.name.is_empty() || valid_label_name(&label.name), "label name {:?}", label.name);
                    }
                }
            }
        }
        if let Ok(request) = decode_logs(data, encoding) {
            let out = translate_logs(
                &request,
                LogsOptions {
                    stream_label_attributes: &stream_labels,
                },
                0,
            );
            let entries: usize = out.streams.iter().map(|s| s.entries.len()).sum();
            assert_eq!(entries as u64, out.records);
        }
    }
});
