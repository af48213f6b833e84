//! Errors of rule-file parsing and validation.

use std::fmt;

/// One problem found while validating a rule file. It names the group and, when the
/// problem is in a rule, the rule's 1-based index and name, so that users can find it
/// in a file with hundreds of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The group's name.
    pub group: String,
    /// 1-based index of the rule in the group, when the problem is in a rule.
    pub rule_index: Option<usize>,
    /// The rule's `record` or `alert` name, when the problem is in a rule.
    pub rule_name: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {:?}", self.group)?;
        if let Some(i) = self.rule_index {
            write!(f, ", rule {i}")?;
        }
        if let Some(n) = &self.rule_name {
            write!(f, ", {n:?}")?;
        }
        write!(f, ": {}", self.message)
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
