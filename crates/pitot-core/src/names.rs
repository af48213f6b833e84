//! Name syntax checks. Every label of every pushed series passes through them, so they
//! classify each byte with one table lookup and no branch per byte (byte-by-byte range
//! tests were a twentieth of the ingest CPU).

/// Byte classes: what each byte may be in a name.
const LABEL_START: u8 = 1;
const LABEL_REST: u8 = 2;
const METRIC_START: u8 = 4;
const METRIC_REST: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut class = 0;
        if alpha {
            class |= LABEL_START | LABEL_REST | METRIC_START | METRIC_REST;
        }
        if digit {
            class |= LABEL_REST | METRIC_REST;
        }
        if c == b':' {
            class |= METRIC_START | METRIC_REST;
        }
        table[b] = class;
        b += 1;
    }
    table
};

/// Whether `name` is non-empty, starts with a byte of class `start` and goes on with
/// bytes of class `rest`.
fn is_valid(name: &str, start: u8, rest: u8) -> bool {
    match name.as_bytes().split_first() {
        Some((&first, tail)) => {
            let tail_classes = tail
                .iter()
                .fold(rest, |acc, &b| acc & CLASSES[usize::from(b)]);
            CLASSES[usize::from(first)] & start != 0 && tail_classes != 0
        }
        None => false,
    }
}

/// Whether `name` is a valid metric name in Prometheus' classic syntax
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`), the syntax that Mimir validates on ingest.
pub fn is_valid_metric_name(name: &str) -> bool {
    is_valid(name, METRIC_START, METRIC_REST)
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    is_valid(name, LABEL_START, LABEL_REST)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The syntax spelled out byte by byte, to check the table against.
    fn reference(name: &str, colon: bool) -> bool {
        let mut bytes = name.bytes();
        let ok = |b: u8| b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':');
        match bytes.next() {
            Some(b) if ok(b) => bytes.all(|b| ok(b) || b.is_ascii_digit()),
            _ => false,
        }
    }

    #[test]
    fn table_agrees_with_the_syntax_for_every_byte_in_every_position() {
        let check = |name: &str| {
            assert_eq!(
                is_valid_metric_name(name),
                reference(name, true),
                "{name:?}"
            );
            assert_eq!(
                is_valid_label_name(name),
                reference(name, false),
                "{name:?}"
            );
        };
        for b in 0..=255u8 {
            for name in [vec![b], vec![b'a', b], vec![b'a', b, b'z'], vec![b, b'0']] {
                if let Ok(name) = std::str::from_utf8(&name) {
                    check(name);
                }
            }
        }
        for name in ["é", "aé", "a\u{7f}", "node_cpu_seconds_total", "a:b:c", "_"] {
            check(name);
        }
    }

    #[test]
    fn classic_name_syntax() {
        assert!(is_valid_metric_name("node:cpu_seconds_total"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("a-b"));
        assert!(is_valid_label_name("_x9"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name("é"));
    }
}
