//! The routing tree with inherited options resolved, and the matching walk Alertmanager does.

use std::time::Duration;

use super::duration::parse_duration;
use super::raw::RawRoute;
use crate::matcher::{matches_all, parse_matchers, LabelSet, MatchOp, Matcher};

/// Which labels an aggregation group is keyed by.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label, so each alert is its own group.
    All,
    /// These labels (possibly none: one group for the route).
    Labels(Vec<String>),
}

/// A routing node with its parent's options already inherited.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree (`0`, `0.1`, ...), unique, used to key aggregation groups.
    pub id: String,
    /// Alertmanager's route key (`{}/{team="a"}`), the prefix of group keys.
    pub key: String,
    /// The receiver notified for groups of this route.
    pub receiver: String,
    /// How alerts are grouped.
    pub group_by: GroupBy,
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait between notifications about changes of a group.
    pub group_interval: Duration,
    /// Wait before re-sending an unchanged notification.
    pub repeat_interval: Duration,
    /// All must match for the route to match.
    pub matchers: Vec<Matcher>,
    /// Keep matching siblings after this route matched.
    pub continue_: bool,
    /// Named intervals during which notifications are muted.
    pub mute_time_intervals: Vec<String>,
    /// Named intervals outside of which notifications are muted (empty: always active).
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
}

impl Route {
    /// The routes an alert with these labels is delivered through (Alertmanager's `Match`):
    /// the deepest matching children, or this route when none matches.
    pub fn match_labels(&self, labels: &LabelSet) -> Vec<&Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let matched = child.match_labels(labels);
            let found = !matched.is_empty();
            all.extend(matched);
            if found && !child.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Every route in the tree, depth first, so validation and lookups can visit them.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }

    /// The labels that form the group for an alert on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// Options handed down from a parent route.
struct Inherited<'a> {
    receiver: Option<&'a str>,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

pub(crate) fn route_from_raw(raw: &RawRoute) -> Result<Route, String> {
    if !raw.matchers.is_empty() || !raw.match_.is_empty() || !raw.match_re.is_empty() {
        return Err("route: the root route must not have any matchers".to_string());
    }
    if raw.receiver.as_deref().unwrap_or("").is_empty() {
        return Err("route.receiver: the root route must have a receiver".to_string());
    }
    if raw.continue_ {
        return Err("route.continue: cannot be set on the root route".to_string());
    }
    if !raw.mute_time_intervals.is_empty() || !raw.active_time_intervals.is_empty() {
        return Err(
            "route: the root route must not have mute_time_intervals or active_time_intervals"
                .to_string(),
        );
    }
    let defaults = Inherited {
        receiver: None,
        group_by: GroupBy::Labels(Vec::new()),
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
    };
    build(raw, &defaults, "route", "0", "{}")
}

fn duration_field(
    v: &Option<String>,
    field: &str,
    name: &str,
    inherited: Duration,
) -> Result<Duration, String> {
    match v {
        None => Ok(inherited),
        Some(s) => {
            let d = parse_duration(s).map_err(|e| format!("{field}.{name}: {e}"))?;
            if d.is_zero() && name != "group_wait" {
                return Err(format!("{field}.{name}: must be greater than 0"));
            }
            Ok(d)
        }
    }
}

fn build(
    raw: &RawRoute,
    parent: &Inherited,
    field: &str,
    id: &str,
    parent_key: &str,
) -> Result<Route, String> {
    let mut matchers = Vec::new();
    for (k, v) in &raw.match_ {
        matchers
            .push(Matcher::new(k, MatchOp::Equal, v).map_err(|e| format!("{field}.match: {e}"))?);
    }
    for (k, v) in &raw.match_re {
        matchers.push(
            Matcher::new(k, MatchOp::Regex, v).map_err(|e| format!("{field}.match_re: {e}"))?,
        );
    }
    for m in &raw.matchers {
        matchers.extend(parse_matchers(m).map_err(|e| format!("{field}.matchers: {e}"))?);
    }
    let group_by = match &raw.group_by {
        None => parent.group_by.clone(),
        Some(labels) if labels.iter().any(|l| l == "...") => {
            if labels.len() > 1 {
                return Err(format!(
                    "{field}.group_by: '...' must be the only element when present"
                ));
            }
            GroupBy::All
        }
        Some(labels) => {
            let mut names = Vec::new();
            for l in labels {
                if !is_label_name(l) {
                    return Err(format!("{field}.group_by: {l:?} is not a valid label name"));
                }
                if names.contains(l) {
                    return Err(format!("{field}.group_by: duplicated label {l:?}"));
                }
                names.push(l.clone());
            }
            GroupBy::Labels(names)
        }
    };
    let receiver = raw
        .receiver
        .as_deref()
        .filter(|r| !r.is_empty())
        .or(parent.receiver)
        .ok_or_else(|| format!("{field}.receiver: missing"))?;
    let here = Inherited {
        receiver: Some(receiver),
        group_by: group_by.clone(),
        group_wait: duration_field(&raw.group_wait, field, "group_wait", parent.group_wait)?,
        group_interval: duration_field(
            &raw.group_interval,
            field,
            "group_interval",
            parent.group_interval,
        )?,
        repeat_interval: duration_field(
            &raw.repeat_interval,
            field,
            "repeat_interval",
            parent.repeat_interval,
        )?,
    };
    let key = if id == "0" {
        "{}".to_string()
    } else {
        let ms: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
        format!("{parent_key}/{{{}}}", ms.join(","))
    };
    let mut routes = Vec::new();
    for (i, child) in raw.routes.iter().enumerate() {
        routes.push(build(
            child,
            &here,
            &format!("{field}.routes[{i}]"),
            &format!("{id}.{i}"),
            &key,
        )?);
    }
    Ok(Route {
        id: id.to_string(),
        key,
        receiver: receiver.to_string(),
        group_by,
        group_wait: here.group_wait,
        group_interval: here.group_interval,
        repeat_interval: here.repeat_interval,
        matchers,
        continue_: raw.continue_,
        mute_time_intervals: raw.mute_time_intervals.clone(),
        active_time_intervals: raw.active_time_intervals.clone(),
        routes,
    })
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
