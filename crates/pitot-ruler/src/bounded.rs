//! The storage one group evaluation reads: the group's own data sources, each query
//! held to the tenant's series limit, and no query started after the evaluation's
//! deadline, so one group's evaluation is time-boxed by the tenant's query timeout
//! however many rules and template queries it runs.

use std::time::Instant;

use pitot_core::TenantId;
use pitot_storage_api::{Querier, Queryable, QueryableRef, SeriesLimited, StorageError};

/// The stable reason ID of a group evaluation that ran past its time box.
pub const GROUP_TIMEOUT_REASON: &str = "rule-group-evaluation-timeout";

/// A queryable for one group evaluation (see the module docs).
pub struct BoundedQueryable {
    inner: QueryableRef,
    max_series: usize,
    deadline: Instant,
}

impl BoundedQueryable {
    /// Reads `inner`; each querier (one per query) may select `max_series` series (0: no
    /// limit); none is handed out after `deadline`.
    pub fn new(inner: QueryableRef, max_series: usize, deadline: Instant) -> Self {
        BoundedQueryable {
            inner,
            max_series,
            deadline,
        }
    }
}

/// The error of a query started after the group's deadline.
pub fn deadline_error() -> String {
    format!("{GROUP_TIMEOUT_REASON}: the group's evaluation ran longer than the tenant's query_timeout, so its remaining queries were not run; make the group's rules or templates cheaper, split the group, or raise query_timeout")
}

impl Queryable for BoundedQueryable {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        if Instant::now() >= self.deadline {
            return Err(StorageError::LimitExceeded(deadline_error()));
        }
        // One series budget per query, as the API's queries have.
        SeriesLimited::new(std::sync::Arc::clone(&self.inner), self.max_series)
            .querier(tenant, mint, maxt)
    }
}
