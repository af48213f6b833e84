//! Independent work over a slice, split across the cores.

/// Runs `f` over `items` split into one contiguous part per core and concatenates the
/// parts' results in order; with fewer than `min_items` items (where starting a thread
/// costs more than it saves) or one core, `f` runs once on the calling thread. The
/// first error of a part, in order, is returned.
pub fn parallel_chunks<T: Sync, R: Send, E: Send>(
    items: &[T],
    min_items: usize,
    f: impl Fn(&[T]) -> Result<Vec<R>, E> + Sync,
) -> Result<Vec<R>, E> {
    let threads = cores();
    if threads < 2 || items.len() < min_items.max(2) {
        return f(items);
    }
    let f = &f;
    let parts: Vec<Result<Vec<R>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| scope.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a part does not panic"))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
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
}
