//! The `rule_groups` table: each tenant's rule groups, their data source, and the
//! per-tenant group limit checked in the same transaction as every write.

use pitot_core::TenantId;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::rule_groups::RULE_GROUPS_LIMIT_REASON;
use crate::{MetaError, RuleGroupScope, RuleGroupWrite, StoredRuleGroup};

/// Rule groups of `tenant` (of every tenant with `None`), by tenant, namespace, name.
pub(super) fn list(
    conn: &Connection,
    tenant: Option<&TenantId>,
) -> Result<Vec<StoredRuleGroup>, MetaError> {
    let mut statement = conn.prepare(
        "SELECT tenant, namespace, name, yaml, updated_at, datasource FROM rule_groups
         WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, namespace, name",
    )?;
    let mut rows = statement.query([tenant.map(|t| t.as_str())])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        out.push(StoredRuleGroup {
            tenant: super::parse_tenant(id)?,
            namespace: row.get(1)?,
            name: row.get(2)?,
            yaml: row.get(3)?,
            updated_at: row.get(4)?,
            datasource: row.get(5)?,
        });
    }
    Ok(out)
}

/// Creates or replaces a group in one immediate transaction: a group bound elsewhere
/// than `scope` allows is not replaced, and a new group that would take the tenant over
/// `max_groups` is refused, with the count read inside the transaction.
pub(super) fn put(
    conn: &mut Connection,
    write: &RuleGroupWrite<'_>,
    scope: &RuleGroupScope,
    now_ms: i64,
) -> Result<(), MetaError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<Option<String>> = tx
        .query_row(
            "SELECT datasource FROM rule_groups WHERE tenant = ?1 AND namespace = ?2 AND name = ?3",
            params![write.tenant.as_str(), write.namespace, write.name],
            |row| row.get(0),
        )
        .optional()?;
    match &existing {
        Some(bound) if !scope.allows(bound.as_deref()) => {
            return Err(MetaError::AlreadyExists {
                kind: "rule group (of a data source this token may not use)",
                name: format!("{}/{}", write.namespace, write.name),
            });
        }
        Some(_) => {}
        None if write.max_groups > 0 => {
            super::check_count_limit(
                &tx,
                "SELECT COUNT(*) FROM rule_groups WHERE tenant = ?1",
                write.tenant,
                super::CountLimit {
                    reason: RULE_GROUPS_LIMIT_REASON,
                    kind: "rule group",
                    limit_name: "ruler_max_rule_groups_per_tenant",
                    limit: write.max_groups,
                },
            )?;
        }
        None => {}
    }
    tx.execute(
        "INSERT INTO rule_groups (tenant, namespace, name, yaml, updated_at, datasource)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant, namespace, name) DO UPDATE SET yaml = excluded.yaml,
             updated_at = excluded.updated_at, datasource = excluded.datasource",
        params![
            write.tenant.as_str(),
            write.namespace,
            write.name,
            write.yaml,
            now_ms,
            write.datasource
        ],
    )?;
    tx.commit()?;
    Ok(())
}

/// Deletes one group of a namespace (or the whole namespace with `name: None`) among
/// the groups `scope` allows; returns how many were deleted.
pub(super) fn delete(
    conn: &Connection,
    tenant: &TenantId,
    namespace: &str,
    name: Option<&str>,
    scope: &RuleGroupScope,
) -> Result<usize, MetaError> {
    let sql = "DELETE FROM rule_groups WHERE tenant = ?1 AND namespace = ?2 AND (?3 IS NULL OR name = ?3)";
    Ok(match scope {
        RuleGroupScope::All => conn.execute(sql, params![tenant.as_str(), namespace, name])?,
        RuleGroupScope::Datasources(names) => {
            let mut deleted = 0;
            for ds in names {
                deleted += conn.execute(
                    &format!("{sql} AND datasource = ?4"),
                    params![tenant.as_str(), namespace, name, ds],
                )?;
            }
            deleted
        }
    })
}
