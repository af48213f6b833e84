//! Errors of rule-file parsing and validation.

use std::fmt;

/// One problem found while validating a rule file. It names the group and, when the
/// problem is in a rule, the rule's 1-based index and name, so that users can find it
/// in a file with hundreds of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The group's name.
    pub group: String,
    /// Which of the file's groups of that name it is (0 for the first), so a repeated
    /// name is located at the repetition.
    pub group_occurrence: usize,
    /// 1-based index of the rule in the group, when the problem is in a rule.
    pub rule_index: Option<usize>,
    /// The rule's `record` or `alert` name, when the problem is in a rule.
    pub rule_name: Option<String>,
    /// 1-based line and column of the rule (or group) in the text it was parsed from,
    /// when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl ValidationError {
    /// The problem without its position (for `file:line:column: ...` output, which
    /// states the position itself).
    pub fn without_position(&self) -> String {
        let mut text = format!("group {:?}", self.group);
        if let Some(i) = self.rule_index {
            text.push_str(&format!(", rule {i}"));
        }
        if let Some(n) = &self.rule_name {
            text.push_str(&format!(", {n:?}"));
        }
        format!("{text}: {}", self.message)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        f.write_str(&self.without_position())
    }
}

impl std::error::Error for ValidationError {}

/// Why a rule file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    /// The text is not YAML of the rule-file shape (unknown field, wrong type, …);
    /// the message carries serde's path (`groups[0].rules[1]`) and position.
    #[error("{0}")]
    Yaml(String),
    /// The file has the right shape but its content is invalid; every problem found.
    #[error("{}", join(.0))]
    Invalid(Vec<ValidationError>),
}

impl RuleFileError {
    /// A YAML error with its position: serde's message where it has one, else the
    /// parser's `line:column` (an unknown field is reported without it).
    pub fn from_yaml(e: serde_yaml::Error) -> RuleFileError {
        let message = e.to_string();
        match e.location() {
            Some(at) if !message.contains(" line ") => RuleFileError::Yaml(format!(
                "{message} at line {} column {}",
                at.line(),
                at.column()
            )),
            _ => RuleFileError::Yaml(message),
        }
    }

    /// Adds to each problem where its rule or group is in `text`, the YAML it was
    /// parsed from.
    pub fn located(self, text: &str) -> RuleFileError {
        match self {
            RuleFileError::Invalid(errs) => RuleFileError::Invalid(
                errs.into_iter()
                    .map(|mut e| {
                        e.position = e.position.or_else(|| {
                            crate::locate::locate(text, &e.group, e.group_occurrence, e.rule_index)
                        });
                        e
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Every problem as its own message, for APIs that list them.
    pub fn messages(&self) -> Vec<String> {
        match self {
            RuleFileError::Yaml(m) => vec![m.clone()],
            RuleFileError::Invalid(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }
}

fn join(errs: &[ValidationError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}
