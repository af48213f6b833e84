//! Query results as the HTTP API and the ruler consume them.

use pitot_core::{Labels, Sample};

/// The result of a query, in the four shapes of Prometheus' `resultType`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An instant vector: one sample per series, all at the evaluation time.
    Vector(Vec<(Labels, Sample)>),
    /// A range vector: series sorted by labels, each with ascending samples.
    Matrix(Vec<(Labels, Vec<Sample>)>),
    /// A scalar at a time (ms).
    Scalar(i64, f64),
    /// A string at a time (ms).
    String(i64, String),
}

impl Value {
    /// The Prometheus `resultType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
            Value::Scalar(..) => "scalar",
            Value::String(..) => "string",
        }
    }
}

/// A successful query: the value plus the annotations Prometheus returns next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// Warnings (`PromQL warning: …`), shown to users as possible wrong results.
    pub warnings: Vec<String>,
    /// Informational notes (`PromQL info: …`), for example a counter function applied
    /// to a metric that does not look like a counter.
    pub infos: Vec<String>,
}
