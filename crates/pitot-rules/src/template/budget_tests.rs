//! Template bombs end in a budget error with its reason, never in an allocation.

use std::cell::Cell;

use super::{render, Template, TemplateData};

fn reason(text: &str) -> Option<&'static str> {
    render("t", text, &TemplateData::default(), None)
        .unwrap_err()
        .budget_reason()
}

#[test]
fn bombs_are_stopped_with_their_reason() {
    assert_eq!(
        reason(r#"{{ printf "%900000d" 1 }}"#),
        Some("template-output-too-large")
    );
    assert_eq!(
        reason(r#"{{ range 100000000000000 }}{{ end }}"#),
        Some("template-too-many-calls")
    );
    assert_eq!(
        reason(r#"{{ range 100000 }}{{ printf "%.60000f" 1.0 }}{{ end }}"#),
        Some("template-output-too-large")
    );
    let doubling = r#"{{ reReplaceAll "(.)" "$1$1$1$1$1$1$1$1" "abcdefghijklmnopqrstuvwxyz" | reReplaceAll "(.)" "$1$1$1$1$1$1$1$1" | reReplaceAll "(.)" "$1$1$1$1$1$1$1$1" | reReplaceAll "(.)" "$1$1$1$1$1$1$1$1" }}"#;
    assert_eq!(reason(doubling), Some("template-output-too-large"));
    // Other errors carry no budget reason.
    assert_eq!(reason("{{ index 1 2 }}"), None);
}

#[test]
fn queries_are_counted() {
    let calls = Cell::new(0);
    let query = |_: &str| {
        calls.set(calls.get() + 1);
        Ok(Vec::new())
    };
    let err = render(
        "t",
        r#"{{ range 1000000 }}{{ query "up" }}{{ end }}"#,
        &TemplateData::default(),
        Some(&query),
    )
    .unwrap_err();
    assert_eq!(err.budget_reason(), Some("template-too-many-queries"));
    assert_eq!(calls.get(), pitot_core::TemplateLimits::RULES.max_queries);
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(Template::parse("t", &parens)
        .unwrap_err()
        .to_string()
        .contains("nested"));
    let ifs = format!(
        "{}x{}",
        "{{ if 1 }}".repeat(100_000),
        "{{ end }}".repeat(100_000)
    );
    assert!(Template::parse("t", &ifs)
        .unwrap_err()
        .to_string()
        .contains("nested"));
    let ok = format!("{{{{ {}1{} }}}}", "(".repeat(40), ")".repeat(40));
    assert_eq!(
        render("t", &ok, &TemplateData::default(), None).unwrap(),
        "1"
    );
}
