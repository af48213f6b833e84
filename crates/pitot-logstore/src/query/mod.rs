//! The read side: a tenant- and time-scoped querier over the head and the blocks.

pub mod iter;
mod querier;

pub use querier::LogStoreQuerier;
