//! Metric metadata (type, help, unit of each metric family) as the metadata store keeps
//! it, so `/api/v1/metadata` answers after a restart before clients resend theirs.

use pitot_core::TenantId;
use serde::{Deserialize, Serialize};

/// One metric family's metadata, under the storage key (tenant or data source) whose
/// pushes carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricMetadataRow {
    /// The storage key the metadata was pushed to.
    pub key: TenantId,
    /// The metric family's name.
    pub family: String,
    /// `counter`, `gauge`, `histogram`, ... as the Prometheus metadata API names them.
    pub kind: String,
    /// HELP text.
    pub help: String,
    /// UNIT text.
    pub unit: String,
}
