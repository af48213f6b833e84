//! Pitot's PromQL engine: Prometheus 3 query semantics over the storage read trait.
//!
//! Queries are parsed by the `promql-parser` crate and evaluated over a
//! `&dyn pitot_storage_api::Queryable` handed in per query, so the engine never knows
//! whether data lives in the head, in blocks or in a remote ingester, and one engine
//! serves every tenant.
//!
//! Evaluation has two phases. First every selector of the query is located and its time
//! range computed (offsets, `@`, ranges, subqueries and the lookback delta included);
//! each selector's series are selected and decoded exactly once into memory. Then the
//! expression tree is evaluated synchronously, every node for all steps of the query at
//! once: a node's value is a scalar per step or a set of series with one optional point
//! per step. This shape lets selectors walk each decoded series with a cursor instead of
//! searching per step, and lets aggregations and vector matching compute label
//! signatures once per series, while per-step rules (matching errors, `topk`, set
//! operators) are still applied step by step. An instant query is a range query of one
//! step.
//!
//! An operation that drops the metric name only marks the series. By default (as in a
//! Prometheus server, where delayed name removal is an experimental feature flag that is
//! off) the marked names are removed when the node's value is built, and series that
//! then share a label set are an error there. With
//! [`EngineOptions::delayed_name_removal`] (Prometheus 3's `promql-delayed-name-removal`,
//! on in Prometheus' test engine and so in [`promqltest`]) names are removed only when the
//! query's result is built, so that intermediate results of different metrics do not
//! collide; aggregations that keep `__name__` (`by (__name__)`) keep the mark.
//!
//! Selection is `async` (storage may fetch chunks), evaluation is not: once data is in
//! memory the query is pure CPU work, so callers on an async runtime should run large
//! queries on a blocking thread. Duration expressions (`x[5m+step()]`) are rewritten
//! into literals before parsing, because the parser accepts only literal durations.
//! Native histograms are not evaluated yet: histogram samples are not part of the
//! storage contract.
//!
//! The [`promqltest`] module runs Prometheus' own PromQL test scripts against the engine
//! on an in-memory store; it is the conformance suite.

mod engine;
mod error;
mod eval;
mod preprocess;
pub mod promqltest;
mod value;

pub use engine::{
    parse, parse_cache_stats, parse_for_query, parse_guarded, Engine, EngineOptions,
    MAX_POINTS_PER_SERIES,
};
pub use error::{ErrorKind, PromqlError};
pub use value::{QueryResult, Value};

/// Hash maps keyed by label sets are on every large query's path; foldhash instead of
/// SipHash (its seed is per process, so label sets cannot be chosen to collide).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set counterpart of [`HashMap`].
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
