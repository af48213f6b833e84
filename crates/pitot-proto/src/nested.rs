//! How many messages a protobuf body nests, read off its framing without a schema, so
//! what decoding it into owned structs allocates can be charged before it is decoded
//! (a body of tiny nested messages decodes to many times its size).

/// Nesting deeper than this is not walked: a length-delimited field below it is
/// counted as if its bytes were all two-byte messages, the most they can hold.
const MAX_DEPTH: u32 = 24;

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// An upper bound of the messages nested in `buf`: every length-delimited field whose
/// payload reads as protobuf fields counts as one (a string that happens to read as
/// protobuf counts too, which only overestimates). `None` when `buf` itself does not
/// read as protobuf fields.
pub fn nested_messages(buf: &[u8]) -> Option<usize> {
    messages(buf, 0)
}

fn messages(buf: &[u8], depth: u32) -> Option<usize> {
    let mut at = 0;
    let mut count = 0usize;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        if key >> 3 == 0 {
            return None;
        }
        match key & 7 {
            0 => {
                varint(buf, &mut at)?;
            }
            1 => at = at.checked_add(8).filter(|&end| end <= buf.len())?,
            5 => at = at.checked_add(4).filter(|&end| end <= buf.len())?,
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&end| end <= buf.len())?;
                let payload = &buf[at..end];
                count = count.saturating_add(if depth >= MAX_DEPTH {
                    1 + payload.len() / 2
                } else {
                    messages(payload, depth + 1).map_or(0, |n| n + 1)
                });
                at = end;
            }
            _ => return None,
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_are_counted_and_strings_are_not() {
        // field 1 = { field 1 = { }, field 2 = "ab" }: two messages ("ab" is not protobuf).
        let body = [0x0a, 0x06, 0x0a, 0x00, 0x12, 0x02, b'a', b'b'];
        assert_eq!(nested_messages(&body), Some(2));
        assert_eq!(nested_messages(&[0x0a, 0x00].repeat(1000)), Some(1000));
        assert_eq!(nested_messages(&[0xff]), None);
        // Deeper than the walk goes: counted by bytes, never fewer than are there.
        let mut deep = vec![];
        for _ in 0..40 {
            let mut outer = vec![0x0a, deep.len() as u8];
            outer.extend_from_slice(&deep);
            deep = outer;
        }
        assert!(nested_messages(&deep).unwrap() >= 40);
    }
}
