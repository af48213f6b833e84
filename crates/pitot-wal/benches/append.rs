//! Append throughput: the in-memory enqueue path alone, and append + wait with real fsyncs
//! shared by concurrent writers (group commit).

use std::convert::Infallible;
use std::sync::Barrier;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use pitot_wal::{Wal, WalOptions};

const RECORD_LEN: usize = 256;

fn open(dir: &std::path::Path, fsync: bool) -> Wal {
    let options = WalOptions {
        fsync,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir, options).expect("open wal");
    wal.replay(|_| Ok::<_, Infallible>(())).expect("replay wal");
    wal
}

/// Enqueue cost without fsync: what a push pays before it waits.
fn append_no_fsync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let wal = open(dir.path(), false);
    let record = vec![7u8; RECORD_LEN];
    let mut group = c.benchmark_group("append_no_fsync");
    group.throughput(Throughput::Bytes(RECORD_LEN as u64));
    group.bench_function("append", |b| {
        b.iter(|| wal.append(&record).expect("append"));
    });
    group.bench_function("append_with", |b| {
        b.iter(|| {
            wal.append_with(|buf| buf.extend_from_slice(&record))
                .expect("append_with")
        });
    });
    group.finish();
    wal.close().expect("close");
}

/// Durable appends from several threads at once; each waits for its own record.
fn append_durable_concurrent(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_durable");
    group.sample_size(10);
    for threads in [1usize, 8, 32] {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = open(dir.path(), true);
        let record = vec![7u8; RECORD_LEN];
        const PER_THREAD: usize = 50;
        group.throughput(Throughput::Elements((threads * PER_THREAD) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let barrier = Barrier::new(threads);
                    std::thread::scope(|scope| {
                        for _ in 0..threads {
                            scope.spawn(|| {
                                barrier.wait();
                                for _ in 0..PER_THREAD {
                                    let ticket = wal.append(&record).expect("append");
                                    wal.wait_durable_blocking(ticket).expect("durable");
                                }
                            });
                        }
                    });
                });
            },
        );
        wal.close().expect("close");
    }
    group.finish();
}

/// Holds the undocumented `pub fn` that `criterion_group!` expands to.
mod group {
    criterion::criterion_group!(
        benches,
        super::append_no_fsync,
        super::append_durable_concurrent
    );
}

criterion_main!(group::benches);
