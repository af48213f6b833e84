//! Usage metering: what each tenant used, per data source and hour, exactly.
//!
//! Ingest and query paths add to a [`UsageMeter`] in memory (a mutex-guarded map of
//! small counters, so the hot path pays one lock and a few additions); the server
//! flushes the accumulated deltas to the metadata store every few seconds and on
//! shutdown, where rows of the same tenant, data source and hour are summed (peaks and
//! stored bytes take the maximum). Reads aggregate stored hours into days or months.

pub mod cost;
mod meter;
mod row;

pub use cost::{
    month_bounds, month_cost, month_cost_with_retention, parse_month, MonthCost, PricePlan,
    RetentionTier,
};
pub use meter::{UsageKey, UsageMeter};
pub use row::{aggregate, hour_start, Granularity, UsageRow};
