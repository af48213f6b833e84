//! Prometheus' alert template language: the subset of Go's `text/template` that alert
//! labels and annotations use, with Prometheus' functions.
//!
//! A template is parsed once (so validation can reject bad templates when a rule file
//! is loaded) and rendered per alert with [`TemplateData`]: `$labels`, `$value`,
//! `$externalLabels`, `$externalURL`, and the same as fields of `.`. Supported: text and
//! actions with trim markers and comments, pipelines, variables (`:=`, `=`), `if` /
//! `else if` / `else`, `range` (with `$i, $e :=`, `else`, `break`, `continue`),
//! `with`, parenthesized pipelines, Go's builtins (`and or not len index eq ne lt le
//! gt ge print printf println html js urlquery`) and Prometheus' functions. Not
//! supported: `define`/`template`/`block`.
//!
//! Every rendering is metered by a [`TemplateBudget`] ([`TemplateLimits::RULES`] unless
//! the caller passes its own): strings are charged before they are built, calls,
//! `range` iterations, nesting and `query` calls are counted, and a template that
//! passes a limit fails with a [`TemplateError`] carrying the budget's reason ID
//! instead of allocating without bound.

#[cfg(test)]
mod budget_tests;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod value;

use std::collections::BTreeMap;

use pitot_core::{TemplateBudget, TemplateBudgetError, TemplateLimits};

pub use funcs::{QueryCallback, QuerySample};
pub use gofmt::format_g;
pub use value::Value;

use parse::{Node, Operand, Pipeline};

/// A template failed to parse or to render; the message follows Go's wording where it
/// matters to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    message: String,
    reason: Option<&'static str>,
}

impl TemplateError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
            reason: None,
        }
    }

    /// The stable reason ID (`template-output-too-large`, ...) when the template was
    /// stopped by its budget; `None` for any other error (a parse error, a missing
    /// value, a failed query).
    pub fn budget_reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// The same error with `prefix: ` before its message.
    fn prefixed(self, prefix: &str) -> Self {
        TemplateError {
            message: format!("{prefix}: {}", self.message),
            reason: self.reason,
        }
    }
}

impl From<TemplateBudgetError> for TemplateError {
    fn from(e: TemplateBudgetError) -> Self {
        TemplateError {
            message: e.to_string(),
            reason: Some(e.reason()),
        }
    }
}

/// A parsed template, reusable across renderings.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

/// The data an alert template sees.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    /// The alert's labels (`$labels`, `.Labels`).
    pub labels: BTreeMap<String, String>,
    /// The configured external labels (`$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// The external URL (`$externalURL`, `externalURL`, `pathPrefix`).
    pub external_url: String,
    /// The alert's sample value (`$value`, `.Value`).
    pub value: f64,
}

impl Template {
    /// Parses `text`; `name` is used in error messages (`template: <name>:…`).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let wrap = |e: TemplateError| e.prefixed(name);
        let items = lex::split(text).map_err(wrap)?;
        let nodes = parse::parse(items).map_err(wrap)?;
        check_functions(&nodes).map_err(wrap)?;
        Ok(Template {
            name: name.to_string(),
            nodes,
        })
    }

    /// Renders with `data` under a fresh budget of [`TemplateLimits::RULES`]; `query`
    /// backs the `query` function (`None` disables it).
    pub fn render(
        &self,
        data: &TemplateData,
        query: Option<&QueryCallback<'_>>,
    ) -> Result<String, TemplateError> {
        self.render_with_budget(data, query, &mut TemplateBudget::new(TemplateLimits::RULES))
    }

    /// Renders with `data`, charging `budget`.
    pub fn render_with_budget(
        &self,
        data: &TemplateData,
        query: Option<&QueryCallback<'_>>,
        budget: &mut TemplateBudget,
    ) -> Result<String, TemplateError> {
        let map = |m: &BTreeMap<String, String>| {
            Value::string_map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        };
        let mut root = BTreeMap::new();
        root.insert("Labels".to_string(), map(&data.labels));
        root.insert("ExternalLabels".to_string(), map(&data.external_labels));
        root.insert(
            "ExternalURL".to_string(),
            Value::Str(data.external_url.clone()),
        );
        root.insert("Value".to_string(), Value::Float(data.value));
        let vars = vec![
            ("$labels".to_string(), map(&data.labels)),
            ("$externalLabels".to_string(), map(&data.external_labels)),
            (
                "$externalURL".to_string(),
                Value::Str(data.external_url.clone()),
            ),
            ("$value".to_string(), Value::Float(data.value)),
        ];
        let env = funcs::Env {
            query,
            external_url: &data.external_url,
        };
        exec::execute(&self.nodes, &Value::Map(root), vars, &env, budget)
            .map_err(|e| e.prefixed(&self.name))
    }
}

/// Renders `text` once; for callers that do not keep the parsed template.
pub fn render(
    name: &str,
    text: &str,
    data: &TemplateData,
    query: Option<&QueryCallback<'_>>,
) -> Result<String, TemplateError> {
    Template::parse(name, text)?.render(data, query)
}

fn check_functions(nodes: &[Node]) -> Result<(), TemplateError> {
    fn pipe(p: &Pipeline) -> Result<(), TemplateError> {
        for cmd in &p.cmds {
            for op in cmd {
                match op {
                    Operand::Func(f) if !funcs::is_known(f) => {
                        return Err(TemplateError::new(format!("function {f:?} not defined")))
                    }
                    Operand::Sub(inner, _) => pipe(inner)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for n in nodes {
        match n {
            Node::Action(p) => pipe(p)?,
            Node::If {
                branches,
                otherwise,
            } => {
                for (c, b) in branches {
                    pipe(c)?;
                    check_functions(b)?;
                }
                check_functions(otherwise)?;
            }
            Node::Range {
                pipe: p,
                body,
                otherwise,
            }
            | Node::With {
                pipe: p,
                body,
                otherwise,
            } => {
                pipe(p)?;
                check_functions(body)?;
                check_functions(otherwise)?;
            }
            Node::Text(_) | Node::Break | Node::Continue => {}
        }
    }
    Ok(())
}
