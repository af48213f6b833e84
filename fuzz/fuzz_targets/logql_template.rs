//! LogQL `line_format`/`label_format` templates: parsing and executing arbitrary
//! template text against a fixed line never panics, never overflows the stack, and never
//! builds more than the per-line template budget allows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pitot_core::TemplateLimits;
use pitot_logql::pipeline::template::{Template, TemplateData};

struct Line;

impl TemplateData for Line {
    fn label(&self, name: &str) -> Option<&str> {
        match name {
            "app" => Some("fuzz"),
            "level" => Some("error"),
            "n" => Some("3000"),
            _ => None,
        }
    }
    fn line(&self) -> &str {
        r#"{"msg":"a fuzzed line","n":12,"list":[1,2,3]}"#
    }
    fn timestamp(&self) -> i64 {
        1_700_000_000_123_456_789
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let mut out = String::new();
    if template.execute(&Line, &mut out).is_ok() {
        assert!(out.len() <= TemplateLimits::LOGQL_LINE.max_output_bytes);
    }
});
