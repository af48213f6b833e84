//! Engine-level tests: append, cut, reopen, retention, through the public API only.

use std::sync::Arc;
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use pitot_core::{Labels, Matcher, Sample, TenantId};
use pitot_storage_api::{MetricsAppender, Queryable, SelectHints, SeriesBatch};
use pitot_tsdb::{Tsdb, TsdbOptions};

fn options() -> TsdbOptions {
    TsdbOptions {
        block_range: Duration::from_secs(60),
        ..TsdbOptions::default()
    }
}

async fn open(dir: &std::path::Path) -> Arc<Tsdb> {
    std::fs::create_dir_all(dir.join("blocks")).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.join("blocks")).unwrap());
    Tsdb::open(&dir.join("wal"), store, options())
        .await
        .unwrap()
}

fn series(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

async fn read_all(db: &Tsdb, tenant: &TenantId) -> Vec<(Labels, Vec<Sample>)> {
    let q = db.querier(tenant, i64::MIN, i64::MAX).unwrap();
    let set = q
        .select(&SelectHints::default(), &[Matcher::equal("__name__", "m")])
        .await
        .unwrap();
    set.series
        .iter()
        .map(|s| (s.labels.clone(), s.samples().collect()))
        .collect()
}

#[tokio::test]
async fn cut_blocks_and_reopen_keep_every_sample_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let mut expected: Vec<(Labels, Vec<Sample>)> =
        (0..20).map(|i| (series(i), Vec::new())).collect();
    {
        let db = open(dir.path()).await;
        // 5 minutes at 1 s, 20 series; values include NaN payloads and the stale marker.
        for t in 0..300i64 {
            let mut batch = Vec::new();
            for (i, (labels, samples)) in expected.iter_mut().enumerate() {
                let v = match (t + i as i64) % 50 {
                    0 => f64::from_bits(0x7ff0_0000_0000_0002),
                    1 => f64::NAN,
                    2 => -0.0,
                    _ => (t * 7 + i as i64) as f64 / 3.0,
                };
                let s = Sample::new(1_000_000 + t * 1000, v);
                samples.push(s);
                batch.push(SeriesBatch {
                    labels: labels.clone(),
                    samples: vec![s],
                });
            }
            let out = db.append(&tenant, batch).await.unwrap();
            assert_eq!(out.accepted, 20);
        }
        let written = db.cut_blocks(false).await.unwrap();
        assert!(
            written >= 2,
            "a 5 minute head with 1 minute blocks cuts at least 2 blocks, got {written}"
        );
        assert_eq!(read_all(&db, &tenant).await.len(), 20);
        // Data older than the cut is refused now.
        let old = db
            .append(
                &tenant,
                vec![SeriesBatch {
                    labels: series(0),
                    samples: vec![Sample::new(1_000_000, 1.0)],
                }],
            )
            .await
            .unwrap();
        assert_eq!(old.rejected_total(), 1);
        db.close().unwrap();
    }
    let db = open(dir.path()).await;
    let got = read_all(&db, &tenant).await;
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), expected.len());
    for ((gl, gs), (el, es)) in got.iter().zip(&expected) {
        assert_eq!(gl, el);
        assert_eq!(gs.len(), es.len(), "{gl}");
        for (g, e) in gs.iter().zip(es) {
            assert!(g.bit_eq(e), "{gl}: {g:?} != {e:?}");
        }
    }
    assert!(!db.block_metas().is_empty());
    // Flushing everything leaves an empty head and the same data.
    db.cut_blocks(true).await.unwrap();
    assert_eq!(db.head_series(), 0);
    assert_eq!(
        read_all(&db, &tenant)
            .await
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>(),
        6000
    );
}

#[tokio::test]
async fn retention_deletes_old_blocks_and_tenants_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let a = TenantId::new("a").unwrap();
    let b = TenantId::new("b").unwrap();
    let db = open(dir.path()).await;
    for tenant in [&a, &b] {
        let batch = vec![SeriesBatch {
            labels: series(1),
            samples: vec![Sample::new(1000, 1.0), Sample::new(2000, 2.0)],
        }];
        db.append(tenant, batch).await.unwrap();
    }
    assert_eq!(read_all(&db, &a).await[0].1.len(), 2);
    let other = TenantId::new("nobody").unwrap();
    assert!(read_all(&db, &other).await.is_empty());
    db.cut_blocks(true).await.unwrap();
    assert_eq!(db.block_metas().len(), 2);
    // 31 days after the blocks ended, both go.
    let deleted = db
        .apply_retention(2001 + 31 * 24 * 3600 * 1000 + 1)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert!(read_all(&db, &a).await.is_empty());
    drop(db);
    let db = open(dir.path()).await;
    assert!(db.block_metas().is_empty());
}

#[tokio::test]
async fn data_source_keys_have_their_own_retention_deletion_and_shared_series_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let short = tenant.storage_key("short");
    let gone = tenant.storage_key("gone");
    let day = 24 * 3600 * 1000;
    {
        let db = open(dir.path()).await;
        for key in [&tenant, &short, &gone] {
            let batch = vec![SeriesBatch {
                labels: series(1),
                samples: vec![Sample::new(1000, 1.0), Sample::new(2000, 2.0)],
            }];
            db.append(key, batch).await.unwrap();
        }
        assert_eq!(db.owner_series(&tenant), 3);
        // `gone` is deleted while its samples are only in the head and the WAL.
        db.delete_tenant(&gone).await.unwrap();
        assert!(read_all(&db, &gone).await.is_empty());
        db.cut_blocks(true).await.unwrap();
        let short_key = short.clone();
        db.set_retention(Arc::new(move |key| {
            (key == &short_key).then_some(Duration::from_secs(24 * 3600))
        }));
        // Two days later: the 1-day key's block goes, the default (31 d) stays.
        assert_eq!(db.apply_retention(2001 + 2 * day).await.unwrap(), 1);
        assert!(read_all(&db, &short).await.is_empty());
        assert_eq!(read_all(&db, &tenant).await.len(), 1);

        // The per-user series limit counts every key of the owner.
        db.set_series_limits(Arc::new(|_| pitot_storage_api::SeriesLimits {
            per_user: 2,
            per_metric: 0,
        }));
        let more = |i| {
            vec![SeriesBatch {
                labels: series(i),
                samples: vec![Sample::new(10 * day, 1.0)],
            }]
        };
        // The cut emptied the heads: two new series in two keys fit, a third does not.
        let out = db.append(&tenant.storage_key("x"), more(2)).await.unwrap();
        assert_eq!(out.accepted, 1);
        let out = db.append(&tenant.storage_key("y"), more(3)).await.unwrap();
        assert_eq!(out.accepted, 1);
        let out = db.append(&tenant, more(4)).await.unwrap();
        assert_eq!(
            out.accepted, 0,
            "a third series anywhere in acme is over the limit"
        );
        let out = db
            .append(&TenantId::new("other").unwrap(), more(3))
            .await
            .unwrap();
        assert_eq!(out.accepted, 1, "other tenants are not affected");
    }
    // Nothing of the deleted key comes back from the WAL.
    let db = open(dir.path()).await;
    assert!(read_all(&db, &gone).await.is_empty());
    assert_eq!(read_all(&db, &tenant).await.len(), 1);
}

#[tokio::test]
async fn a_push_naming_a_new_series_twice_creates_it_once_across_lookup_groups() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("t").unwrap();
    let db = open(dir.path()).await;
    // 600 series (more than one group of series looked up together), then series 0 and
    // 599 again with later samples, in the same push.
    let mut batch: Vec<SeriesBatch> = (0..600)
        .map(|i| SeriesBatch {
            labels: series(i),
            samples: vec![Sample::new(1000, i as f64)],
        })
        .collect();
    for i in [0, 599] {
        batch.push(SeriesBatch {
            labels: series(i),
            samples: vec![Sample::new(2000, -(i as f64))],
        });
    }
    let outcome = db.append(&tenant, batch).await.unwrap();
    assert_eq!(outcome.accepted, 602);
    assert_eq!(outcome.new_series, 600);
    let all = read_all(&db, &tenant).await;
    assert_eq!(all.len(), 600);
    for (labels, samples) in &all {
        let i: usize = labels.get("i").unwrap().parse().unwrap();
        let mut expected = vec![Sample::new(1000, i as f64)];
        if i == 0 || i == 599 {
            expected.push(Sample::new(2000, -(i as f64)));
        }
        assert_eq!(samples, &expected, "series {i}");
    }
}
