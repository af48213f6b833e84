//! What a rule-group write carries besides the YAML: the data source the group belongs
//! to, which stored groups the writer may see or replace, and the per-tenant count
//! limit the store enforces in the same transaction as the write.
//!
//! # The data-source model of rule groups
//!
//! A rule group is either *bound* to one data source of its tenant (uploaded with
//! `X-Pitot-Datasource: <name>` or under `/ds/<name>/`): it reads only that data source
//! and a token restricted to data sources sees it only if the token may read that one;
//! or *unbound* (uploaded by an unrestricted token without naming a data source, as
//! every group was before data sources existed): it reads every data source of its kind
//! and only unrestricted tokens see it. A restricted token can therefore never create,
//! see, replace or delete a group that reads a data source it may not read.

use pitot_core::TenantId;

/// Which stored rule groups one caller may see, replace and delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleGroupScope {
    /// Every group of the tenant (an unrestricted token, the platform).
    All,
    /// Only groups bound to one of these data sources (a token restricted to them).
    Datasources(Vec<String>),
}

impl RuleGroupScope {
    /// Whether a group bound to `datasource` (`None`: unbound, reading every data
    /// source) is within this scope.
    pub fn allows(&self, datasource: Option<&str>) -> bool {
        match (self, datasource) {
            (RuleGroupScope::All, _) => true,
            (RuleGroupScope::Datasources(names), Some(ds)) => names.iter().any(|n| n == ds),
            (RuleGroupScope::Datasources(_), None) => false,
        }
    }
}

/// One rule group to create or replace.
#[derive(Debug, Clone, Copy)]
pub struct RuleGroupWrite<'a> {
    /// Whose group.
    pub tenant: &'a TenantId,
    /// The stored namespace.
    pub namespace: &'a str,
    /// The group's name.
    pub name: &'a str,
    /// The validated group, as YAML.
    pub yaml: &'a str,
    /// The data source the group is bound to; `None` for an unbound group.
    pub datasource: Option<&'a str>,
    /// The tenant's `ruler_max_rule_groups_per_tenant`; 0 for no limit. Checked in the
    /// write's own transaction, so concurrent uploads can never exceed it together.
    pub max_groups: u64,
}

/// The stable reason ID of a refused upload over `ruler_max_rule_groups_per_tenant`.
pub const RULE_GROUPS_LIMIT_REASON: &str = "per-tenant-rule-groups-limit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_scopes_never_reach_unbound_groups() {
        let prod = RuleGroupScope::Datasources(vec!["prod".into()]);
        assert!(prod.allows(Some("prod")));
        assert!(!prod.allows(Some("metrics")));
        assert!(!prod.allows(None), "unbound groups read every data source");
        assert!(RuleGroupScope::All.allows(None));
        assert!(RuleGroupScope::All.allows(Some("metrics")));
    }
}
