//! Rule annotation and label templates: parsing and rendering arbitrary template text
//! with sample alert data (and a `query` that returns one sample) never panics, never
//! overflows the stack, and never builds more than the rules' template budget allows.
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use pitot_core::TemplateLimits;
use pitot_rules::template::{QuerySample, Template, TemplateData};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse("fuzz", text) else {
        return;
    };
    let labels = BTreeMap::from([
        ("alertname".to_string(), "Fuzz".to_string()),
        ("instance".to_string(), "db-1.example.com:9100".to_string()),
    ]);
    let sample = TemplateData {
        labels: labels.clone(),
        external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
        external_url: "https://prom.example.com/prometheus".to_string(),
        value: 1234.5,
    };
    let query = move |_: &str| {
        Ok(vec![QuerySample {
            labels: labels.clone(),
            value: 42.0,
        }])
    };
    if let Ok(out) = template.render(&sample, Some(&query)) {
        assert!(out.len() <= TemplateLimits::RULES.max_output_bytes);
    }
});
