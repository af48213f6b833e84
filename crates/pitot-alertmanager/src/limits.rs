//! The per-tenant limits the Alertmanager enforces (Mimir's `alertmanager_max_*` limits), and
//! the checks that refuse what would exceed them.
//!
//! The engine does not depend on the limits registry: it is handed a [`LimitsFn`] that returns
//! a tenant's current limits, read on every write so run-time changes apply at once. Every
//! check runs under the tenant's state lock together with the write it guards, so concurrent
//! requests cannot pass a check together and exceed the limit (no check-then-write race).
//! A limit of 0 means no limit, as in Mimir.

use std::sync::Arc;

use pitot_core::TenantId;

use crate::config::AlertmanagerConfig;
use crate::error::AmError;

/// One tenant's Alertmanager limits; 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmLimits {
    /// `alertmanager_max_config_size_bytes`: the uploaded document, templates included.
    pub max_config_size_bytes: u64,
    /// `alertmanager_max_templates_count`.
    pub max_templates_count: u64,
    /// `alertmanager_max_template_size_bytes`: one template file.
    pub max_template_size_bytes: u64,
    /// `alertmanager_max_alerts_count`: alerts held (firing and resolved, not yet dropped).
    pub max_alerts_count: u64,
    /// `alertmanager_max_alerts_size_bytes`: labels, annotations and generator URLs of them.
    pub max_alerts_size_bytes: u64,
    /// `alertmanager_max_silences_count`: active and pending silences.
    pub max_silences_count: u64,
    /// `alertmanager_max_silence_size_bytes`: one silence.
    pub max_silence_size_bytes: u64,
    /// `alertmanager_max_dispatcher_aggregation_groups`.
    pub max_dispatcher_aggregation_groups: u64,
}

/// Returns a tenant's current limits.
pub type LimitsFn = Arc<dyn Fn(&TenantId) -> AmLimits + Send + Sync>;

/// A [`LimitsFn`] that holds nobody to anything (tests, embedded use).
pub fn unlimited() -> LimitsFn {
    Arc::new(|_| AmLimits::default())
}

/// Whether `value` is above `limit` (0 is no limit).
pub fn exceeds(value: u64, limit: u64) -> bool {
    limit != 0 && value > limit
}

/// The refusal of a write that would exceed `setting`; the message starts with the reason ID
/// and names the setting the operator can raise.
pub fn refused(reason: &'static str, what: String, setting: &'static str) -> AmError {
    AmError::LimitExceeded {
        reason,
        message: format!("{what}; stay below it or ask the operator to raise {setting}"),
    }
}

/// Checks an uploaded configuration against the size and template limits.
pub fn check_config(
    limits: &AmLimits,
    document_bytes: usize,
    config: &AlertmanagerConfig,
) -> Result<(), AmError> {
    if exceeds(document_bytes as u64, limits.max_config_size_bytes) {
        return Err(refused(
            "alertmanager-max-config-size",
            format!(
                "the configuration is {document_bytes} bytes (limit: {})",
                limits.max_config_size_bytes
            ),
            "alertmanager_max_config_size_bytes",
        ));
    }
    let count = config.template_files.len() as u64;
    if exceeds(count, limits.max_templates_count) {
        return Err(refused(
            "alertmanager-max-templates-count",
            format!(
                "the configuration has {count} template files (limit: {})",
                limits.max_templates_count
            ),
            "alertmanager_max_templates_count",
        ));
    }
    for (name, text) in &config.template_files {
        if exceeds(text.len() as u64, limits.max_template_size_bytes) {
            return Err(refused(
                "alertmanager-max-template-size",
                format!(
                    "template file {name:?} is {} bytes (limit: {})",
                    text.len(),
                    limits.max_template_size_bytes
                ),
                "alertmanager_max_template_size_bytes",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config_with_templates(n: usize, size: usize) -> AlertmanagerConfig {
        let files: BTreeMap<String, String> = (0..n)
            .map(|i| (format!("t{i}.tmpl"), "x".repeat(size)))
            .collect();
        AlertmanagerConfig::parse(crate::config::FALLBACK_CONFIG, files).unwrap()
    }

    #[test]
    fn zero_is_no_limit() {
        assert!(!exceeds(u64::MAX, 0));
        assert!(exceeds(11, 10));
        assert!(!exceeds(10, 10));
        check_config(
            &AmLimits::default(),
            1 << 30,
            &config_with_templates(3, 100),
        )
        .unwrap();
    }

    #[test]
    fn config_limits_name_the_setting() {
        let limits = AmLimits {
            max_config_size_bytes: 1000,
            max_templates_count: 2,
            max_template_size_bytes: 50,
            ..Default::default()
        };
        let cases = [
            (
                1001,
                config_with_templates(0, 0),
                "alertmanager_max_config_size_bytes",
            ),
            (
                10,
                config_with_templates(3, 1),
                "alertmanager_max_templates_count",
            ),
            (
                10,
                config_with_templates(1, 51),
                "alertmanager_max_template_size_bytes",
            ),
        ];
        for (bytes, config, setting) in cases {
            let e = check_config(&limits, bytes, &config).unwrap_err();
            assert!(e.to_string().contains(setting), "{e}");
            assert_eq!(e.http_status(), 400);
        }
        check_config(&limits, 1000, &config_with_templates(2, 50)).unwrap();
    }
}
