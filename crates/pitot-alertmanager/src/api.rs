//! Alertmanager API v2 as plain functions: each takes the engine, the tenant (resolved by the
//! caller's authentication) and the request parts, and returns the JSON body Alertmanager would.
//! The server crate wraps them in handlers (or uses [`crate::router::api_v2_router`]).

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{json, Value};

use crate::alert::{Alert, PostableAlert};
use crate::engine::Alertmanager;
use crate::error::AmError;
use crate::limits::{exceeds, refused};
use crate::matcher::{matches_all, parse_matchers, Matcher};
use crate::silence::{new_id, validate, ApiMatcher, PostableSilence, Silence, SilenceState};
use crate::tenant::TenantState;
use pitot_core::TenantId;

/// The query parameters of `GET /api/v2/alerts` and `GET /api/v2/alerts/groups`.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    /// Label matchers (each `filter=` value may hold several).
    pub filter: Vec<Matcher>,
    /// Anchored regex on receiver names.
    pub receiver: Option<Regex>,
    /// Include active alerts (default true).
    pub active: bool,
    /// Include silenced alerts (default true).
    pub silenced: bool,
    /// Include inhibited alerts (default true).
    pub inhibited: bool,
    /// Include unprocessed alerts (default true; Pitot routes on receipt, so there are none).
    pub unprocessed: bool,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            filter: Vec::new(),
            receiver: None,
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
        }
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, AmError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(AmError::BadParam {
            name: name.to_string(),
            reason: format!("{v:?} is not a boolean"),
        }),
    }
}

/// Parses `filter=` values (repeatable) from a raw query string, for silences.
pub fn parse_filter_query(query: &str) -> Result<Vec<Matcher>, AmError> {
    Ok(AlertFilter::from_query(query)?.filter)
}

impl AlertFilter {
    /// Parses the raw query string (`filter` may repeat).
    pub fn from_query(query: &str) -> Result<Self, AmError> {
        let mut f = AlertFilter::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "filter" => f.filter.extend(parse_matchers(&v)?),
                "receiver" => {
                    f.receiver =
                        Some(
                            Regex::new(&format!("^(?:{v})$")).map_err(|e| AmError::BadParam {
                                name: "receiver".to_string(),
                                reason: e.to_string(),
                            })?,
                        )
                }
                "active" => f.active = parse_bool("active", &v)?,
                "silenced" => f.silenced = parse_bool("silenced", &v)?,
                "inhibited" => f.inhibited = parse_bool("inhibited", &v)?,
                "unprocessed" => f.unprocessed = parse_bool("unprocessed", &v)?,
                _ => {}
            }
        }
        Ok(f)
    }
}

fn gettable_alert(
    st: &TenantState,
    a: &Alert,
    now: DateTime<Utc>,
    f: &AlertFilter,
) -> Option<Value> {
    if a.resolved_at(now) || !matches_all(&f.filter, &a.labels) {
        return None;
    }
    let receivers = st.receivers_of(a);
    if let Some(re) = &f.receiver {
        if !receivers.iter().any(|r| re.is_match(r)) {
            return None;
        }
    }
    let marks = st.marks(a, now);
    let silenced = !marks.silenced_by.is_empty();
    let inhibited = !marks.inhibited_by.is_empty();
    let state = if silenced || inhibited {
        "suppressed"
    } else {
        "active"
    };
    if (!f.active && state == "active") || (!f.silenced && silenced) || (!f.inhibited && inhibited)
    {
        return None;
    }
    let receivers: Vec<Value> = receivers.iter().map(|r| json!({"name": r})).collect();
    Some(json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": a.starts_at,
        "endsAt": a.ends_at,
        "updatedAt": a.updated_at,
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint(),
        "receivers": receivers,
        "status": {
            "state": state,
            "silencedBy": marks.silenced_by,
            "inhibitedBy": marks.inhibited_by,
            "mutedBy": [],
        },
    }))
}

/// `GET /api/v2/alerts`: the tenant's current (unresolved) alerts.
pub fn get_alerts(am: &Alertmanager, tenant: &TenantId, f: &AlertFilter) -> Result<Value, AmError> {
    am.with_tenant(tenant, |st, now| {
        let out: Vec<Value> = st
            .alerts
            .values()
            .filter_map(|a| gettable_alert(st, a, now, f))
            .collect();
        Value::Array(out)
    })
}

/// `POST /api/v2/alerts`: the body is a JSON array of `postableAlert`.
pub fn post_alerts(am: &Alertmanager, tenant: &TenantId, body: &[u8]) -> Result<Value, AmError> {
    let alerts: Vec<PostableAlert> =
        serde_json::from_slice(body).map_err(|e| AmError::InvalidAlert(e.to_string()))?;
    am.post_alerts(tenant, alerts)?;
    Ok(Value::Null)
}

/// `GET /api/v2/alerts/groups`: aggregation groups with their current alerts.
pub fn get_alert_groups(
    am: &Alertmanager,
    tenant: &TenantId,
    f: &AlertFilter,
) -> Result<Value, AmError> {
    am.with_tenant(tenant, |st, now| {
        let mut out = Vec::new();
        for g in st.groups.values() {
            if let Some(re) = &f.receiver {
                if !re.is_match(&g.receiver) {
                    continue;
                }
            }
            let alerts: Vec<Value> = g
                .alerts
                .values()
                .filter_map(|a| gettable_alert(st, a, now, f))
                .collect();
            if alerts.is_empty() {
                continue;
            }
            out.push(
                json!({"labels": g.labels, "receiver": {"name": g.receiver}, "alerts": alerts}),
            );
        }
        Value::Array(out)
    })
}

/// `GET /api/v2/silences`, optionally filtered by `filter` matchers against silence matchers
/// (a silence matches when it has an equal matcher for each filter's label and value).
pub fn get_silences(
    am: &Alertmanager,
    tenant: &TenantId,
    filter: &[Matcher],
) -> Result<Value, AmError> {
    am.with_tenant(tenant, |st, now| {
        let mut list: Vec<&Silence> = st
            .silences
            .values()
            .filter(|s| {
                filter.iter().all(|f| {
                    s.matchers
                        .iter()
                        .any(|m| m.name == f.name && f.matches_value(&m.value))
                })
            })
            .collect();
        // Alertmanager's order: active, then pending, then expired; newest end first.
        list.sort_by_key(|s| {
            let rank = match s.state(now) {
                SilenceState::Active => 0,
                SilenceState::Pending => 1,
                SilenceState::Expired => 2,
            };
            (rank, std::cmp::Reverse(s.ends_at))
        });
        Value::Array(list.into_iter().map(|s| s.to_json(now)).collect())
    })
}

/// `POST /api/v2/silences`: creates, or updates when `id` names an unexpired silence; answers
/// `{"silenceID": id}`.
pub fn post_silence(am: &Alertmanager, tenant: &TenantId, body: &[u8]) -> Result<Value, AmError> {
    let p: PostableSilence =
        serde_json::from_slice(body).map_err(|e| AmError::InvalidSilence(e.to_string()))?;
    let id = am.with_tenant(tenant, |st, now| -> Result<String, AmError> {
        validate(&p, now)?;
        let existing = match &p.id {
            Some(id) if !id.is_empty() => Some(
                st.silences
                    .get(id)
                    .cloned()
                    .ok_or_else(|| AmError::SilenceNotFound(id.clone()))?,
            ),
            _ => None,
        };
        let id = match &existing {
            Some(old) if old.state(now) != SilenceState::Expired => old.id.clone(),
            _ => new_id(),
        };
        let starts_at = if p.starts_at < now { now } else { p.starts_at };
        check_silence_limits(st, &p, &id, now)?;
        let silence = Silence {
            id: id.clone(),
            matchers: p.matchers.clone(),
            starts_at: match &existing {
                Some(old) if old.id == id && old.state(now) == SilenceState::Active => {
                    old.starts_at
                }
                _ => starts_at,
            },
            ends_at: p.ends_at,
            updated_at: now,
            created_by: p.created_by.clone(),
            comment: p.comment.clone(),
        };
        st.silences.insert(id.clone(), silence);
        st.save_silences()?;
        Ok(id)
    })??;
    Ok(json!({"silenceID": id}))
}

/// Refuses a silence that is too large, or a new one when the tenant already has
/// `alertmanager_max_silences_count` active and pending silences (expired ones do not count;
/// updating a silence in place does not add one). Runs under the tenant's lock with the write.
fn check_silence_limits(
    st: &TenantState,
    p: &PostableSilence,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), AmError> {
    let limits = st.limits;
    let size = serde_json::to_vec(p).map(|v| v.len()).unwrap_or(usize::MAX) as u64;
    if exceeds(size, limits.max_silence_size_bytes) {
        return Err(refused(
            "alertmanager-max-silence-size",
            format!(
                "the silence is {size} bytes (limit: {})",
                limits.max_silence_size_bytes
            ),
            "alertmanager_max_silence_size_bytes",
        ));
    }
    let in_place = st
        .silences
        .get(id)
        .is_some_and(|s| s.state(now) != SilenceState::Expired);
    if in_place {
        return Ok(());
    }
    let live = st
        .silences
        .values()
        .filter(|s| s.state(now) != SilenceState::Expired)
        .count() as u64;
    if exceeds(live + 1, limits.max_silences_count) {
        return Err(refused(
            "alertmanager-max-silences-count",
            format!(
                "too many silences: the tenant has {live} active and pending silences (limit: {}); expire some first",
                limits.max_silences_count
            ),
            "alertmanager_max_silences_count",
        ));
    }
    Ok(())
}

/// `GET /api/v2/silence/{id}`.
pub fn get_silence(am: &Alertmanager, tenant: &TenantId, id: &str) -> Result<Value, AmError> {
    am.with_tenant(tenant, |st, now| {
        st.silences
            .get(id)
            .map(|s| s.to_json(now))
            .ok_or_else(|| AmError::SilenceNotFound(id.to_string()))
    })?
}

/// `DELETE /api/v2/silence/{id}`: expires the silence now (a pending one never starts).
pub fn delete_silence(am: &Alertmanager, tenant: &TenantId, id: &str) -> Result<Value, AmError> {
    am.with_tenant(tenant, |st, now| {
        let s = st
            .silences
            .get_mut(id)
            .ok_or_else(|| AmError::SilenceNotFound(id.to_string()))?;
        match s.state(now) {
            SilenceState::Expired => return Err(AmError::SilenceAlreadyExpired(id.to_string())),
            SilenceState::Pending => s.starts_at = now,
            SilenceState::Active => {}
        }
        s.ends_at = now;
        s.updated_at = now;
        st.save_silences()?;
        Ok(Value::Null)
    })?
}

/// `GET /api/v2/status`: the shape amtool and Grafana expect (clustering is disabled).
pub fn get_status(am: &Alertmanager, tenant: &TenantId) -> Result<Value, AmError> {
    let config = am.config(tenant)?;
    Ok(json!({
        "cluster": {"name": "", "peers": [], "status": "disabled"},
        "config": {"original": config.original},
        "uptime": am.started(),
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": env!("CARGO_PKG_VERSION"),
        },
    }))
}

/// `GET /api/v2/receivers`.
pub fn get_receivers(am: &Alertmanager, tenant: &TenantId) -> Result<Value, AmError> {
    let config = am.config(tenant)?;
    Ok(Value::Array(
        config
            .receivers
            .iter()
            .map(|r| json!({"name": r.name}))
            .collect(),
    ))
}

/// Turns an API matcher list into compiled matchers (for callers building filters).
pub fn compile_matchers(ms: &[ApiMatcher]) -> Result<Vec<Matcher>, AmError> {
    ms.iter().map(ApiMatcher::to_matcher).collect()
}
