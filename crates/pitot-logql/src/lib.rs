//! LogQL for Pitot: a hand-written parser, the log pipeline, and a metric-query
//! evaluator with Grafana Loki's semantics, over the `LogQueryable` storage contract.
//!
//! Design choices, and why:
//! - The parser is hand-written (recursive descent with Pratt-style binary operators)
//!   so that errors carry Loki's positions and wording (`parse error at line 1, col
//!   23: syntax error: unexpected ...`) and so that validation rules (which range
//!   functions take `unwrap`, where grouping is allowed) fail at parse time as in Loki.
//! - A pipeline is compiled once per query and run entry by entry with reusable
//!   buffers: literal filters use `memchr::memmem`, parsers write into a label builder
//!   whose slots keep their allocations, so steady-state filtering and parsing do not
//!   allocate per line. Labels keep Loki's three sources (stream, structured metadata,
//!   parsed) and its conflict rules (`<name>_extracted`).
//! - Metric queries select streams first (the only `async` work), then evaluate the
//!   tree synchronously for all steps; range aggregations keep only samples that fall
//!   in some window and group additive aggregations under `sum by` while scanning.
//!   Streams are walked by scoped worker threads.
//! - Pipeline errors (`__error__`) that reach a metric result fail the query with
//!   Loki's message, unless a label filter removes them.
//!
//! [`logqltest`] runs Loki's `.logqltest` scripts against the engine over an in-memory
//! store; it is the conformance suite.

pub mod ast;
mod engine;
mod error;
pub mod eval;
pub mod logqltest;
mod parser;
pub mod pipeline;
pub mod units;

pub use engine::{
    compile_log_query, CompiledLogQuery, Direction, LogProcessor, LogqlEngine, LogqlOptions,
    QueryData, QueryOutput, QueryParams, QueryStats, ResultEntry, StreamResult,
};
pub use error::{ErrorKind, LogqlError, ParseError};
pub use parser::{parse, parse_stream_selector};

/// A compiled log pipeline (re-exported under the name the HTTP layer expects).
pub type LogPipeline = pipeline::Pipeline;
