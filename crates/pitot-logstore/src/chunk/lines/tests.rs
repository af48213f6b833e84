use super::*;
use proptest::prelude::*;

fn round_trip(entries: &[(i64, Vec<u8>)]) -> EncodedLines {
    let ts: Vec<i64> = entries.iter().map(|e| e.0).collect();
    let mut lines = Vec::new();
    let mut ends = Vec::new();
    for (_, l) in entries {
        lines.extend_from_slice(l);
        ends.push(lines.len() as u32);
    }
    let enc = encode(&ts, &lines, &ends);
    let (dec, dec_ends) = decode(&ts, &enc, lines.len()).expect("decodes");
    assert_eq!(dec_ends, ends);
    assert!(
        dec == lines,
        "{:?} != {:?}",
        String::from_utf8_lossy(&dec),
        String::from_utf8_lossy(&lines)
    );
    enc
}

const TS: i64 = 1_795_000_000_000_000_000 - 987_654_321;

#[test]
fn typical_lines_round_trip_and_share_templates() {
    let mut clock = Clock::default();
    let iso = String::from_utf8(clock.iso(TS).unwrap().to_vec()).unwrap();
    let clf = String::from_utf8(clock.clf(TS).unwrap().to_vec()).unwrap();
    let entries: Vec<(i64, Vec<u8>)> = (0..100)
        .map(|i| {
            let line = match i % 3 {
                0 => format!("{{\"ts\":\"{iso}\",\"trace_id\":\"{:032x}\",\"user_id\":{i},\"latency_ms\":{i}.5}}", 0xabcd_u128 << 100 | i as u128),
                1 => format!("10.0.{i}.1 - - [{clf}] \"GET /x HTTP/1.1\" 200 {i} req_id={:016X}", 0xABCD_u64 << 48 | i),
                _ => format!("{iso} INFO order_id={:010x} 007 {} x86_64 \u{1}\u{7}", i * 1_000_003 + 0xa0_0000_0000u64, u64::MAX),
            };
            (TS, line.into_bytes())
        })
        .collect();
    let enc = round_trip(&entries);
    let mut r = Reader::new(&enc.dict);
    assert_eq!(r.count().unwrap(), 3, "one template per shape");
    assert!(enc.hex.len() >= 33 * 16, "hex ids are packed");
}

#[test]
fn edge_cases_round_trip() {
    let cases: Vec<&[u8]> = vec![
        b"",
        b"0",
        b"00",
        b"0000000000000000000000000000",
        b"99999999999999999999",
        b"18446744073709551615 18446744073709551616 9999999999999999999",
        b"abcdef12 ABCDEF12 aBcdef12 abcdef1 abcdef123 deadbeef 12345678",
        b"\x01\x02\x03\x04\x05\x06\x07\x08\x00\xff",
        b"2026-11-25T10:46:28.013Z 2026-11-25T10:46:28.014Z 2026-",
        b"25/Nov/2026:10:46:28 +0000 25/Nov/2026:10:46:29 +0000 25/",
    ];
    let mut long_hex = vec![b'a'; 300];
    long_hex[5] = b'1';
    let mut entries: Vec<(i64, Vec<u8>)> = cases.iter().map(|c| (TS, c.to_vec())).collect();
    entries.push((TS, long_hex));
    entries.push((i64::MIN, b"1970-01-01T00:00:00.000Z".to_vec()));
    entries.push((i64::MAX, b"01/Jan/1970:00:00:00 +0000".to_vec()));
    round_trip(&entries);
}

#[test]
fn corrupt_columns_are_errors() {
    let entries = vec![(TS, b"id=abcdef0123 n=42 ok".to_vec()); 3];
    let enc = round_trip(&entries);
    let ts = vec![TS; 3];
    let raw = entries.iter().map(|e| e.1.len()).sum();
    let mut bad = EncodedLines {
        dict: enc.dict.clone(),
        ids: enc.ids.clone(),
        nums: enc.nums.clone(),
        hex: enc.hex[1..].to_vec(),
    };
    assert!(decode(&ts, &bad, raw).is_err());
    bad.hex = enc.hex.clone();
    bad.ids = vec![9, 0, 0];
    assert!(decode(&ts, &bad, raw).is_err());
    bad.ids = enc.ids.clone();
    assert!(decode(&ts, &bad, raw + 1).is_err());
    bad.nums.push(1);
    assert!(decode(&ts, &bad, raw).is_err());
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9a-fA-F]{0,40}".prop_map(String::into_bytes),
        "[0-9]{1,25}".prop_map(String::into_bytes),
        "[ =:/._\"\\[\\]TZ+-]{1,3}".prop_map(String::into_bytes),
        "[\\x00-\\x08]".prop_map(String::into_bytes),
        ".{0,6}".prop_map(String::into_bytes),
        Just(b"ISO".to_vec()),
        Just(b"CLF".to_vec()),
        Just(b"2026-11-25T10:46:28.013Z".to_vec()),
        Just(b"25/Nov/2026:10:46:28 +0000".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

proptest! {
    #[test]
    fn arbitrary_lines_round_trip(
        lines in proptest::collection::vec(
            (any::<i64>(), 0u8..3, proptest::collection::vec(piece(), 0..12)), 1..30),
    ) {
        let mut clock = Clock::default();
        let entries: Vec<(i64, Vec<u8>)> = lines
            .into_iter()
            .map(|(ts, near, pieces)| {
                // Bias timestamps into years with spellings.
                let ts = if near > 0 { TS + ts % 10_000_000_000 } else { ts };
                let mut line = Vec::new();
                for p in pieces {
                    match p.as_slice() {
                        b"ISO" => line.extend_from_slice(clock.iso(ts).map_or(&b"x"[..], |s| &s[..])),
                        b"CLF" => line.extend_from_slice(clock.clf(ts).map_or(&b"x"[..], |s| &s[..])),
                        _ => line.extend_from_slice(&p),
                    }
                }
                (ts, line)
            })
            .collect();
        round_trip(&entries);
    }

    #[test]
    fn arbitrary_strings_round_trip(lines in proptest::collection::vec(".{0,80}", 1..30), ts in any::<i64>()) {
        let entries: Vec<(i64, Vec<u8>)> = lines.into_iter().map(|l| (ts, l.into_bytes())).collect();
        round_trip(&entries);
    }
}

proptest! {
    #[test]
    fn scans_find_the_first_interesting_byte(line in proptest::collection::vec(prop_oneof![Just(0u8), Just(3u8), Just(b'5'), Just(b'a'), Just(0x39u8), Just(0x3au8), Just(0x80u8), any::<u8>()], 0..40), from in 0usize..40) {
        let from = from.min(line.len());
        let naive = (from..line.len()).find(|&i| INTERESTING[line[i] as usize] != 0).unwrap_or(line.len());
        prop_assert_eq!(next_interesting(&line, from), naive);
        let naive = (from..line.len()).find(|&i| (1..=ESCAPE).contains(&line[i])).unwrap_or(line.len());
        prop_assert_eq!(next_special(&line, from), naive);
    }
}
