//! The store's rules (order, duplicates, label length, the per-tenant circular
//! buffer), queries, and replay after a restart, through the public API.

use pitot_core::{Labels, Matcher, TenantId};
use pitot_exemplars::{
    Exemplar, ExemplarStore, NewExemplar, DISABLED, LABELS_TOO_LONG, OUT_OF_ORDER,
};

fn item(series: &str, trace: &str, value: f64, timestamp: i64) -> NewExemplar {
    NewExemplar {
        series: Labels::from_pairs([("__name__", series), ("job", "a")]),
        exemplar: Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value,
            timestamp,
        },
    }
}

fn everything() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::regex("__name__", ".+").unwrap()]]
}

#[tokio::test]
async fn rules_limits_queries_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let acme = TenantId::new("acme").unwrap();
    let other = TenantId::new("other").unwrap();
    {
        let store = ExemplarStore::open(dir.path(), true, 1000).unwrap();
        let outcome = store
            .append(
                &acme,
                vec![
                    item("a", "t1", 1.0, 10),
                    item("a", "t2", 2.0, 20),
                    item("a", "t2", 2.0, 20), // a resend: stored once
                    item("a", "t0", 0.5, 15), // older than the newest: refused
                    item("b", &"x".repeat(200), 1.0, 10),
                    item("b", "t3", 3.0, 30),
                ],
                3,
            )
            .await
            .unwrap();
        assert_eq!(outcome.stored, 3);
        assert_eq!(outcome.duplicates, 1);
        assert_eq!(outcome.refused[OUT_OF_ORDER], 1);
        assert_eq!(outcome.refused[LABELS_TOO_LONG], 1);
        assert!(outcome
            .first_refusal
            .unwrap()
            .contains("err-pitot-exemplar_out_of_order"));

        // The limit of 3 is a circular buffer: a fourth evicts the oldest (a@10).
        let outcome = store
            .append(&acme, vec![item("b", "t4", 4.0, 40)], 3)
            .await
            .unwrap();
        assert_eq!(outcome.stored, 1);
        let got = store.query(&acme, 0, 100, &everything());
        let summary: Vec<(String, Vec<i64>)> = got
            .iter()
            .map(|s| {
                (
                    s.series.metric_name().unwrap().to_string(),
                    s.exemplars.iter().map(|e| e.timestamp).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![("a".to_string(), vec![20]), ("b".to_string(), vec![30, 40])]
        );
        // Time range and matchers.
        assert_eq!(store.query(&acme, 21, 35, &everything()).len(), 1);
        let only_a = vec![vec![Matcher::equal("__name__", "a")]];
        assert_eq!(store.query(&acme, 0, 100, &only_a).len(), 1);
        // Tenants are apart; a tenant with limit 0 is refused by name.
        assert!(store.query(&other, 0, 100, &everything()).is_empty());
        let outcome = store
            .append(&other, vec![item("a", "t", 1.0, 1)], 0)
            .await
            .unwrap();
        assert_eq!(outcome.refused[DISABLED], 1);
        store.checkpoint().unwrap();
        let outcome = store
            .append(&acme, vec![item("c", "t5", 5.0, 50)], 10)
            .await
            .unwrap();
        assert_eq!(outcome.stored, 1);
        // No close: as after kill -9, the log is all there is.
    }
    let store = ExemplarStore::open(dir.path(), true, 1000).unwrap();
    let got = store.query(&acme, 0, 100, &everything());
    let stamps: Vec<Vec<i64>> = got
        .iter()
        .map(|s| s.exemplars.iter().map(|e| e.timestamp).collect())
        .collect();
    assert_eq!(stamps, vec![vec![20], vec![30, 40], vec![50]]);
    assert_eq!(got[0].exemplars[0].labels.get("trace_id"), Some("t2"));
    assert!(store.query(&other, 0, 100, &everything()).is_empty());

    // A forgotten key (a deleted data source) stays forgotten across a restart.
    store.forget(&acme).unwrap();
    assert!(store.query(&acme, 0, 100, &everything()).is_empty());
    drop(store);
    let store = ExemplarStore::open(dir.path(), true, 1000).unwrap();
    assert!(store.query(&acme, 0, 100, &everything()).is_empty());
}
