use super::*;
use crate::MAX_TOKEN_NAME_LEN;
use pitot_core::{DataKind, Origin};

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn new_token(tenant_id: &str, scopes: &[Scope]) -> NewToken {
    NewToken {
        tenant: tenant(tenant_id),
        scopes: scopes.to_vec(),
        name: None,
        datasources: None,
        max_tokens: None,
    }
}

fn store() -> SqliteMetaStore {
    SqliteMetaStore::open_in_memory().unwrap()
}

/// A store with tenant `team-a` and one `metrics:write` token.
async fn store_with_token() -> (SqliteMetaStore, CreatedToken) {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let created = store
        .create_token(new_token("team-a", &[Scope::MetricsWrite]))
        .await
        .unwrap();
    (store, created)
}

#[tokio::test]
async fn creates_gets_and_lists_tenants() {
    let store = store();
    assert_eq!(store.get_tenant(&tenant("team-b")).await.unwrap(), None);
    assert!(store.list_tenants().await.unwrap().is_empty());

    let before = now_ms();
    let b = store.create_tenant(&tenant("team-b")).await.unwrap();
    let a = store.create_tenant(&tenant("team-a")).await.unwrap();
    assert_eq!(b.id, tenant("team-b"));
    assert!(b.created_at >= before && b.created_at <= now_ms());

    assert_eq!(
        store.get_tenant(&tenant("team-b")).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(store.list_tenants().await.unwrap(), vec![a, b]);
}

#[tokio::test]
async fn duplicate_tenant_is_rejected_and_left_unchanged() {
    let store = store();
    let first = store.create_tenant(&tenant("team-a")).await.unwrap();
    let error = store.create_tenant(&tenant("team-a")).await.unwrap_err();
    assert!(
        matches!(&error, MetaError::AlreadyExists { kind: "tenant", name } if name == "team-a"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "tenant \"team-a\" already exists");
    assert_eq!(
        store.get_tenant(&tenant("team-a")).await.unwrap(),
        Some(first)
    );
    assert_eq!(store.list_tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn token_for_unknown_tenant_is_not_found() {
    let store = store();
    let error = store
        .create_token(new_token("ghost", &[Scope::Admin]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MetaError::NotFound { kind: "tenant", name } if name == "ghost"),
        "{error:?}"
    );
    assert!(store.list_tokens(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn token_with_bad_arguments_is_rejected() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();

    let error = store
        .create_token(new_token("team-a", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MetaError::Invalid {
                field: "scopes",
                ..
            }
        ),
        "{error:?}"
    );

    for name in [
        String::new(),
        "x".repeat(MAX_TOKEN_NAME_LEN + 1),
        "a\nb".to_string(),
    ] {
        let mut new = new_token("team-a", &[Scope::Admin]);
        new.name = Some(name.clone());
        let error = store.create_token(new).await.unwrap_err();
        assert!(
            matches!(error, MetaError::Invalid { field: "name", .. }),
            "{name:?}: {error:?}"
        );
    }
    assert!(store.list_tokens(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn created_token_authenticates_with_its_scopes() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let created = store
        .create_token(NewToken {
            tenant: tenant("team-a"),
            scopes: vec![Scope::MetricsRead, Scope::MetricsWrite, Scope::MetricsRead],
            name: Some("grafana".to_string()),
            datasources: None,
            max_tokens: None,
        })
        .await
        .unwrap();

    assert!(created
        .secret
        .starts_with(&format!("pitot_{}_", created.info.id)));
    assert_eq!(created.info.tenant, tenant("team-a"));
    // Duplicates dropped, stored in Scope::ALL order.
    assert_eq!(
        created.info.scopes,
        vec![Scope::MetricsWrite, Scope::MetricsRead]
    );
    assert_eq!(created.info.name.as_deref(), Some("grafana"));

    let info = store
        .authenticate(&created.secret)
        .await
        .unwrap()
        .expect("authenticates");
    assert_eq!(info, created.info);
    assert!(info.allows(Scope::MetricsWrite));
    assert!(info.allows(Scope::MetricsRead));
    assert!(!info.allows(Scope::LogsWrite));
}

#[tokio::test]
async fn altered_or_malformed_tokens_do_not_authenticate() {
    let (store, created) = store_with_token().await;
    let good = created.secret.clone();

    let mut rejected = vec![
        String::new(),
        "garbage".to_string(),
        "pitot_".to_string(),
        "Bearer ".to_string() + &good,
        good[..good.len() - 1].to_string(),
        good[..good.len() / 2].to_string(),
        format!("{good}0"),
        good.to_uppercase(),
        format!(" {good}"),
        "é".repeat(40),
    ];
    // Every single changed character, in the id and in the secret, must be rejected.
    for position in "pitot_".len()..good.len() {
        let mut bytes = good.clone().into_bytes();
        if bytes[position] == b'_' {
            continue;
        }
        bytes[position] = if bytes[position] == b'0' { b'1' } else { b'0' };
        rejected.push(String::from_utf8(bytes).unwrap());
    }
    for token in &rejected {
        assert_eq!(store.authenticate(token).await.unwrap(), None, "{token:?}");
    }
    // The genuine token still works after all those attempts.
    assert!(store.authenticate(&good).await.unwrap().is_some());
}

#[tokio::test]
async fn revoked_token_no_longer_authenticates_or_lists() {
    let (store, created) = store_with_token().await;
    let other = store
        .create_token(new_token("team-a", &[Scope::LogsRead]))
        .await
        .unwrap();

    assert!(store.revoke_token(&created.info.id).await.unwrap());
    assert_eq!(store.authenticate(&created.secret).await.unwrap(), None);
    // Revoking again, or an unknown id, reports that no active token had that id.
    assert!(!store.revoke_token(&created.info.id).await.unwrap());
    assert!(!store.revoke_token("0000000000000000").await.unwrap());
    assert!(!store.revoke_token("").await.unwrap());

    assert_eq!(
        store.list_tokens(None).await.unwrap(),
        vec![other.info.clone()]
    );
    assert!(store.authenticate(&other.secret).await.unwrap().is_some());
}

#[tokio::test]
async fn list_tokens_filters_by_tenant_and_never_shows_secrets() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    store.create_tenant(&tenant("team-b")).await.unwrap();
    let a1 = store
        .create_token(new_token("team-a", &[Scope::Admin]))
        .await
        .unwrap();
    let b1 = store
        .create_token(new_token("team-b", &[Scope::LogsWrite]))
        .await
        .unwrap();
    let a2 = store
        .create_token(new_token("team-a", &[Scope::RulesRead]))
        .await
        .unwrap();

    let mut expected_a = vec![a1.info.clone(), a2.info.clone()];
    expected_a.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
    assert_eq!(
        store.list_tokens(Some(&tenant("team-a"))).await.unwrap(),
        expected_a
    );
    assert_eq!(
        store.list_tokens(Some(&tenant("team-b"))).await.unwrap(),
        vec![b1.info.clone()]
    );
    assert!(store
        .list_tokens(Some(&tenant("team-c")))
        .await
        .unwrap()
        .is_empty());

    let all = store.list_tokens(None).await.unwrap();
    assert_eq!(all.len(), 3);
    let json = serde_json::to_string(&all).unwrap();
    for created in [&a1, &b1, &a2] {
        let (_, secret) = token::parse(&created.secret).unwrap();
        assert!(!json.contains(secret), "listing leaks a secret: {json}");
        assert!(!json.contains(&hex::encode(token::hash_secret(secret))));
        assert!(json.contains(&created.info.id));
    }
    assert!(!json.contains("hash"));
}

#[tokio::test]
async fn secrets_are_random_and_long_enough() {
    let (store, first) = store_with_token().await;
    let second = store
        .create_token(new_token("team-a", &[Scope::MetricsWrite]))
        .await
        .unwrap();
    assert_ne!(first.info.id, second.info.id);
    assert_ne!(first.secret, second.secret);
    let (_, secret) = token::parse(&first.secret).unwrap();
    // 64 hex characters = 256 bits, at least the 128 required.
    assert!(secret.len() * 4 >= 128, "secret {secret:?} is too short");
    // Only the hash is stored: the secret text appears nowhere in the database.
    let db = store.db.lock();
    let stored_hash: Vec<u8> = db
        .conn
        .query_row(
            "SELECT hash FROM tokens WHERE id = ?1",
            params![first.info.id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored_hash, token::hash_secret(secret).to_vec());
    let mentions: i64 = db
        .conn
        .query_row(
            "SELECT count(*) FROM tokens
             WHERE instr(id || tenant || coalesce(name, '') || scopes || hex(hash), upper(?1)) > 0
                OR instr(id || tenant || coalesce(name, '') || scopes, ?1) > 0",
            params![secret],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(mentions, 0);
}

#[tokio::test]
async fn tenants_and_tokens_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");

    let (kept, revoked) = {
        let store = SqliteMetaStore::open(&path).unwrap();
        store.create_tenant(&tenant("team-a")).await.unwrap();
        let kept = store
            .create_token(NewToken {
                tenant: tenant("team-a"),
                scopes: vec![Scope::MetricsWrite, Scope::LogsWrite],
                name: Some("alloy".to_string()),
                datasources: None,
                max_tokens: None,
            })
            .await
            .unwrap();
        let revoked = store
            .create_token(new_token("team-a", &[Scope::Admin]))
            .await
            .unwrap();
        (kept, revoked)
    };

    {
        let store = SqliteMetaStore::open(&path).unwrap();
        assert_eq!(store.list_tenants().await.unwrap().len(), 1);
        assert_eq!(
            store.authenticate(&kept.secret).await.unwrap(),
            Some(kept.info.clone())
        );
        assert!(store.authenticate(&revoked.secret).await.unwrap().is_some());
        assert!(store.revoke_token(&revoked.info.id).await.unwrap());
    }

    let store = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(
        store.authenticate(&kept.secret).await.unwrap(),
        Some(kept.info.clone())
    );
    assert_eq!(store.authenticate(&revoked.secret).await.unwrap(), None);
    assert_eq!(store.list_tokens(None).await.unwrap(), vec![kept.info]);
    let error = store.create_tenant(&tenant("team-a")).await.unwrap_err();
    assert!(matches!(error, MetaError::AlreadyExists { .. }));
}

#[tokio::test]
async fn changes_by_another_process_reach_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let server = SqliteMetaStore::open(&path)
        .unwrap()
        .with_refresh_interval(Duration::ZERO);
    server.create_tenant(&tenant("team-a")).await.unwrap();
    let old = server
        .create_token(new_token("team-a", &[Scope::Admin]))
        .await
        .unwrap();

    // A second connection to the same file, as the `pitot token` CLI would open.
    let cli = SqliteMetaStore::open(&path).unwrap();
    let new = cli
        .create_token(new_token("team-a", &[Scope::LogsRead]))
        .await
        .unwrap();
    assert!(cli.revoke_token(&old.info.id).await.unwrap());

    assert_eq!(
        server.authenticate(&new.secret).await.unwrap(),
        Some(new.info)
    );
    assert_eq!(server.authenticate(&old.secret).await.unwrap(), None);
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    drop(SqliteMetaStore::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let error = SqliteMetaStore::open(&path).err().expect("open must fail");
    assert!(
        matches!(error, MetaError::SchemaTooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{error:?}"
    );
}

#[tokio::test]
async fn open_names_the_path_it_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("meta.db");
    let error = SqliteMetaStore::open(&path).err().expect("open must fail");
    assert!(matches!(&error, MetaError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("missing-dir"), "{error}");
}

#[tokio::test]
async fn works_behind_the_trait_object() {
    let store: crate::MetaStoreRef = std::sync::Arc::new(store());
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let created = store
        .create_token(new_token("team-a", &[Scope::Admin]))
        .await
        .unwrap();
    let info = store.authenticate(&created.secret).await.unwrap().unwrap();
    assert!(info.allows(Scope::AlertsWrite));
}

#[tokio::test]
async fn limit_overrides_persist_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let tenant = TenantId::new("a").unwrap();
    {
        let store = SqliteMetaStore::open(&path).unwrap();
        store.create_tenant(&tenant).await.unwrap();
        assert!(store.limit_overrides().await.unwrap().is_empty());
        store
            .set_limit_overrides(&tenant, r#"{"ingestion_rate":5.0}"#)
            .await
            .unwrap();
        store
            .set_limit_overrides(&tenant, r#"{"ingestion_rate":6.0}"#)
            .await
            .unwrap();
    }
    let store = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(
        store.limit_overrides().await.unwrap(),
        vec![(tenant.clone(), r#"{"ingestion_rate":6.0}"#.to_string())]
    );
    store.set_limit_overrides(&tenant, "").await.unwrap();
    assert!(store.limit_overrides().await.unwrap().is_empty());
}

/// A rule-group write of `tenant` with no data source and no limit.
fn group<'a>(
    tenant: &'a TenantId,
    namespace: &'a str,
    name: &'a str,
    yaml: &'a str,
) -> RuleGroupWrite<'a> {
    RuleGroupWrite {
        tenant,
        namespace,
        name,
        yaml,
        datasource: None,
        max_groups: 0,
    }
}

#[tokio::test]
async fn rule_groups_by_tenant_and_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db")).unwrap();
    let a = TenantId::new("a").unwrap();
    let b = TenantId::new("b").unwrap();
    store.create_tenant(&a).await.unwrap();
    store.create_tenant(&b).await.unwrap();
    let all = RuleGroupScope::All;
    for write in [
        group(&a, "ns1", "g1", "name: g1\n"),
        group(&a, "ns1", "g2", "name: g2\n"),
        group(&a, "ns2", "g1", "name: g1\n"),
        group(&b, "ns1", "g1", "name: g1\nrules: []\n"),
        group(&a, "ns1", "g1", "name: g1 # v2\n"),
    ] {
        store.put_rule_group(&write, &all).await.unwrap();
    }
    let of_a = store.list_rule_groups(Some(&a)).await.unwrap();
    assert_eq!(of_a.len(), 3);
    assert_eq!(of_a[0].yaml, "name: g1 # v2\n");
    assert_eq!(of_a[0].datasource, None);
    assert_eq!(store.list_rule_groups(None).await.unwrap().len(), 4);
    assert_eq!(
        store
            .delete_rule_groups(&a, "ns1", Some("g2"), &all)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .delete_rule_groups(&a, "ns1", None, &all)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.list_rule_groups(Some(&a)).await.unwrap().len(), 1);
    assert_eq!(
        store.list_rule_groups(Some(&b)).await.unwrap().len(),
        1,
        "b untouched"
    );
}

#[tokio::test]
async fn rule_group_limit_holds_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteMetaStore::open(&dir.path().join("meta.db")).unwrap());
    let a = TenantId::new("a").unwrap();
    store.create_tenant(&a).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, a) = (std::sync::Arc::clone(&store), a.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("g{i}");
            let write = RuleGroupWrite {
                max_groups: 3,
                ..group(&a, "ns", &name, "name: x\n")
            };
            store.put_rule_group(&write, &RuleGroupScope::All).await
        }));
    }
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => {}
            Err(MetaError::LimitReached { reason, limit, .. }) => {
                assert_eq!(reason, "per-tenant-rule-groups-limit");
                assert_eq!(limit, 3);
                refused += 1;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(refused, 13);
    assert_eq!(store.list_rule_groups(Some(&a)).await.unwrap().len(), 3);
    // Replacing a stored group is not a new one: allowed at the limit.
    let stored = store.list_rule_groups(Some(&a)).await.unwrap();
    let replace = RuleGroupWrite {
        max_groups: 3,
        ..group(&a, "ns", &stored[0].name, "name: y\n")
    };
    store
        .put_rule_group(&replace, &RuleGroupScope::All)
        .await
        .unwrap();
    assert_eq!(
        store.list_rule_groups(Some(&a)).await.unwrap()[0].yaml,
        "name: y\n"
    );
}

#[tokio::test]
async fn restricted_scopes_see_and_replace_only_their_data_sources_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db")).unwrap();
    let a = TenantId::new("a").unwrap();
    store.create_tenant(&a).await.unwrap();
    let prod = RuleGroupScope::Datasources(vec!["prod".into()]);
    store
        .put_rule_group(
            &group(&a, "ns", "unbound", "name: u\n"),
            &RuleGroupScope::All,
        )
        .await
        .unwrap();
    let bound = RuleGroupWrite {
        datasource: Some("prod"),
        ..group(&a, "ns", "bound", "name: b\n")
    };
    store.put_rule_group(&bound, &prod).await.unwrap();
    let over = RuleGroupWrite {
        datasource: Some("prod"),
        ..group(&a, "ns", "unbound", "name: u2\n")
    };
    assert!(matches!(
        store.put_rule_group(&over, &prod).await,
        Err(MetaError::AlreadyExists { .. })
    ));
    assert_eq!(
        store
            .delete_rule_groups(&a, "ns", None, &prod)
            .await
            .unwrap(),
        1,
        "only the prod group is deleted"
    );
    let left = store.list_rule_groups(Some(&a)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "unbound");
    assert_eq!(left[0].yaml, "name: u\n");
}

#[tokio::test]
async fn usage_rows_add_up_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let t = TenantId::new("t").unwrap();
    let row = |samples: u64, peak: u64| UsageRow {
        start_ms: 3_600_000,
        datasource: "metrics".into(),
        kind: "metrics".into(),
        origin: "custom".into(),
        samples_ingested: samples,
        series_active_peak: peak,
        rejected: [("rate_limited".to_string(), 2)].into_iter().collect(),
        ..Default::default()
    };
    {
        let store = SqliteMetaStore::open(&path).unwrap();
        store.add_usage(&[(t.clone(), row(5, 10))]).await.unwrap();
        store.add_usage(&[(t.clone(), row(7, 3))]).await.unwrap();
    }
    let store = SqliteMetaStore::open(&path).unwrap();
    let rows = store.usage(&t, 0, 10_000_000).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].samples_ingested, 12);
    assert_eq!(rows[0].series_active_peak, 10);
    assert_eq!(rows[0].rejected["rate_limited"], 4);
    assert!(store
        .usage(&t, 3_600_001, 10_000_000)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .usage(&TenantId::new("u").unwrap(), 0, 10_000_000)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn tenants_start_with_their_data_sources_and_create_more() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let list = store
        .list_datasources(Some(&tenant("team-a")))
        .await
        .unwrap();
    let summary: Vec<(&str, DataKind, Origin, &str, bool)> = list
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.kind,
                d.origin,
                d.storage.as_str(),
                d.is_default,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("logs", DataKind::Logs, Origin::Custom, "team-a", true),
            ("metrics", DataKind::Metrics, Origin::Custom, "team-a", true),
            (
                "pitot",
                DataKind::Metrics,
                Origin::Managed,
                "team-a@pitot",
                true
            ),
        ]
    );

    let new = |name: &str| NewDataSource {
        tenant: tenant("team-a"),
        name: name.into(),
        kind: DataKind::Metrics,
        origin: Origin::Custom,
        retention_ms: 86_400_000,
        max_datasources: None,
    };
    let prod = store.create_datasource(new("prod")).await.unwrap();
    assert_eq!(prod.storage.as_str(), "team-a@prod");
    assert!(!prod.is_default);
    assert!(matches!(
        store.create_datasource(new("prod")).await,
        Err(MetaError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.create_datasource(new("Bad Name")).await,
        Err(MetaError::Invalid { field: "name", .. })
    ));
    let mut other = new("prod");
    other.tenant = tenant("nobody");
    assert!(matches!(
        store.create_datasource(other).await,
        Err(MetaError::NotFound { kind: "tenant", .. })
    ));

    assert!(store
        .set_datasource_retention(&tenant("team-a"), "prod", 3_600_000)
        .await
        .unwrap());
    assert!(!store
        .set_datasource_retention(&tenant("team-a"), "ghost", 1)
        .await
        .unwrap());
    let all = store.list_datasources(None).await.unwrap();
    assert_eq!(
        all.iter().find(|d| d.name == "prod").unwrap().retention_ms,
        3_600_000
    );
    assert!(store
        .delete_datasource(&tenant("team-a"), "prod")
        .await
        .unwrap());
    assert_eq!(store.list_datasources(None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn tokens_keep_their_data_source_restriction() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let mut new = new_token("team-a", &[Scope::MetricsRead]);
    new.datasources = Some(vec!["prod".into(), "metrics".into()]);
    let created = store.create_token(new).await.unwrap();
    let info = store.authenticate(&created.secret).await.unwrap().unwrap();
    assert_eq!(
        info.datasources,
        Some(vec!["prod".to_string(), "metrics".to_string()])
    );
    assert!(info.allows_datasource("prod"));
    assert!(!info.allows_datasource("logs"));
    let listed = store.list_tokens(Some(&tenant("team-a"))).await.unwrap();
    assert_eq!(listed[0].datasources, info.datasources);
    let mut bad = new_token("team-a", &[Scope::MetricsRead]);
    bad.datasources = Some(vec!["a/b".into()]);
    assert!(matches!(
        store.create_token(bad).await,
        Err(MetaError::Invalid {
            field: "datasources",
            ..
        })
    ));
}

#[tokio::test]
async fn upgrading_from_version_7_gives_existing_tenants_their_data_sources() {
    let conn = Connection::open_in_memory().unwrap();
    for schema in [
        SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7,
    ] {
        conn.execute_batch(schema).unwrap();
    }
    conn.pragma_update(None, "user_version", 7).unwrap();
    conn.execute("INSERT INTO tenants (id, created_at) VALUES ('old', 1)", [])
        .unwrap();
    conn.execute(
        "INSERT INTO tokens (id, tenant, name, scopes, hash, created_at) VALUES ('0123456789abcdef', 'old', NULL, 'metrics:read', zeroblob(32), 1)",
        [],
    )
    .unwrap();
    let store = SqliteMetaStore::from_connection(conn, Path::new(":memory:")).unwrap();
    let names: Vec<String> = store
        .list_datasources(Some(&tenant("old")))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["logs", "metrics", "pitot"]);
    let tokens = store.list_tokens(None).await.unwrap();
    assert_eq!(tokens[0].datasources, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_token_creations_never_pass_the_limit() {
    let store = std::sync::Arc::new(store());
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut new = new_token("team-a", &[Scope::MetricsRead]);
            new.max_tokens = Some(3);
            store.create_token(new).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(MetaError::LimitReached { reason, limit, .. }) => {
                assert_eq!(reason, "per-tenant-tokens-limit");
                assert_eq!(limit, 3);
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 3);
    let tokens = store.list_tokens(Some(&tenant("team-a"))).await.unwrap();
    assert_eq!(tokens.len(), 3);
    // A revoked token frees its place.
    assert!(store.revoke_token(&tokens[0].id).await.unwrap());
    let mut new = new_token("team-a", &[Scope::MetricsRead]);
    new.max_tokens = Some(3);
    store.create_token(new).await.unwrap();
}

#[tokio::test]
async fn data_sources_are_held_to_the_limit_defaults_included() {
    let store = store();
    store.create_tenant(&tenant("team-a")).await.unwrap();
    let new = |name: &str| NewDataSource {
        tenant: tenant("team-a"),
        name: name.into(),
        kind: DataKind::Metrics,
        origin: Origin::Custom,
        retention_ms: 0,
        max_datasources: Some(4),
    };
    store.create_datasource(new("prod")).await.unwrap();
    let err = store.create_datasource(new("staging")).await.unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::LimitReached {
                reason: "per-tenant-datasources-limit",
                count: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_data_sources"), "{err}");
    assert_eq!(store.list_datasources(None).await.unwrap().len(), 4);
}

#[tokio::test]
async fn metric_metadata_is_replaced_per_family_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pitot.db");
    let row = |key: &str, family: &str, kind: &str, help: &str| MetricMetadataRow {
        key: tenant(key),
        family: family.into(),
        kind: kind.into(),
        help: help.into(),
        unit: String::new(),
    };
    {
        let store = SqliteMetaStore::open(&path).unwrap();
        store
            .put_metric_metadata(&[
                row("a", "up", "gauge", "old help"),
                row("b", "up", "counter", "b's"),
            ])
            .await
            .unwrap();
        store
            .put_metric_metadata(&[row("a", "up", "gauge", "new help")])
            .await
            .unwrap();
    }
    let store = SqliteMetaStore::open(&path).unwrap();
    assert_eq!(
        store.metric_metadata().await.unwrap(),
        vec![
            row("a", "up", "gauge", "new help"),
            row("b", "up", "counter", "b's")
        ]
    );
}
