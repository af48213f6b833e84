//! Silences: matchers plus a time window that mute matching alerts, with Alertmanager's
//! pending/active/expired states and validation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::AmError;
use crate::matcher::{LabelSet, MatchOp, Matcher};

/// A matcher as API v2 spells it (`isRegex`, `isEqual`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    /// The label name.
    pub name: String,
    /// The value or regex.
    pub value: String,
    /// Regex comparison.
    pub is_regex: bool,
    /// Positive comparison (defaults to true, as in API v2).
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    /// Compiles the matcher.
    pub fn to_matcher(&self) -> Result<Matcher, AmError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(&self.name, op, &self.value)
    }

    /// The API form of a compiled matcher.
    pub fn from_matcher(m: &Matcher) -> Self {
        ApiMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.is_regex(),
            is_equal: m.is_equal(),
        }
    }
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Mutes matching alerts now.
    Active,
    /// Over.
    Expired,
}

impl SilenceState {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// A stored silence (also its on-disk form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Stable identifier (UUID format).
    pub id: String,
    /// All must match for an alert to be silenced.
    pub matchers: Vec<ApiMatcher>,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window.
    pub ends_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A silence as posted to `POST /api/v2/silences` (an `id` updates an existing one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    /// Present to update an existing silence.
    #[serde(default)]
    pub id: Option<String>,
    /// All must match for an alert to be silenced.
    pub matchers: Vec<ApiMatcher>,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window.
    pub ends_at: DateTime<Utc>,
    /// Who created it.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

impl Silence {
    /// The state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Compiled matchers; stored silences were validated, so failures are dropped.
    pub fn compiled(&self) -> Vec<Matcher> {
        self.matchers
            .iter()
            .filter_map(|m| m.to_matcher().ok())
            .collect()
    }

    /// Whether it mutes an alert with these labels at `now`.
    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
            && !self.matchers.is_empty()
            && self.compiled().iter().all(|m| m.matches(labels))
    }

    /// The API v2 `gettableSilence` JSON.
    pub fn to_json(&self, now: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "status": {"state": self.state(now).as_str()},
            "updatedAt": self.updated_at,
            "matchers": self.matchers,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "createdBy": self.created_by,
            "comment": self.comment,
        })
    }
}

/// Validates a posted silence as Alertmanager does.
pub fn validate(p: &PostableSilence, now: DateTime<Utc>) -> Result<(), AmError> {
    let bad = |m: String| Err(AmError::InvalidSilence(m));
    if p.matchers.is_empty() {
        return bad("at least one matcher required".to_string());
    }
    let mut all_match_empty = true;
    for m in &p.matchers {
        if m.name.is_empty() {
            return bad("matcher with an empty label name".to_string());
        }
        let compiled = m.to_matcher()?;
        if !compiled.matches_value("") {
            all_match_empty = false;
        }
    }
    if all_match_empty {
        return bad("at least one matcher must not match the empty string".to_string());
    }
    if p.ends_at <= p.starts_at {
        return bad(format!(
            "endsAt {} must be after startsAt {}",
            p.ends_at, p.starts_at
        ));
    }
    if p.ends_at <= now {
        return bad(format!("endsAt {} is in the past", p.ends_at));
    }
    Ok(())
}

/// A random UUID v4 string, the ID format amtool and Grafana expect.
pub fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
