use super::*;
use proptest::prelude::*;

type Entry = (i64, String, Vec<(String, String)>);

fn columns(entries: &[Entry]) -> Columns {
    let mut c = Columns::default();
    for (ts, line, meta) in entries {
        let meta = meta.iter().map(|(n, v)| Label::new(n, v)).collect();
        c.push(*ts, line.as_bytes(), meta);
    }
    c.sorted()
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        -1_000_000i64..1_000_000_000,
        ".{0,60}",
        proptest::collection::vec(("[a-z]{1,5}", ".{0,5}"), 0..2),
    )
}

proptest! {
    #[test]
    fn chunks_round_trip(entries in proptest::collection::vec(entry(), 1..200), level in 1i32..6) {
        let c = columns(&entries);
        let sealed = encode(&c, level);
        prop_assert_eq!(read_meta(&sealed.bytes).unwrap(), sealed.meta);
        prop_assert_eq!(sealed.meta.entries as usize, entries.len());
        let decoded = decode(&sealed.bytes).unwrap();
        prop_assert_eq!(decoded, c);
    }

    #[test]
    fn flipped_bytes_are_errors_not_panics(
        entries in proptest::collection::vec(entry(), 1..20),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sealed = encode(&columns(&entries), 3);
        let mut bytes = sealed.bytes.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(decode(&bytes).is_err());
        prop_assert!(decode(&bytes[..i]).is_err());
    }
}

#[test]
fn garbage_with_a_valid_checksum_is_an_error() {
    let sealed = encode(&columns(&[(5, "hello".into(), vec![])]), 3);
    let mut bytes = sealed.bytes.to_vec();
    // Claim a huge entry count and fix the checksum: the decoder must refuse it.
    bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    assert!(decode(&bytes).is_err());
}

#[test]
fn equal_timestamps_keep_insertion_order() {
    let c = columns(&[
        (10, "b".into(), vec![]),
        (5, "a".into(), vec![]),
        (10, "c".into(), vec![]),
    ]);
    let d = decode(&encode(&c, 3).bytes).unwrap();
    assert_eq!(d.ts, [5, 10, 10]);
    assert_eq!(d.line(1), b"b");
    assert_eq!(d.line(2), b"c");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
        let _ = read_meta(&bytes);
        let _ = crate::block::decode_index(&bytes);
        let _ = crate::wal_record::decode(&bytes);
        if let Ok(f) = crate::filter::LineFilter::parse(&bytes) {
            let _ = f.may_contain(b"some needle");
        }
    }
}

proptest! {
    #[test]
    fn version_1_chunks_still_decode(entries in proptest::collection::vec(entry(), 1..100)) {
        let c = columns(&entries);
        let bytes = v1::encode(&c, 1);
        prop_assert_eq!(bytes[4], 1);
        prop_assert_eq!(read_meta(&bytes).unwrap().entries as usize, entries.len());
        prop_assert_eq!(decode(&bytes).unwrap(), c);
    }
}
