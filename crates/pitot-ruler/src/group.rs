//! One rule group's own task.
//!
//! Every group runs in its own task, as Prometheus runs one goroutine per group, so a
//! slow group delays nothing but itself: the task sleeps until the group's next slot,
//! takes one of the tenant's query slots (shared with the tenant's API queries), and
//! evaluates on a blocking thread. A slot that passes while the group is still
//! evaluating, or waiting for a query slot, is skipped and counted as missed
//! (`prometheus_rule_group_iterations_missed_total`), never queued up. A panic in an
//! evaluation is caught: the group is disabled with the panic shown as its error in the
//! rules API, and every other group carries on.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pitot_rules::eval::GroupState;
use pitot_rules::ExprLanguage;

use crate::{GroupKey, Ruler};

/// The stable reason ID of a group stopped by a failure of the ruler itself.
pub const GROUP_DISABLED_REASON: &str = "rule-group-disabled";

/// A running group: its configuration, its evaluation state and its counters.
pub(crate) struct Group {
    /// Whose group, which namespace, which name.
    pub key: GroupKey,
    /// The YAML it was started from (a changed upload restarts the group).
    pub yaml: String,
    /// The data source the group is bound to; `None` reads every one of its kind.
    pub datasource: Option<String>,
    /// PromQL or LogQL.
    pub language: ExprLanguage,
    /// What evaluations change.
    pub runtime: Mutex<Runtime>,
    /// Slots skipped because the previous evaluation or a query slot took too long.
    pub missed: AtomicU64,
    /// The task, to stop it when the group is removed or changed.
    pub task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A group's evaluation state.
pub(crate) struct Runtime {
    /// The rules' state (alerts, health) across evaluations.
    pub state: GroupState,
    /// Seconds the last evaluation took.
    pub last_duration: f64,
    /// Why the last evaluation failed as a whole (ran past its time box, its data source
    /// is gone); `None` after a good one.
    pub last_error: Option<String>,
    /// Set when the group was stopped (a panic in its evaluation): shown in the rules
    /// API until the group is uploaded again.
    pub disabled: Option<String>,
}

impl Group {
    /// A group not yet started.
    pub fn new(
        key: GroupKey,
        yaml: String,
        datasource: Option<String>,
        language: ExprLanguage,
        state: GroupState,
    ) -> Group {
        Group {
            key,
            yaml,
            datasource,
            language,
            runtime: Mutex::new(Runtime {
                state,
                last_duration: 0.0,
                last_error: None,
                disabled: None,
            }),
            missed: AtomicU64::new(0),
            task: Mutex::new(None),
        }
    }

    /// Stops the group's task (an evaluation already on a blocking thread finishes,
    /// and its result is dropped with the group).
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }

    fn skip(&self, ruler: &Ruler, slots: u64) {
        self.missed.fetch_add(slots, Ordering::Relaxed);
        ruler.counters.missed.fetch_add(slots, Ordering::Relaxed);
    }

    fn disable(&self, ruler: &Ruler, why: String) {
        tracing::error!(tenant = %self.key.tenant, namespace = %self.key.namespace, group = %self.key.name, error = %why, "rule group disabled");
        ruler.counters.disabled.fetch_add(1, Ordering::Relaxed);
        self.runtime.lock().disabled = Some(format!(
            "{GROUP_DISABLED_REASON}: {why}; the group is not evaluated until it is uploaded again"
        ));
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `group` until it is stopped or disabled.
pub(crate) async fn run(ruler: Arc<Ruler>, group: Arc<Group>) {
    let mut interval = ruler.interval_ms(&group);
    let mut next = (now_ms() / interval + 1) * interval;
    loop {
        let wait = next - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        let permit = match ruler.slots.get() {
            Some(slots) => {
                let waited = tokio::time::timeout(
                    Duration::from_millis(interval as u64),
                    slots.acquire(&group.key.tenant),
                )
                .await;
                match waited {
                    Ok(permit) => permit,
                    Err(_) => {
                        // Every query slot of the tenant stayed busy for a whole interval.
                        group.skip(&ruler, 1);
                        next += interval;
                        continue;
                    }
                }
            }
            None => None,
        };
        let ts = next;
        let job = {
            let (ruler, group) = (Arc::clone(&ruler), Arc::clone(&group));
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    crate::evaluate::evaluate(&ruler, &group, ts, &handle)
                }))
            })
        };
        let outcome = job.await;
        drop(permit);
        ruler.counters.iterations.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => {
                let why = format!("its evaluation panicked: {}", panic_message(&*panic));
                group.disable(&ruler, why);
                return;
            }
            Err(join) => {
                group.disable(&ruler, format!("its evaluation task failed: {join}"));
                return;
            }
        }
        interval = ruler.interval_ms(&group);
        // Skip the slots that passed during the evaluation rather than catching up.
        let now = now_ms();
        next = ts + interval;
        if next <= now {
            let skipped = (now - next) / interval + 1;
            group.skip(&ruler, skipped as u64);
            next += skipped * interval;
        }
    }
}

/// Totals over every group, for `/metrics` (no tenant or group names: those are the
/// tenants' own business).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub iterations: AtomicU64,
    pub missed: AtomicU64,
    pub failures: AtomicU64,
    pub disabled: AtomicU64,
}
