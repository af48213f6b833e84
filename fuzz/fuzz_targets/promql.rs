//! PromQL queries: any text, well-formed or not, evaluated as an instant and a range
//! query over a small fixed data set, must give a result or an error, never a panic.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pitot_core::{Labels, Sample, TenantId};
use pitot_promql::promqltest::MemStorage;
use pitot_promql::{Engine, EngineOptions};

struct Fixture {
    storage: MemStorage,
    engine: Engine,
    tenant: TenantId,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // libFuzzer's hook aborts on any panic, before `catch_unwind` in
        // `pitot_promql::parse_guarded` can turn a panic of the third-party parser into an
        // error as it does in the server. Restore plain unwinding: a panic anywhere else
        // still unwinds out of the target and aborts, so it is still found.
        std::panic::set_hook(Box::new(|_| {}));
        let tenant = TenantId::new("fuzz").unwrap();
        let storage = MemStorage::new();
        for (i, job) in ["api", "web", "db"].iter().enumerate() {
            for le in ["0.1", "1", "+Inf"] {
                let labels = Labels::from_pairs([("__name__", "req_bucket"), ("job", job), ("le", le)]);
                let samples: Vec<Sample> = (0..60).map(|k| Sample::new(k * 15_000, (k * (i as i64 + 1)) as f64)).collect();
                storage.append(&tenant, labels, &samples);
            }
            let labels = Labels::from_pairs([("__name__", "up"), ("job", job)]);
            storage.append(&tenant, labels, &[Sample::new(0, 1.0), Sample::new(600_000, f64::NAN)]);
        }
        let engine = Engine::new(EngineOptions {
            max_samples: 1_000_000,
            ..EngineOptions::default()
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Fixture { storage, engine, tenant, runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    if query.len() > 512 {
        return;
    }
    let f = fixture();
    f.runtime.block_on(async {
        let _ = f.engine.instant(&f.storage, &f.tenant, query, 450_000).await;
        let _ = f.engine.range(&f.storage, &f.tenant, query, 0, 900_000, 60_000).await;
    });
});
