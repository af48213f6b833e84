use std::time::Duration;

/// Limits applied to every pushed series (defaults are what a managed service of this
/// kind publishes; per-tenant overrides come with the limits work).
#[derive(Debug, Clone)]
pub struct ValidationLimits {
    /// Most labels a series may have, `__name__` included.
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// How far into the future a sample timestamp may be.
    pub creation_grace_period: Duration,
    /// How far into the past a sample timestamp may be; zero disables the check (the
    /// head still refuses samples older than its last cut).
    pub past_grace_period: Duration,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            creation_grace_period: Duration::from_secs(600),
            past_grace_period: Duration::ZERO,
        }
    }
}
