//! The notification log: what each integration was last told about each group, so a group is not
//! re-sent before `repeat_interval` and a restart does not resend (Alertmanager's nflog and its
//! dedup decision).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Fingerprint;

/// How long entries are kept after their last notification (Alertmanager's default retention).
pub const RETENTION: chrono::Duration = chrono::Duration::hours(120);

/// The last successful notification for one (group, receiver, integration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// When it was sent.
    pub timestamp: DateTime<Utc>,
    /// Alerts that were firing in it.
    pub firing: BTreeSet<Fingerprint>,
    /// Alerts that were resolved in it.
    pub resolved: BTreeSet<Fingerprint>,
}

/// All entries of one tenant, keyed by [`key`].
pub type Nflog = BTreeMap<String, NflogEntry>;

/// The log key of a group's notification through one integration.
pub fn key(group_key: &str, receiver: &str, integration: &str) -> String {
    format!("{group_key}|{receiver}|{integration}")
}

/// Whether a notification must be sent, given the last one (Alertmanager's dedup rules): new
/// firing alerts always notify; all-resolved notifies if something was firing; newly resolved
/// alerts notify when `send_resolved`; otherwise only after `repeat`.
pub fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<Fingerprint>,
    resolved: &BTreeSet<Fingerprint>,
    send_resolved: bool,
    repeat: chrono::Duration,
    now: DateTime<Utc>,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.timestamp < now - repeat
}

/// Drops entries past retention.
pub fn gc(log: &mut Nflog, now: DateTime<Utc>) -> bool {
    let before = log.len();
    log.retain(|_, e| e.timestamp + RETENTION > now);
    log.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<Fingerprint> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dedup_rules() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let repeat = chrono::Duration::hours(4);
        assert!(needs_update(
            None,
            &set(&["a"]),
            &set(&[]),
            true,
            repeat,
            now
        ));
        assert!(!needs_update(
            None,
            &set(&[]),
            &set(&["a"]),
            true,
            repeat,
            now
        ));
        let e = NflogEntry {
            timestamp: now,
            firing: set(&["a", "b"]),
            resolved: set(&[]),
        };
        let later = now + chrono::Duration::minutes(5);
        assert!(!needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&["b"]),
            false,
            repeat,
            later
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&["b"]),
            true,
            repeat,
            later
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a", "c"]),
            &set(&[]),
            false,
            repeat,
            later
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[]),
            &set(&["a", "b"]),
            false,
            repeat,
            later
        ));
        assert!(!needs_update(
            Some(&e),
            &set(&["a", "b"]),
            &set(&[]),
            true,
            repeat,
            later
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a", "b"]),
            &set(&[]),
            true,
            repeat,
            now + repeat + chrono::Duration::seconds(1)
        ));
    }
}
