//! LogQL: parsing arbitrary text never panics, a parsed query prints to text that
//! parses again, and running a parsed log pipeline over the input never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = pitot_logql::parse(text) {
        let printed = expr.to_string();
        assert!(
            pitot_logql::parse(&printed).is_ok(),
            "canonical form does not parse: {printed}"
        );
    }
    if let Ok(q) = pitot_logql::compile_log_query(text) {
        let stream = pitot_core::Labels::from_pairs([("app", "fuzz")]);
        let entry = pitot_storage_api::LogEntry {
            ts: 1,
            line: text.to_string(),
            metadata: vec![pitot_core::Label::new("m", "v")],
        };
        let _ = q.process(&stream, &entry);
    }
});
