//! Pipeline tests over hand-made entries with hand-computed results.

use pitot_core::{Label, Labels};

use super::*;
use crate::ast::Expr;
use crate::parser::parse;

fn pipeline(q: &str) -> Pipeline {
    let Expr::Log(sel) = parse(q).unwrap() else {
        panic!("not a log query")
    };
    Pipeline::compile(&sel.stages).unwrap()
}

/// Runs `q` on one line of stream `{app="a"}`; returns the final labels and line.
fn run(q: &str, line: &str, md: &[(&str, &str)]) -> Option<(Labels, String)> {
    let p = pipeline(q);
    let mut st = PipelineState::default();
    let stream = Labels::from_pairs([("app", "a")]);
    let md: Vec<Label> = md.iter().map(|(n, v)| Label::new(*n, *v)).collect();
    if !p.process(&mut st, 1_000_000_000, line, &stream, &md, false) {
        return None;
    }
    let labels = if st.used_labels {
        st.labels.labels()
    } else {
        stream
    };
    Some((labels, st.line(line).to_string()))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[test]
fn line_filters() {
    let q = r#"{app="a"} |= "err" != "timeout" |~ "code=5\\d\\d""#;
    assert!(run(q, "err code=503", &[]).is_some());
    assert!(run(q, "err timeout code=503", &[]).is_none());
    assert!(run(q, "err code=200", &[]).is_none());
    assert!(run(r#"{app="a"} |= "x" or "y""#, "y", &[]).is_some());
    assert!(run(r#"{app="a"} != "x" or "y""#, "y", &[]).is_none());
    assert!(run(r#"{app="a"} |> "GET <_> 200""#, "GET /a 200", &[]).is_some());
    assert!(run(r#"{app="a"} !> "GET <_> 200""#, "GET /a 200", &[]).is_none());
    assert!(run(r#"{app="a"} |= ip("10.0.0.0/8")"#, "from 10.1.2.3:80", &[]).is_some());
    assert!(run(r#"{app="a"} |= """#, "", &[]).is_some());
    assert!(pipeline(r#"{app="a"} |= "x""#).is_line_only());
}

#[test]
fn parsers_extract_labels() {
    let (l, _) = run(
        r#"{app="a"} | logfmt"#,
        r#"level=info msg="a b" app=x empty="#,
        &[],
    )
    .unwrap();
    assert_eq!(
        l,
        labels(&[
            ("app", "a"),
            ("app_extracted", "x"),
            ("level", "info"),
            ("msg", "a b")
        ])
    );
    let (l, _) = run(r#"{app="a"} | logfmt --keep-empty"#, "k= j", &[]).unwrap();
    assert_eq!(l, labels(&[("app", "a"), ("k", ""), ("j", "")]));
    let (l, _) = run(r#"{app="a"} | json"#, r#"{"a":{"b":1},"c":"d"}"#, &[]).unwrap();
    assert_eq!(l, labels(&[("app", "a"), ("a_b", "1"), ("c", "d")]));
    let (l, _) = run(r#"{app="a"} | json"#, "nope", &[]).unwrap();
    assert_eq!(l.get("__error__"), Some("JSONParserErr"));
    let (l, _) = run(r#"{app="a"} | regexp "(?P<x>\\d+)""#, "abc 42", &[]).unwrap();
    assert_eq!(l.get("x"), Some("42"));
    let (l, _) = run(r#"{app="a"} | pattern "<m> <p>""#, "GET /x", &[]).unwrap();
    assert_eq!((l.get("m"), l.get("p")), (Some("GET"), Some("/x")));
    let (l, line) = run(
        r#"{app="a"} | unpack"#,
        r#"{"pod":"p","_entry":"orig"}"#,
        &[],
    )
    .unwrap();
    assert_eq!((l.get("pod"), line.as_str()), (Some("p"), "orig"));
}

#[test]
fn label_filters_and_errors() {
    let q = r#"{app="a"} | logfmt | took > 1s"#;
    assert!(run(q, "took=2s", &[]).is_some());
    assert!(run(q, "took=500ms", &[]).is_none());
    assert!(run(q, "other=1", &[]).is_none());
    let (l, _) = run(q, "took=oops", &[]).unwrap();
    assert_eq!(l.get("__error__"), Some("LabelFilterErr"));
    assert_eq!(
        l.get("__error_details__"),
        Some("time: invalid duration \"oops\"")
    );
    assert!(run(
        r#"{app="a"} | logfmt | took > 1s | __error__="""#,
        "took=oops",
        &[]
    )
    .is_none());
    assert!(run(r#"{app="a"} | logfmt | size >= 1KB"#, "size=1KiB", &[]).is_some());
    assert!(run(r#"{app="a"} | logfmt | n == 2"#, "n=2.0", &[]).is_some());
    assert!(run(
        r#"{app="a"} | logfmt | a="1" or b="1" and c="1""#,
        "a=0 b=1 c=1",
        &[]
    )
    .is_some());
    assert!(run(
        r#"{app="a"} | logfmt | (a="1" or b="1") and c="1""#,
        "a=1 b=0 c=0",
        &[]
    )
    .is_none());
    assert!(run(
        r#"{app="a"} | logfmt | ip_addr = ip("10.0.0.0/8")"#,
        "ip_addr=10.2.3.4",
        &[]
    )
    .is_some());
}

#[test]
fn structured_metadata_and_formatters() {
    let (l, _) = run(
        r#"{app="a"} | lvl="error""#,
        "x",
        &[("lvl", "error"), ("app", "m")],
    )
    .unwrap();
    assert_eq!(
        l,
        labels(&[("app", "a"), ("app_extracted", "m"), ("lvl", "error")])
    );
    let (l, line) = run(
        r#"{app="a"} | logfmt | line_format "{{.lvl}}:{{.msg}}""#,
        "lvl=warn msg=hi",
        &[],
    )
    .unwrap();
    assert_eq!(line, "warn:hi");
    assert_eq!(l.get("msg"), Some("hi"));
    let (l, _) = run(
        r#"{app="a"} | logfmt | label_format v=lvl, w="{{.lvl}}!""#,
        "lvl=warn",
        &[],
    )
    .unwrap();
    assert_eq!(l, labels(&[("app", "a"), ("v", "warn"), ("w", "warn!")]));
    let (l, _) = run(
        r#"{app="a"} | logfmt | drop lvl, x="1""#,
        "lvl=warn x=2",
        &[],
    )
    .unwrap();
    assert_eq!(l, labels(&[("app", "a"), ("x", "2")]));
    let (l, _) = run(r#"{app="a"} | logfmt | keep x"#, "lvl=warn x=2", &[]).unwrap();
    assert_eq!(l, labels(&[("x", "2")]));
    let (_, line) = run(r#"{app="a"} | decolorize"#, "\x1b[31mred\x1b[0m", &[]).unwrap();
    assert_eq!(line, "red");
}

#[test]
fn unwrap_extracts_and_removes_the_label() {
    let u = Unwrapper::compile(&crate::ast::Unwrap {
        conversion: crate::ast::Conversion::Bytes,
        label: "b".into(),
        post_filters: vec![],
    })
    .unwrap();
    let mut lbs = labels::LabelsBuilder::new();
    lbs.reset(&Labels::from_pairs([("b", "2KiB"), ("x", "y")]), &[]);
    assert_eq!(u.extract(&mut lbs), Some(2048.0));
    assert_eq!(lbs.labels(), Labels::from_pairs([("x", "y")]));
}

#[test]
fn required_literals_stop_at_line_rewrites() {
    let Expr::Log(sel) =
        parse(r#"{a="b"} |= "x" |= "" |= "y" or "z" | json |= "w" | line_format "q" |= "v""#)
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        required_literals(&sel),
        vec!["x".to_string(), "w".to_string()]
    );
}
