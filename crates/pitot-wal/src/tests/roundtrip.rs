//! Records come back exactly, in order, across segments and restarts.

use proptest::prelude::*;

use super::*;
use crate::segment::FILE_HEADER_LEN;

#[test]
fn records_survive_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(100, 300);
    let (wal, replayed, stats) = open(dir.path(), durable(1 << 20));
    assert!(replayed.is_empty());
    assert_eq!(stats.next_segment, 1);
    append_all(&wal, &written);
    wal.close().unwrap();

    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, written);
    assert_eq!(stats.records, 100);
    assert_eq!(stats.truncated_bytes, 0);
    assert_eq!(stats.next_segment, 2);
}

#[test]
fn appends_after_replay_go_to_a_fresh_segment() {
    let dir = tempfile::tempdir().unwrap();
    let first = records(3, 50);
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &first);
    drop(wal);

    let (wal, replayed, stats) = open(dir.path(), durable(1 << 20));
    assert_eq!(replayed, first);
    assert_eq!(stats.next_segment, 2);
    let second = records(2, 70);
    append_all(&wal, &second);
    drop(wal);

    let names = file_names(dir.path());
    assert_eq!(
        names,
        vec!["00000000000000000001.seg", "00000000000000000002.seg"]
    );
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, [first, second].concat());
}

#[test]
fn size_rotation_spreads_records_over_segments() {
    let dir = tempfile::tempdir().unwrap();
    let written = records(60, 200);
    let (wal, _, _) = open(dir.path(), durable(1000));
    append_all(&wal, &written);
    let stats = wal.stats();
    wal.close().unwrap();

    // 20 header + 5 * 208 >= 1000: five records per segment, then a rotation.
    let on_disk = segments(dir.path());
    assert_eq!(
        on_disk.len(),
        13,
        "12 full segments and the empty one after them"
    );
    assert_eq!(stats.segment_files, 13);
    assert_eq!(stats.current_segment, 13);
    for (_, path) in &on_disk[..12] {
        let len = std::fs::metadata(path).unwrap().len();
        assert_eq!(len, FILE_HEADER_LEN + 5 * 208);
    }
    let (replayed, replay_stats) = reopen(dir.path(), durable(1000));
    assert_eq!(replayed, written);
    assert_eq!(replay_stats.segments_read, 13);
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let written = vec![vec![1u8; 10], vec![2u8; 5000], vec![3u8; 10]];
    let (wal, _, _) = open(dir.path(), durable(1024));
    append_all(&wal, &written);
    wal.close().unwrap();
    let (replayed, _) = reopen(dir.path(), durable(1024));
    assert_eq!(replayed, written);
}

#[test]
fn explicit_rotation_starts_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    append_all(&wal, &records(2, 10));
    assert_eq!(wal.rotate().unwrap(), 2);
    assert_eq!(wal.stats().current_segment, 2);
    // Rotating an empty segment still starts a new one.
    assert_eq!(wal.rotate().unwrap(), 3);
    append_all(&wal, &records(1, 10));
    wal.close().unwrap();

    let on_disk = segments(dir.path());
    let indexes: Vec<u64> = on_disk.iter().map(|(index, _)| *index).collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    assert_eq!(
        std::fs::metadata(&on_disk[1].1).unwrap().len(),
        FILE_HEADER_LEN,
        "segment 2 holds only its header"
    );
    let (replayed, stats) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed.len(), 3);
    assert_eq!(stats.segments_read, 3);
}

#[test]
fn append_with_encodes_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    wal.append(b"first").unwrap();
    let ticket = wal
        .append_with(|buf| {
            buf.extend_from_slice(b"second ");
            buf.extend_from_slice(b"record");
        })
        .unwrap();
    wal.wait_durable_blocking(ticket).unwrap();
    wal.close().unwrap();
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, vec![b"first".to_vec(), b"second record".to_vec()]);
}

#[test]
fn dropping_without_close_flushes_pending_records() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), durable(1 << 20));
    for record in records(50, 20) {
        wal.append(&record).unwrap();
    }
    drop(wal);
    let (replayed, _) = reopen(dir.path(), durable(1 << 20));
    assert_eq!(replayed, records(50, 20));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_records_round_trip(
        written in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..3000), 1..80),
        segment_size in 64u64..20_000,
        in_place in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _, _) = open(dir.path(), fast(segment_size));
        let mut last = None;
        for (i, record) in written.iter().enumerate() {
            let ticket = if in_place && i % 2 == 0 {
                wal.append_with(|buf| buf.extend_from_slice(record)).unwrap()
            } else {
                wal.append(record).unwrap()
            };
            prop_assert!(last < Some(ticket), "tickets increase with append order");
            last = Some(ticket);
        }
        wal.wait_durable_blocking(last.unwrap()).unwrap();
        wal.close().unwrap();

        let (replayed, stats) = reopen(dir.path(), fast(segment_size));
        prop_assert_eq!(&replayed, &written);
        prop_assert_eq!(stats.truncated_bytes, 0);
        // A second restart sees the same records: replay repaired nothing and lost nothing.
        let (again, _) = reopen(dir.path(), fast(segment_size));
        prop_assert_eq!(&again, &written);
    }
}
