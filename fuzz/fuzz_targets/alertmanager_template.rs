//! Alertmanager notification templates: the input is a template file and a notification
//! text separated by a NUL byte; parsing both and rendering the text against sample
//! notification data never panics, never overflows the stack, and never builds more
//! than the Alertmanager template budget allows.
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use pitot_alertmanager::template::{sample_data, Templates};
use pitot_core::TemplateLimits;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (file, text) = input.split_once('\0').unwrap_or(("", input));
    let files = BTreeMap::from([("fuzz.tmpl".to_string(), file.to_string())]);
    let Ok(templates) = Templates::new(&files) else {
        return;
    };
    let _ = templates.check(text);
    if let Ok(out) = templates.render(text, &sample_data()) {
        assert!(out.len() <= TemplateLimits::ALERTMANAGER.max_output_bytes);
    }
});
