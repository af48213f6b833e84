//! Property tests: arbitrary token soup never panics the parser or pipeline, and every
//! query that parses prints to a canonical form that parses to the same form.

use pitot_core::{Label, Labels};
use pitot_storage_api::LogEntry;
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "|=",
    "|~",
    "|>",
    "!>",
    "|",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "app",
    "x",
    "\"a\"",
    "\"\"",
    "`b.*`",
    "\"<_> a\"",
    "5m",
    "1s",
    "10",
    "0.5",
    "1KB",
    "json",
    "logfmt",
    "--strict",
    "regexp",
    "\"(?P<n>.)\"",
    "pattern",
    "\"<a> <_>\"",
    "unpack",
    "line_format",
    "\"{{.x | upper}}\"",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
    "bytes",
    "duration",
    "or",
    "and",
    "unless",
    "by",
    "without",
    "offset",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "sum",
    "topk",
    "count_over_time",
    "rate",
    "quantile_over_time",
    "absent_over_time",
    "vector",
    "label_replace",
    "ip",
    "\"10.0.0.0/8\"",
    "__error__",
    "#",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..30).prop_map(|v| v.join(" "))
}

fn valid_like() -> impl Strategy<Value = String> {
    let stage = prop::sample::select(vec![
        "|= \"a\"",
        "!~ \"b+\"",
        "| json",
        "| logfmt",
        "| x > 5",
        "| x = \"1\" or y =~ \"2\"",
        "| line_format \"{{.x}}\"",
        "| label_format y=x",
        "| drop x",
        "| keep app, x",
        "| pattern \"<x> <_>\"",
        "| regexp \"(?P<x>\\\\w+)\"",
        "|> \"<_> a\"",
        "| decolorize",
    ]);
    (
        prop::collection::vec(stage, 0..5),
        prop::sample::select(vec!["count_over_time", "rate", "bytes_over_time"]),
    )
        .prop_map(|(stages, f)| {
            format!("sum by (x) ({f}({{app=\"a\"}} {} [1m]))", stages.join(" "))
        })
}

fn check(q: &str) {
    if let Ok(e) = pitot_logql::parse(q) {
        let printed = e.to_string();
        let again =
            pitot_logql::parse(&printed).unwrap_or_else(|err| panic!("{q} -> {printed}: {err}"));
        assert_eq!(again.to_string(), printed);
    }
    if let Ok(c) = pitot_logql::compile_log_query(q) {
        let e = LogEntry {
            ts: 0,
            line: q.to_string(),
            metadata: vec![Label::new("m", "v")],
        };
        let _ = c.process(&Labels::from_pairs([("app", "a")]), &e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn token_soup_never_panics(q in soup()) {
        check(&q);
    }

    #[test]
    fn valid_queries_roundtrip(q in valid_like()) {
        prop_assert!(pitot_logql::parse(&q).is_ok(), "{}", q);
        check(&q);
    }

    #[test]
    fn arbitrary_text_never_panics(q in ".{0,60}") {
        check(&q);
        let _ = pitot_logql::parse(&format!("{{app=\"a\"}} | json | line_format {q:?}"));
    }
}
