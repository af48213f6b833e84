//! Rule-file parsing and validation: errors must name the group and the rule.

use pitot_rules::{ExprLanguage, Rule, RuleFile, RuleFileError, RuleGroup, ValidationOptions};

fn opts() -> ValidationOptions {
    ValidationOptions::default()
}

fn errors(text: &str, o: &ValidationOptions) -> Vec<String> {
    match RuleFile::parse(text, o) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.messages(),
    }
}

#[test]
fn parses_both_rule_kinds_and_round_trips() {
    let text = r#"
groups:
  - name: g1
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: {team: a}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {x: "1"}
      - alert: Down
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} down"}
"#;
    let f = RuleFile::parse(text, &opts()).unwrap();
    let g = &f.groups[0];
    assert_eq!(g.interval.unwrap().as_millis(), 30_000);
    assert_eq!(g.limit, 10);
    match &g.rules[1] {
        Rule::Alerting(a) => {
            assert_eq!(a.for_.unwrap().as_millis(), 300_000);
            assert_eq!(a.keep_firing_for.unwrap().as_millis(), 60_000);
        }
        r => panic!("not an alert: {r:?}"),
    }
    let yaml = f.to_yaml();
    assert!(yaml.contains("for: 5m"), "{yaml}");
    assert!(yaml.contains("record: job:up:sum"), "{yaml}");
    let again = RuleFile::parse(&yaml, &opts()).unwrap();
    assert_eq!(again, f);
    let eff = g.effective_labels(&g.rules[0]);
    assert_eq!(eff.get("team").map(String::as_str), Some("a"));
    assert_eq!(eff.get("x").map(String::as_str), Some("1"));
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let text = "groups:\n  - name: g\n    ownership: x\n    rules: []\n";
    let e = errors(text, &opts()).join("\n");
    assert!(e.contains("unknown field `ownership`"), "{e}");
    let text =
        "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        foo: 1\n";
    let e = errors(text, &opts()).join("\n");
    assert!(e.contains("groups[0].rules[0]") && e.contains("foo"), "{e}");
}

#[test]
fn semantic_errors_name_group_and_rule() {
    let text = r#"
groups:
  - name: g
    rules:
      - record: ok
        expr: up
      - record: "bad name"
        expr: up
      - alert: A
        expr: "up +"
      - alert: B
        expr: up
        labels: {"0bad": x}
        annotations: {summary: "{{ .Labels.x "}
  - name: g
    rules: []
"#;
    let e = errors(text, &opts());
    assert!(
        e.iter().any(
            |m| m == "line 7, column 9: group \"g\", rule 2, \"bad name\": invalid recording rule name: bad name"
        ),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with(
            "line 9, column 9: group \"g\", rule 3, \"A\": could not parse expression"
        )),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("line 11, column 9: group \"g\", rule 4, \"B\": invalid label name")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("rule 4, \"B\": annotation \"summary\": template")),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m.contains("repeated")), "{e:?}");
}

#[test]
fn recording_rules_reject_alerting_fields_and_need_one_kind() {
    let e = errors(
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    for: 5m\n",
        &opts(),
    );
    assert!(
        e[0].contains("invalid field 'for' in recording rule"),
        "{e:?}"
    );
    let e = errors("groups:\n- name: g\n  rules:\n  - expr: up\n", &opts());
    assert!(
        e[0].contains("one of 'record' or 'alert' must be set"),
        "{e:?}"
    );
    let e = errors(
        "groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up\n    for: 5x\n",
        &opts(),
    );
    assert!(e[0].contains("not a valid duration"), "{e:?}");
}

#[test]
fn limits_are_enforced() {
    let o = ValidationOptions {
        max_groups: 1,
        max_rules_per_group: 1,
        ..ValidationOptions::default()
    };
    let text = "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - record: y\n    expr: up\n- name: b\n  rules: []\n";
    let e = errors(text, &o);
    assert!(
        e.iter()
            .any(|m| m.contains("too many rule groups: 2 (limit 1)")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("group \"a\": too many rules in group: 2 (limit 1)")),
        "{e:?}"
    );
}

#[test]
fn logql_expressions_use_the_logql_parser() {
    let text = "groups:\n- name: logs\n  rules:\n  - record: app:lines:rate1m\n    expr: sum(rate({app=\"x\"} |= \"err\" [1m]))\n";
    let o = ValidationOptions {
        language: ExprLanguage::LogQL,
        ..ValidationOptions::default()
    };
    RuleFile::parse(text, &o).unwrap();
    // The same text is not PromQL.
    assert!(matches!(
        RuleFile::parse(text, &opts()),
        Err(RuleFileError::Invalid(_))
    ));
}

#[test]
fn single_group_parse_for_the_config_api() {
    let g = RuleGroup::parse("name: g\nrules:\n- record: x\n  expr: up\n", &opts()).unwrap();
    assert_eq!(g.name, "g");
    assert!(g.to_yaml().starts_with("name: g\n"));
}
