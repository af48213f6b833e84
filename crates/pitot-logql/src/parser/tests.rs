//! Parser tests: every construct parses, prints canonically and parses back to the
//! same text; errors carry Loki's wording and positions.

use super::*;

fn roundtrip(q: &str) -> String {
    let e = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let printed = e.to_string();
    let again = parse(&printed).unwrap_or_else(|e| panic!("reparse {printed}: {e}"));
    assert_eq!(
        again.to_string(),
        printed,
        "canonical form of {q} is stable"
    );
    printed
}

#[test]
fn selectors_and_line_filters() {
    assert_eq!(
        roundtrip(r#"{app="a",env!="b", x=~"y.*", z!~`\d+`}"#),
        r#"{app="a", env!="b", x=~"y.*", z!~"\\d+"}"#
    );
    assert_eq!(
        roundtrip(r#"{app="a"} |= "x" != "y" |~ "z+" !~ "w" |> "<_> a" !> "b <_>""#),
        r#"{app="a"} |= "x" != "y" |~ "z+" !~ "w" |> "<_> a" !> "b <_>""#
    );
    assert_eq!(
        roundtrip(r#"{app="a"} |= "x" or "y" != ip("10.0.0.0/8") or "z""#),
        r#"{app="a"} |= "x" or "y" != ip("10.0.0.0/8") or "z""#
    );
    assert_eq!(
        roundtrip("{app=\"a\"} # comment\n |= \"x\""),
        r#"{app="a"} |= "x""#
    );
}

#[test]
fn parsers_and_formatters() {
    assert_eq!(
        roundtrip(
            r#"{a="b"} | json | json x="a.b", y | logfmt --strict --keep-empty c, d="e" | regexp "(?P<n>.)" | pattern "<x> <_>" | unpack"#
        ),
        r#"{a="b"} | json | json x="a.b", y="y" | logfmt --strict --keep-empty c="c", d="e" | regexp "(?P<n>.)" | pattern "<x> <_>" | unpack"#
    );
    assert_eq!(
        roundtrip(
            r#"{a="b"} | line_format "{{.x}}" | label_format y=x, z="{{.y}}" | drop a, b="c" | keep d, e=~"f" | decolorize"#
        ),
        r#"{a="b"} | line_format "{{.x}}" | label_format y=x, z="{{.y}}" | drop a, b="c" | keep d, e=~"f" | decolorize"#
    );
}

#[test]
fn label_filters() {
    assert_eq!(
        roundtrip(r#"{a="b"} | x="1" or y="1" and z="1""#),
        r#"{a="b"} | x="1" or y="1" and z="1""#
    );
    assert_eq!(
        roundtrip(
            r#"{a="b"} | (x="1" or y="1"), z > 5 w >= 1.5s v < 20MB u == -3 t != ip("1.2.3.4")"#
        ),
        r#"{a="b"} | (x="1" or y="1") and z>5 and w>=1s500ms and v<20000000B and u==-3 and t!=ip("1.2.3.4")"#
    );
    let Expr::Log(sel) = parse(r#"{a="b"} | x > 1e3"#).unwrap() else {
        panic!()
    };
    assert!(
        matches!(&sel.stages[0], Stage::LabelFilter(LabelFilter::Number { value, .. }) if *value == 1000.0)
    );
}

#[test]
fn metric_queries() {
    assert_eq!(
        roundtrip("count_over_time({a=\"b\"}[5m])"),
        "count_over_time({a=\"b\"} [5m])"
    );
    assert_eq!(
        roundtrip(r#"sum by (x) (rate({a="b"} |= "e" | json [1m] offset 5m))"#),
        r#"sum by (x) (rate({a="b"} |= "e" | json [1m] offset 5m))"#
    );
    assert_eq!(
        roundtrip(
            r#"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(d) | __error__="" [1m]) by (x)"#
        ),
        r#"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(d) | __error__="" [1m]) by (x)"#
    );
    assert_eq!(
        roundtrip(r#"rate(({a="b"} | unwrap x)[1m])"#),
        r#"rate({a="b"} | unwrap x [1m])"#
    );
    assert_eq!(
        roundtrip(r#"count_over_time({a="b"}[1m] | json)"#),
        r#"count_over_time({a="b"} | json [1m])"#
    );
    assert_eq!(
        roundtrip(
            r#"topk(3, sum(rate({a="b"}[1m])) by (c)) > bool on (c) group_left (d) vector(1)"#
        ),
        r#"topk(3, sum by (c) (rate({a="b"} [1m]))) > bool on(c) group_left(d) vector(1)"#
    );
    assert_eq!(roundtrip("1 + 2 * 3"), "1 + (2 * 3)");
    assert_eq!(roundtrip("(1 + 2) * 3"), "(1 + 2) * 3");
    assert_eq!(roundtrip("2 ^ 3 ^ 2"), "2 ^ (3 ^ 2)");
    assert_eq!(
        roundtrip(r#"label_replace(rate({a="b"}[1m]), "d", "$1", "a", "(.*)")"#),
        r#"label_replace(rate({a="b"} [1m]), "d", "$1", "a", "(.*)")"#
    );
    assert_eq!(
        roundtrip(
            r#"sort_desc(count_over_time({a="b"}[1m])) or absent_over_time({a="b"}[1m]) unless bytes_rate({a="b"}[1m])"#
        ),
        r#"sort_desc(count_over_time({a="b"} [1m])) or (absent_over_time({a="b"} [1m]) unless bytes_rate({a="b"} [1m]))"#
    );
}

fn err(q: &str) -> ParseError {
    match parse(q) {
        Err(e) => e,
        Ok(e) => panic!("{q} parsed as {e}"),
    }
}

#[test]
fn errors_have_positions_and_loki_wording() {
    let e = err(r#"count_over_time({app="foo"})"#);
    assert_eq!((e.line, e.col), (1, 28));
    assert_eq!(e.msg, "syntax error: unexpected ), expecting RANGE");
    let e = err("{app=\"a\"}\n  | drop");
    assert_eq!((e.line, e.col), (2, 9));
    assert!(e.msg.contains("expecting IDENTIFIER"), "{}", e.msg);
    assert!(err(r#"quantile_over_time(-0.1, {a="b"} | unwrap v [1m])"#)
        .msg
        .contains("unexpected -"));
    assert!(err(r#"{a="b"} | x == "1""#).msg.contains("syntax error"));
    assert!(err(r#"{a="b"} | x > ip("1.2.3.4")"#)
        .msg
        .contains("syntax error: unexpected ip"));
    assert!(err(r#"{a="b"} | x > 0x10"#)
        .msg
        .contains("unable to parse literal as a float"));
    assert!(err(r#"{a="b"} | x > 1mb"#).msg.contains("syntax error"));
    assert!(err(r#"{a="b"} |~ "(""#)
        .msg
        .contains("error parsing regexp"));
    assert!(err(r#"{a="b"} |~ ip("1.2.3.4")"#)
        .msg
        .contains("ip: invalid operation"));
    assert!(err(r#"{a="b"} |= ip("nope")"#)
        .msg
        .contains("ip: invalid pattern"));
    assert!(err(r#"{a="b"} |> "<x> a""#)
        .msg
        .contains("named captures are not allowed"));
    assert!(err(r#"{a="b"} | line_format "{{ nosuchfunc }}""#)
        .msg
        .contains("not defined"));
    assert!(err(r#"{a="b"} | label_format x="{{""#)
        .msg
        .contains("unclosed action"));
    assert!(err(r#"count_over_time({a="b"} | unwrap v [1m])"#)
        .msg
        .contains("invalid aggregation count_over_time with unwrap"));
    assert!(err(r#"sum_over_time({a="b"}[1m])"#)
        .msg
        .contains("invalid aggregation sum_over_time without unwrap"));
    assert!(err(r#"rate({a="b"}[1m]) by (x)"#)
        .msg
        .contains("grouping not allowed for rate aggregation"));
    assert!(err(r#"{a=~".*"}"#)
        .msg
        .contains("queries require at least one regexp or equality matcher"));
    assert!(err(r#"{a="b"} | json x="a[""#)
        .msg
        .contains("invalid json expression"));
    assert!(err(r#"{a="b"} | pattern "<_> x""#).msg.contains("capture"));
    assert!(err(r#"{a="b"} | label_format a=b, a="c""#)
        .msg
        .contains("multiple label name"));
    assert!(err(r#"rate({a="b"}[1m]) +"#).msg.contains("syntax error"));
    assert!(err(r#"{a="b"} | unwrap x"#).msg.contains("syntax error"));
}

#[test]
fn stream_selector_only() {
    let m = parse_stream_selector(r#"{app="x", env=~"prod|dev"}"#).unwrap();
    assert_eq!(m.len(), 2);
    assert!(m[1].matches("dev"));
    assert!(parse_stream_selector(r#"{app="x"} |= "y""#).is_err());
}

#[test]
fn infinite_literals_print_as_numbers_that_parse_back() {
    // Found by fuzzing: `-3e555` overflows to -Inf, which once printed as `-Inf`.
    assert_eq!(roundtrip("6/-3e555"), "6 / (-1e999)");
    assert_eq!(roundtrip("vector(1e999)"), "vector(1e999)");
    assert_eq!(
        roundtrip(r#"count_over_time({a="b"} | x > 1e999 [1m])"#),
        r#"count_over_time({a="b"} | x>1e999 [1m])"#
    );
}
