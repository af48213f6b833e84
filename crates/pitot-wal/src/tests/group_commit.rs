//! Concurrent appenders share fsyncs and all become durable.

use std::collections::HashMap;
use std::sync::Barrier;

use super::*;

/// Checks that replay holds every `(writer, i)` record once and each writer's in order.
fn assert_all_in_order(replayed: &[Vec<u8>], writers: usize, per_writer: usize) {
    assert_eq!(replayed.len(), writers * per_writer);
    let mut next: HashMap<usize, usize> = HashMap::new();
    for record in replayed {
        let text = std::str::from_utf8(record).unwrap();
        let (writer, i) = text.split_once(':').unwrap();
        let (writer, i): (usize, usize) = (writer.parse().unwrap(), i.parse().unwrap());
        let expected = next.entry(writer).or_default();
        assert_eq!(i, *expected, "writer {writer} out of order");
        *expected += 1;
    }
    assert!(next.values().all(|count| *count == per_writer));
}

#[test]
fn concurrent_threads_share_fsyncs() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (wal, barrier) = (&wal, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let ticket = wal.append(format!("{t}:{i}").as_bytes()).unwrap();
                    wal.wait_durable_blocking(ticket).unwrap();
                    assert!(wal.stats().durable_sequence >= ticket.sequence());
                }
            });
        }
    });
    let stats = wal.stats();
    wal.close().unwrap();

    let appends = (THREADS * PER_THREAD) as u64;
    assert_eq!(stats.records_appended, appends);
    assert_eq!(stats.durable_sequence, appends);
    assert!(stats.fsyncs > 0);
    assert!(
        stats.fsyncs < appends,
        "{} fsyncs for {appends} appends: no group commit",
        stats.fsyncs
    );
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert_all_in_order(&replayed, THREADS, PER_THREAD);
}

#[test]
fn concurrent_tokio_tasks_share_fsyncs() {
    const TASKS: usize = 200;
    const PER_TASK: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let wal = Arc::new(wal);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let wal = Arc::clone(&wal);
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let ticket = wal.append(format!("{t}:{i}").as_bytes()).unwrap();
                    wal.wait_durable(ticket).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let stats = wal.stats();
    let appends = (TASKS * PER_TASK) as u64;
    assert_eq!(stats.durable_sequence, appends);
    assert!(
        stats.fsyncs < appends,
        "{} fsyncs for {appends} appends: no group commit",
        stats.fsyncs
    );
    wal.close().unwrap();
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert_all_in_order(&replayed, TASKS, PER_TASK);
}

#[test]
fn one_fsync_covers_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let tickets: Vec<Ticket> = records(500, 64)
        .iter()
        .map(|record| wal.append(record).unwrap())
        .collect();
    for ticket in tickets.iter().rev() {
        wal.wait_durable_blocking(*ticket).unwrap();
    }
    let stats = wal.stats();
    assert!(stats.fsyncs < 500, "{} fsyncs", stats.fsyncs);
    assert_eq!(stats.bytes_written, 500 * (8 + 64));
    wal.close().unwrap();
}

#[test]
fn waiting_on_an_already_durable_ticket_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let first = wal.append(b"one").unwrap();
    let second = wal.append(b"two").unwrap();
    wal.wait_durable_blocking(second).unwrap();
    wal.wait_durable_blocking(first).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(wal.wait_durable(first)).unwrap();
    wal.close().unwrap();
    // Closing flushed everything, so old tickets still resolve.
    wal.wait_durable_blocking(second).unwrap();
}
