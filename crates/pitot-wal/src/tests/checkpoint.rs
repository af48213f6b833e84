//! Checkpoints replace older segments, survive crashes at every step, and are validated.

use std::fs;

use super::*;
use crate::segment::{checkpoint_path, checkpoint_temp_path, segment_path};
use crate::WalError;

fn strings(values: &[&str]) -> Vec<Vec<u8>> {
    values
        .iter()
        .map(|value| value.as_bytes().to_vec())
        .collect()
}

/// Writes records into segments 1..=3, rotates to 4, appends `after`, checkpoints at 4.
fn wal_with_checkpoint(dir: &Path, snapshot: &[Vec<u8>], after: &[Vec<u8>]) -> Wal {
    let (wal, _, _) = open(dir, durable(600));
    append_all(&wal, &records(12, 100));
    assert_eq!(wal.stats().current_segment, 3);
    assert_eq!(wal.rotate().unwrap(), 4);
    append_all(&wal, after);
    wal.checkpoint(4, &mut snapshot.iter().cloned()).unwrap();
    wal
}

#[test]
fn checkpoint_replaces_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = strings(&["state-a", "state-b"]);
    let after = strings(&["after-1", "after-2"]);
    let wal = wal_with_checkpoint(dir.path(), &snapshot, &after);
    assert_eq!(wal.stats().segment_files, 1);
    wal.close().unwrap();
    assert_eq!(
        file_names(dir.path()),
        vec![
            "00000000000000000004.seg",
            "checkpoint.00000000000000000004"
        ]
    );

    let (replayed, stats) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, [snapshot, after].concat());
    assert_eq!(stats.checkpoint, Some(4));
    assert_eq!(stats.checkpoint_records, 2);
    assert_eq!(stats.records, 4);
    assert_eq!(stats.next_segment, 5);
}

#[test]
fn newer_checkpoint_supersedes_the_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_checkpoint(dir.path(), &strings(&["old"]), &strings(&["x"]));
    assert_eq!(wal.rotate().unwrap(), 5);
    append_all(&wal, &strings(&["y"]));
    wal.checkpoint(5, &mut strings(&["new"]).into_iter())
        .unwrap();
    wal.close().unwrap();
    assert!(!checkpoint_path(dir.path(), 4).exists());
    assert!(!segment_path(dir.path(), 4).exists());

    let (replayed, stats) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, strings(&["new", "y"]));
    assert_eq!(stats.checkpoint, Some(5));
}

#[test]
fn leftover_temp_checkpoint_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = strings(&["state"]);
    let wal = wal_with_checkpoint(dir.path(), &snapshot, &[]);
    wal.close().unwrap();
    // A crash while writing the next checkpoint, before its rename.
    let temp = checkpoint_temp_path(dir.path(), 5);
    fs::write(&temp, b"half written garbage").unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, snapshot);
    assert_eq!(stats.checkpoint, Some(4));
    assert!(!temp.exists());
}

#[test]
fn crash_between_rename_and_cleanup_is_finished_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = strings(&["state"]);
    let after = strings(&["after"]);
    let wal = wal_with_checkpoint(dir.path(), &snapshot, &after);
    wal.close().unwrap();
    // Put back what the cleanup removed: old segments and an older checkpoint.
    for index in 1..4 {
        fs::write(segment_path(dir.path(), index), b"stale").unwrap();
    }
    fs::write(checkpoint_path(dir.path(), 2), b"stale").unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, [snapshot, after].concat());
    assert_eq!(stats.truncated_bytes, 0);
    assert_eq!(
        file_names(dir.path()),
        vec![
            "00000000000000000004.seg",
            "00000000000000000005.seg",
            "checkpoint.00000000000000000004"
        ]
    );
}

#[test]
fn directory_with_only_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = strings(&["only", "the", "checkpoint"]);
    let wal = wal_with_checkpoint(dir.path(), &snapshot, &[]);
    wal.close().unwrap();
    fs::remove_file(segment_path(dir.path(), 4)).unwrap();
    assert_eq!(
        file_names(dir.path()),
        vec!["checkpoint.00000000000000000004"]
    );

    let (wal, replayed, stats) = open(dir.path(), durable(600));
    assert_eq!(replayed, snapshot);
    assert_eq!(stats.segments_read, 0);
    assert_eq!(
        stats.next_segment, 4,
        "appends continue at the checkpoint's segment"
    );
    let more = strings(&["more"]);
    append_all(&wal, &more);
    wal.close().unwrap();
    let (replayed, _) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, [snapshot, more].concat());
}

#[test]
fn empty_checkpoint_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_checkpoint(dir.path(), &[], &strings(&["after"]));
    wal.close().unwrap();
    let (replayed, stats) = reopen(dir.path(), durable(600));
    assert_eq!(replayed, strings(&["after"]));
    assert_eq!(stats.checkpoint, Some(4));
}

#[test]
fn corrupt_checkpoint_is_an_error_not_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_checkpoint(dir.path(), &strings(&["state", "more state"]), &[]);
    wal.close().unwrap();
    let path = checkpoint_path(dir.path(), 4);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).unwrap();

    let wal = Wal::open(dir.path(), durable(600)).unwrap();
    let error = wal.replay(|_| Ok::<_, Infallible>(())).unwrap_err();
    assert!(
        matches!(
            &error,
            crate::ReplayError::Wal(WalError::CorruptCheckpoint { offset: 33, .. })
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("checkpoint.00000000000000000004"),
        "{error}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "the checkpoint was not touched"
    );
}

#[test]
fn checkpoint_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_with_checkpoint(dir.path(), &[], &[]);
    let error = wal.checkpoint(9, &mut std::iter::empty()).unwrap_err();
    assert!(
        matches!(
            error,
            WalError::CheckpointAhead {
                segment: 9,
                current: 4
            }
        ),
        "{error}"
    );
    let error = wal.checkpoint(3, &mut std::iter::empty()).unwrap_err();
    assert!(
        matches!(
            error,
            WalError::CheckpointNotNewer {
                segment: 3,
                existing: 4
            }
        ),
        "{error}"
    );

    // A bad record aborts the checkpoint and leaves no temp file behind.
    wal.rotate().unwrap();
    let error = wal
        .checkpoint(5, &mut strings(&["fine", ""]).into_iter())
        .unwrap_err();
    assert!(matches!(error, WalError::EmptyRecord), "{error}");
    assert!(!checkpoint_temp_path(dir.path(), 5).exists());
    assert!(!checkpoint_path(dir.path(), 5).exists());
    wal.close().unwrap();
}

#[test]
fn checkpoint_needs_a_replayed_wal() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), durable(600)).unwrap();
    let error = wal.checkpoint(1, &mut std::iter::empty()).unwrap_err();
    assert!(matches!(error, WalError::NotReplayed { .. }), "{error}");
}
