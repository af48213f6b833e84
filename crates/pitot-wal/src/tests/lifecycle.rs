//! The open → replay → append → close protocol, rejected records and poisoning.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use crate::{ReplayError, WalError, MAX_RECORD_LEN};

#[test]
fn append_before_replay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), durable(1 << 20)).unwrap();
    assert!(matches!(
        wal.append(b"x"),
        Err(WalError::NotReplayed { .. })
    ));
    assert!(matches!(wal.rotate(), Err(WalError::NotReplayed { .. })));
    assert!(
        file_names(dir.path()).is_empty(),
        "open reads and writes nothing"
    );
}

#[test]
fn replay_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let error = wal.replay(|_| Ok::<_, Infallible>(())).unwrap_err();
    assert!(
        matches!(error, ReplayError::Wal(WalError::AlreadyReplayed { .. })),
        "{error}"
    );
}

#[test]
fn failing_callback_stops_replay_and_allows_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &records(5, 10));
    wal.close().unwrap();

    let wal = Wal::open(dir.path(), durable(1 << 20)).unwrap();
    let mut seen = 0;
    let error = wal
        .replay(|_| {
            seen += 1;
            if seen == 3 {
                Err("decode failed")
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(matches!(error, ReplayError::Callback("decode failed")));
    assert_eq!(error.to_string(), "replay callback failed: decode failed");
    assert!(matches!(
        wal.append(b"x"),
        Err(WalError::NotReplayed { .. })
    ));

    let mut records_seen = 0;
    let stats = wal
        .replay(|_| {
            records_seen += 1;
            Ok::<_, Infallible>(())
        })
        .unwrap();
    assert_eq!((records_seen, stats.records), (5, 5));
}

#[test]
fn closed_wal_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    wal.close().unwrap();
    wal.close().unwrap();
    let error = wal.append(b"late").unwrap_err();
    assert!(matches!(error, WalError::Closed { .. }));
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string()),
        "{error}"
    );
}

#[test]
fn empty_and_oversized_records_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    assert!(matches!(wal.append(b""), Err(WalError::EmptyRecord)));
    assert!(matches!(
        wal.append_with(|_| {}),
        Err(WalError::EmptyRecord)
    ));
    let huge = vec![0u8; MAX_RECORD_LEN + 1];
    let error = wal.append(&huge).unwrap_err();
    assert!(matches!(error, WalError::RecordTooLarge { len, .. } if len == MAX_RECORD_LEN + 1));
    let error = wal
        .append_with(|buf| buf.extend_from_slice(&huge))
        .unwrap_err();
    assert!(matches!(error, WalError::RecordTooLarge { .. }), "{error}");
    drop(huge);

    append_all(&wal, &records(1, 10));
    assert_eq!(wal.stats().records_appended, 1);
    wal.close().unwrap();
    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, records(1, 10));
    assert_eq!(
        stats.truncated_bytes, 0,
        "rejected records left no bytes behind"
    );
}

#[test]
fn panicking_encoder_leaves_no_partial_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    wal.append(b"before").unwrap();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        wal.append_with(|buf| {
            buf.extend_from_slice(b"partial");
            panic!("encoder bug");
        })
    }));
    assert!(panicked.is_err());
    let ticket = wal.append(b"after").unwrap();
    wal.wait_durable_blocking(ticket).unwrap();
    wal.close().unwrap();
    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, vec![b"before".to_vec(), b"after".to_vec()]);
    assert_eq!(stats.truncated_bytes, 0);
}

#[test]
fn failed_write_poisons_the_wal() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wal");
    let (wal, _, _) = open(&dir, durable(1 << 20));
    let ticket = wal.append(b"durable").unwrap();
    wal.wait_durable_blocking(ticket).unwrap();
    // The writer cannot create the next segment in a directory that is gone.
    std::fs::remove_dir_all(&dir).unwrap();

    let error = wal.rotate().unwrap_err();
    assert!(
        matches!(&error, WalError::Poisoned { reason } if reason.contains("create segment")),
        "{error}"
    );
    assert!(matches!(
        wal.append(b"more"),
        Err(WalError::Poisoned { .. })
    ));
    assert!(matches!(
        wal.checkpoint(2, &mut std::iter::empty()),
        Err(WalError::Poisoned { .. })
    ));
    // What was durable before stays durable.
    wal.wait_durable_blocking(ticket).unwrap();
    assert!(matches!(wal.close(), Err(WalError::Poisoned { .. })));
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    let ticket = wal.append(b"x").unwrap();
    assert_send(&wal.wait_durable(ticket));
}
