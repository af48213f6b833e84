//! Values a template computes with: Go's dynamic values reduced to what Prometheus'
//! template data and functions produce.

use std::collections::BTreeMap;

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil` (a missing value).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer constant or length.
    Int(i64),
    /// A float (`$value`, sample values, float constants).
    Float(f64),
    /// A string.
    Str(String),
    /// A slice (`query` results, `args`).
    List(Vec<Value>),
    /// A map or struct (`$labels`, a query sample with `Labels` and `Value`).
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// A string-to-string map as a template map (`$labels`).
    pub fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect(),
        )
    }
}
