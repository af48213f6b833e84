//! Independent work over a slice, split across the cores.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f` over `items` split into contiguous parts and concatenates the parts'
/// results in order; with fewer than `min_items` items (where starting a thread costs
/// more than it saves) or one core, `f` runs once on the calling thread. The first
/// error of a part, in order, is returned.
///
/// The calling thread runs the first part; the others run on helper threads taken from
/// one process-wide budget of `cores - 1`. Many queries at once (each on its own
/// query-pool thread) therefore never start more helpers than there are idle cores:
/// when the budget is spent, the machine is busy already and the caller does all the
/// work itself instead of oversubscribing the cores.
pub fn parallel_chunks<T: Sync, R: Send, E: Send>(
    items: &[T],
    min_items: usize,
    f: impl Fn(&[T]) -> Result<Vec<R>, E> + Sync,
) -> Result<Vec<R>, E> {
    let threads = cores();
    if threads < 2 || items.len() < min_items.max(2) {
        return f(items);
    }
    let helpers = HelperThreads::take(threads - 1);
    if helpers.count == 0 {
        return f(items);
    }
    let f = &f;
    let mut chunks = items.chunks(items.len().div_ceil(helpers.count + 1));
    let first = chunks.next().expect("at least one part");
    let parts: Vec<Result<Vec<R>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.map(|part| scope.spawn(move || f(part))).collect();
        let mut parts = Vec::with_capacity(handles.len() + 1);
        parts.push(f(first));
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("a part does not panic")),
        );
        parts
    });
    drop(helpers);
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Helper threads in use by every `parallel_chunks` call of the process.
static HELPERS_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Helper threads taken from the process-wide budget of `cores - 1`, given back on
/// drop: engines that split one query's work over threads take their helpers here, so
/// many queries at once never run more threads than the machine has cores.
#[derive(Debug)]
pub struct HelperThreads {
    count: usize,
}

thread_local! {
    /// The most helpers a call on this thread may take (see [`limit_helpers_here`]).
    static HELPERS_ALLOWED_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Caps the helpers any `parallel_chunks` (or [`HelperThreads::take`]) call on the
/// calling thread may take, whatever the process-wide budget: a query thread serving one
/// tenant sets it so that the tenant's query never spreads over more cores than the
/// tenant's share.
pub fn limit_helpers_here(max: usize) {
    HELPERS_ALLOWED_HERE.with(|allowed| allowed.set(max));
}

/// The cores this process may use (`available_parallelism`, looked up once).
pub fn available_cores() -> usize {
    cores()
}

impl HelperThreads {
    /// Takes up to `want` helpers of the `cores - 1` the process may run at once; none
    /// when every core is busy with other queries' helpers already, and never more than
    /// the calling thread's own cap ([`limit_helpers_here`]).
    pub fn take(want: usize) -> HelperThreads {
        let want = want.min(HELPERS_ALLOWED_HERE.with(std::cell::Cell::get));
        let budget = cores().saturating_sub(1);
        let mut in_use = HELPERS_IN_USE.load(Ordering::Relaxed);
        loop {
            let count = want.min(budget.saturating_sub(in_use));
            if count == 0 {
                return HelperThreads { count: 0 };
            }
            match HELPERS_IN_USE.compare_exchange_weak(
                in_use,
                in_use + count,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return HelperThreads { count },
                Err(now) => in_use = now,
            }
        }
    }
}

impl HelperThreads {
    /// How many helpers were taken.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Drop for HelperThreads {
    fn drop(&mut self) {
        if self.count > 0 {
            HELPERS_IN_USE.fetch_sub(self.count, Ordering::AcqRel);
        }
    }
}

/// The cores this process may use, looked up once: `available_parallelism` reads the
/// cgroup files on every call (a few opens and reads, about 5% of a small query's CPU).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_in_order_and_errors_surface() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = parallel_chunks(&items, 10, |part| {
            Ok::<_, ()>(part.iter().map(|x| x * 2).collect())
        });
        assert_eq!(doubled, Ok(items.iter().map(|x| x * 2).collect()));
        let failed = parallel_chunks(&items, 10, |part| {
            if part.contains(&999) {
                Err(999)
            } else {
                Ok(part.to_vec())
            }
        });
        assert_eq!(failed, Err(999));
        let few = parallel_chunks(&items[..3], 10, |part| Ok::<_, ()>(vec![part.len()]));
        assert_eq!(few, Ok(vec![3]));
    }

    #[test]
    fn a_thread_limited_to_no_helpers_works_alone() {
        std::thread::spawn(|| {
            limit_helpers_here(0);
            assert_eq!(HelperThreads::take(8).count(), 0);
            let items: Vec<u32> = (0..1000).collect();
            let main = std::thread::current().id();
            let out = parallel_chunks(&items, 10, |part| {
                assert_eq!(std::thread::current().id(), main);
                Ok::<_, ()>(part.to_vec())
            });
            assert_eq!(out, Ok(items));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn helpers_never_exceed_the_cores_however_many_callers() {
        let items: Vec<u32> = (0..1000).collect();
        let peak = AtomicUsize::new(0);
        let running = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let out = parallel_chunks(&items, 10, |part| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, ()>(part.to_vec())
                        });
                        assert_eq!(out, Ok(items.clone()));
                    }
                });
            }
        });
        // Eight callers run their own parts; at most `cores - 1` helpers join them.
        assert!(peak.load(Ordering::SeqCst) < 8 + cores());
    }
}
