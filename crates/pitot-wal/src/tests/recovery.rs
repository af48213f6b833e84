//! Torn and corrupt tails are cut off, later segments removed, and the log stays usable.

use std::fs::{self, OpenOptions};

use proptest::prelude::*;

use super::*;
use crate::segment::{segment_path, FILE_HEADER_LEN};

/// Frame size of the records made by `records(_, 100)`.
const FRAME: u64 = 8 + 100;

#[test]
fn torn_tail_is_truncated_and_later_appends_replay_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(10, 100);
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &written);
    wal.close().unwrap();

    // Cut the last frame in half, as a crash mid-write would.
    let path = segment_path(dir.path(), 1);
    let full = fs::metadata(&path).unwrap().len();
    assert_eq!(full, FILE_HEADER_LEN + 10 * FRAME);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full - 50)
        .unwrap();

    let ((wal, replayed, stats), logs) = capture_logs(|| open(dir.path(), durable(1 << 20)));
    assert_eq!(replayed, written[..9]);
    assert_eq!(stats.truncated_bytes, FRAME - 50);
    assert_eq!(stats.removed_segments, 0);
    let valid = FILE_HEADER_LEN + 9 * FRAME;
    assert_eq!(fs::metadata(&path).unwrap().len(), valid, "garbage is gone");
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("torn or corrupt wal tail"), "{logs}");
    assert!(logs.contains("00000000000000000001.seg"), "{logs}");
    assert!(logs.contains(&format!("offset={valid}")), "{logs}");

    let more = records(3, 40);
    append_all(&wal, &more);
    wal.close().unwrap();
    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, [&written[..9], &more[..]].concat());
    assert_eq!(stats.truncated_bytes, 0);
}

#[test]
fn flipped_byte_stops_replay_at_that_record_and_removes_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(30, 100);
    // 20 + 9 * 108 >= 980: nine records per segment, four segments (the last holds three).
    let (wal, _, _) = open(dir.path(), durable(980));
    append_all(&wal, &written);
    wal.close().unwrap();
    assert_eq!(segments(dir.path()).len(), 4);

    // Damage record 2 of segment 2, which is record 11 overall.
    let path = segment_path(dir.path(), 2);
    let mut bytes = fs::read(&path).unwrap();
    let frame_start = FILE_HEADER_LEN + 2 * FRAME;
    bytes[(frame_start + 8 + 50) as usize] ^= 0x40;
    fs::write(&path, &bytes).unwrap();

    let ((wal, replayed, stats), logs) = capture_logs(|| open(dir.path(), durable(980)));
    assert_eq!(replayed, written[..11]);
    assert_eq!(stats.removed_segments, 2);
    assert_eq!(stats.next_segment, 3);
    assert!(logs.contains("checksum mismatch"), "{logs}");
    assert!(
        logs.contains("removing wal segment after a corrupt tail"),
        "{logs}"
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), frame_start);
    let indexes: Vec<u64> = segments(dir.path()).iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indexes,
        vec![1, 2, 3],
        "3 is the fresh segment, the old 3 and 4 are gone"
    );

    let more = records(2, 10);
    append_all(&wal, &more);
    wal.close().unwrap();
    let (replayed, _) = reopen(dir.path(), durable(980));
    assert_eq!(replayed, [&written[..11], &more[..]].concat());
}

#[test]
fn corrupt_length_field_is_a_bad_length() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(4, 100);
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &written);
    wal.close().unwrap();

    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let frame_start = (FILE_HEADER_LEN + 3 * FRAME) as usize;
    bytes[frame_start..frame_start + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();

    let ((replayed, stats), logs) = capture_logs(|| reopen(dir.path(), durable(1 << 20)));
    assert_eq!(replayed, written[..3]);
    assert_eq!(stats.truncated_bytes, FRAME);
    assert!(logs.contains("frame length 1000000"), "{logs}");
}

#[test]
fn zero_filled_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(3, 100);
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &written);
    wal.close().unwrap();
    let path = segment_path(dir.path(), 1);
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, written);
    assert_eq!(stats.truncated_bytes, 4096);
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn empty_segments_are_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &records(2, 10));
    wal.rotate().unwrap();
    wal.rotate().unwrap();
    append_all(&wal, &records(3, 10)[2..]);
    wal.close().unwrap();
    // Segment 2 is empty, and each open without appends leaves one more empty segment.
    reopen(dir.path(), durable(1 << 20));
    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, records(3, 10));
    assert_eq!(stats.segments_read, 4);
    assert_eq!(stats.truncated_bytes, 0);
}

#[test]
fn zero_length_last_segment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(5, 100);
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &written);
    wal.close().unwrap();
    // A crash right after creating segment 2, before its header reached the disk.
    fs::write(segment_path(dir.path(), 2), b"").unwrap();

    let ((wal, replayed, stats), logs) = capture_logs(|| open(dir.path(), durable(1 << 20)));
    assert_eq!(replayed, written);
    assert_eq!(stats.removed_segments, 1);
    assert_eq!(stats.next_segment, 2);
    assert!(logs.contains("short file header"), "{logs}");
    let more = records(1, 7);
    append_all(&wal, &more);
    wal.close().unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, [written, more].concat());
    assert_eq!(stats.removed_segments, 0);
}

#[test]
fn segment_with_a_foreign_header_is_dropped_with_the_ones_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &records(1, 10));
    wal.rotate().unwrap();
    append_all(&wal, &records(2, 10)[1..]);
    wal.rotate().unwrap();
    append_all(&wal, &records(3, 10)[2..]);
    wal.close().unwrap();
    // Segment 2 renamed from somewhere else: its header names another index.
    let two = segment_path(dir.path(), 2);
    let mut bytes = fs::read(&two).unwrap();
    bytes[12] ^= 1;
    fs::write(&two, &bytes).unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, records(1, 10));
    assert_eq!(stats.removed_segments, 2);
}

#[test]
fn empty_and_missing_directories_open_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/wal");
    let (replayed, stats) = reopen(&nested, durable(1 << 20));
    assert!(replayed.is_empty());
    assert_eq!(
        stats,
        crate::ReplayStats {
            next_segment: 1,
            ..Default::default()
        }
    );
    assert_eq!(file_names(&nested), vec!["00000000000000000001.seg"]);
}

#[test]
fn unrelated_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README"), b"hello").unwrap();
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert!(replayed.is_empty());
    assert!(file_names(dir.path()).contains(&"README".to_owned()));
}

/// Which segment each record lands in under the size rule, mirroring the writer.
fn layout(written: &[Vec<u8>], segment_size: u64) -> Vec<(u64, u64)> {
    let mut placed = Vec::new();
    let (mut segment, mut fill) = (1u64, FILE_HEADER_LEN);
    for record in written {
        placed.push((segment, fill));
        fill += 8 + record.len() as u64;
        if fill >= segment_size {
            segment += 1;
            fill = FILE_HEADER_LEN;
        }
    }
    placed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_damaged_byte_leaves_exactly_the_records_before_it(
        written in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..400), 1..40),
        segment_size in 200u64..3000,
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _, _) = open(dir.path(), fast(segment_size));
        append_all(&wal, &written);
        wal.close().unwrap();

        let placed = layout(&written, segment_size);
        let on_disk = segments(dir.path());
        let lens: Vec<u64> = on_disk.iter().map(|(_, p)| fs::metadata(p).unwrap().len()).collect();
        let total: u64 = lens.iter().sum();
        // Pick a byte over all segments and find its segment and offset.
        let mut pos = at.index(total as usize) as u64;
        let mut target = 0;
        while pos >= lens[target] {
            pos -= lens[target];
            target += 1;
        }
        let (segment, path) = &on_disk[target];
        let mut bytes = fs::read(path).unwrap();
        bytes[pos as usize] ^= mask;
        fs::write(path, &bytes).unwrap();

        let expected = if pos < FILE_HEADER_LEN {
            placed.iter().filter(|(s, _)| s < segment).count()
        } else {
            placed.iter().filter(|(s, offset)| s < segment || (s == segment && *offset <= pos)).count()
                - 1
        };
        let (replayed, stats) = reopen(dir.path(), fast(segment_size));
        prop_assert_eq!(&replayed[..], &written[..expected]);
        prop_assert!(stats.truncated_bytes > 0);
        let (again, stats) = reopen(dir.path(), fast(segment_size));
        prop_assert_eq!(&again[..], &written[..expected]);
        prop_assert_eq!(stats.truncated_bytes, 0);
    }
}
