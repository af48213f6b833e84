use std::time::Duration;

/// Limits applied to every pushed log stream and entry; defaults are Loki's.
#[derive(Debug, Clone)]
pub struct LogValidationLimits {
    /// Most labels a stream may have.
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// Longest line, in bytes; zero disables the check.
    pub max_line_size: usize,
    /// Truncate longer lines to `max_line_size` instead of refusing them.
    pub max_line_size_truncate: bool,
    /// How far into the past an entry may be; zero disables the check.
    pub reject_old_samples_max_age: Duration,
    /// How far into the future an entry may be.
    pub creation_grace_period: Duration,
    /// Largest total size of one entry's structured metadata (names + values), bytes.
    pub max_structured_metadata_size: usize,
    /// Most structured-metadata pairs on one entry.
    pub max_structured_metadata_entries_count: usize,
    /// Labels whose value becomes `service_name` when a stream has none (Loki 3's
    /// `discover_service_name`); empty disables the discovery.
    pub discover_service_name: Vec<String>,
}

impl Default for LogValidationLimits {
    fn default() -> Self {
        LogValidationLimits {
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_line_size: 256 * 1024,
            max_line_size_truncate: false,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(600),
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
            discover_service_name: [
                "service",
                "app",
                "application",
                "name",
                "app_kubernetes_io_name",
                "container",
                "container_name",
                "component",
                "workload",
                "job",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        }
    }
}
