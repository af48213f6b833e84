//! The ruler's scheduling in process: groups run in their own tasks, so a slow group
//! misses its own slots only and a panicking group is disabled alone.

use std::sync::Arc;
use std::time::Duration;

use pitot_core::{Matcher, TenantId};
use pitot_meta::{MetaStore, RuleGroupScope, RuleGroupWrite, SqliteMetaStore};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::{Engine, EngineOptions};
use pitot_storage_api::{Querier, Queryable, QueryableRef, SeriesBatch, StorageError};

use crate::{Ruler, RulerOptions, SampleWriter};

/// Storage that panics when tenant `bomb` is read and stalls when `slow` is.
struct Trap(MemStorage);

impl Queryable for Trap {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        match tenant.as_str() {
            "bomb" => panic!("storage exploded"),
            "slow" => std::thread::sleep(Duration::from_millis(700)),
            _ => {}
        }
        self.0.querier(tenant, mint, maxt)
    }
}

/// Writes rule results into the in-memory store.
struct MemWriter(MemStorage);

impl SampleWriter for MemWriter {
    fn write(&self, tenant: &TenantId, batch: Vec<SeriesBatch>) -> Result<(), String> {
        for b in batch {
            self.0.append(tenant, b.labels, &b.samples);
        }
        Ok(())
    }
}

async fn store_group(meta: &SqliteMetaStore, tenant: &str, yaml: &str) {
    let tenant = TenantId::new(tenant).unwrap();
    meta.create_tenant(&tenant).await.unwrap();
    let write = RuleGroupWrite {
        tenant: &tenant,
        namespace: "ns",
        name: "g",
        yaml,
        datasource: None,
        max_groups: 0,
    };
    meta.put_rule_group(&write, &RuleGroupScope::All)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_panicking_groups_hold_back_no_other_group() {
    let meta = Arc::new(SqliteMetaStore::open_in_memory().unwrap());
    let selecting =
        "name: g\ninterval: 200ms\nrules:\n  - record: out\n    expr: sum(up) or vector(1)\n";
    for tenant in ["bomb", "slow", "calm"] {
        store_group(&meta, tenant, selecting).await;
    }
    let store = MemStorage::new();
    let queryable: QueryableRef = Arc::new(Trap(store.clone()));
    let ruler = Arc::new(Ruler::new(
        meta,
        Engine::new(EngineOptions::default()),
        queryable,
        Arc::new(MemWriter(store.clone())),
        None,
        RulerOptions::default(),
    ));
    ruler.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    ruler.stop();

    let calm = TenantId::new("calm").unwrap();
    let out = vec![Matcher::equal("__name__", "out")];
    assert_eq!(store.matching(&calm, &out).len(), 1);
    let rules = ruler.rules_json(&calm, None, &RuleGroupScope::All);
    let group = &rules["groups"][0];
    assert_eq!(group["health"], "ok", "{group}");
    assert_eq!(group["iterationsMissed"], 0, "{group}");

    let bomb = TenantId::new("bomb").unwrap();
    let rules = ruler.rules_json(&bomb, None, &RuleGroupScope::All);
    let group = &rules["groups"][0];
    assert_eq!(group["health"], "err", "{group}");
    let error = group["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("rule-group-disabled") && error.contains("storage exploded"),
        "{error}"
    );
    assert_eq!(group["rules"][0]["health"], "err", "{group}");

    let slow = TenantId::new("slow").unwrap();
    let rules = ruler.rules_json(&slow, None, &RuleGroupScope::All);
    let group = &rules["groups"][0];
    assert!(group["iterationsMissed"].as_u64().unwrap() > 0, "{group}");
    assert!(group["evaluationTime"].as_f64().unwrap() >= 0.7, "{group}");

    let mut metrics = String::new();
    ruler.metrics_text(&mut metrics);
    assert!(
        metrics.contains("pitot_ruler_groups_disabled_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calm_groups_evaluate_on_every_slot_beside_a_slow_one() {
    let meta = Arc::new(SqliteMetaStore::open_in_memory().unwrap());
    let selecting =
        "name: g\ninterval: 200ms\nrules:\n  - record: out\n    expr: sum(up) or vector(1)\n";
    for tenant in ["slow", "calm"] {
        store_group(&meta, tenant, selecting).await;
    }
    let store = MemStorage::new();
    let ruler = Arc::new(Ruler::new(
        meta,
        Engine::new(EngineOptions::default()),
        Arc::new(Trap(store.clone())),
        Arc::new(MemWriter(store.clone())),
        None,
        RulerOptions::default(),
    ));
    ruler.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    ruler.stop();
    let calm = TenantId::new("calm").unwrap();
    let samples = store_samples(&store, &calm);
    assert!(samples.len() >= 9, "{samples:?}");
    for pair in samples.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            200,
            "calm slots all evaluated: {samples:?}"
        );
    }
}

/// Timestamps of tenant's `out` series.
fn store_samples(store: &MemStorage, tenant: &TenantId) -> Vec<i64> {
    let q = store.querier(tenant, i64::MIN, i64::MAX).unwrap();
    let hints = pitot_storage_api::SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        ..Default::default()
    };
    let set = futures::executor::block_on(q.select(&hints, &[Matcher::equal("__name__", "out")]))
        .unwrap();
    set.series
        .iter()
        .flat_map(|s| s.samples().map(|x| x.t).collect::<Vec<_>>())
        .collect()
}
