//! Inhibition: a firing alert matching a rule's source mutes alerts matching its target when
//! the `equal` labels agree.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, Fingerprint};
use crate::config::InhibitRule;
use crate::matcher::matches_all;

/// The fingerprints of the firing alerts that inhibit `target` at `now` (empty: not inhibited).
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    alerts: impl Iterator<Item = &'a Alert> + Clone,
    target: &Alert,
    now: DateTime<Utc>,
) -> Vec<Fingerprint> {
    let target_fp = target.fingerprint();
    let mut out = Vec::new();
    for rule in rules {
        if !matches_all(&rule.target_matchers, &target.labels) {
            continue;
        }
        for source in alerts.clone() {
            if source.resolved_at(now) || !matches_all(&rule.source_matchers, &source.labels) {
                continue;
            }
            let fp = source.fingerprint();
            // An alert matching both sides cannot inhibit itself.
            if fp == target_fp {
                continue;
            }
            let equal = rule
                .equal
                .iter()
                .all(|l| source.labels.get(l) == target.labels.get(l));
            if equal && !out.contains(&fp) {
                out.push(fp);
            }
        }
    }
    out
}
