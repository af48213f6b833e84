//! The log record of one append: a tenant and its exemplars.
//!
//! ```text
//! record   = version:u8 tenant:string count:uvarint item*
//! item     = series:labels exemplar:labels value:f64 le timestamp:varint
//! labels   = n:uvarint (name:string value:string)*
//! string   = len:uvarint bytes (UTF-8)
//! ```

use pitot_core::varint::{put_uvarint, put_varint, read_uvarint, read_varint};
use pitot_core::{Label, Labels, TenantId};

use crate::{Exemplar, NewExemplar};

const VERSION: u8 = 1;

/// A record that cannot be read: the log is damaged in a way its checksums missed, or
/// was written by a newer version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The record ends early or holds an impossible field.
    #[error("malformed exemplar record: {0}")]
    Malformed(&'static str),
    /// The record's format version is not one this build reads.
    #[error("exemplar record version {0} is not supported")]
    Version(u8),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.len() as u64);
    for l in labels {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Appends the record of `items` of `tenant` to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, tenant: &TenantId, items: &[NewExemplar]) {
    out.push(VERSION);
    put_str(out, tenant.as_str());
    put_uvarint(out, items.len() as u64);
    for item in items {
        put_labels(out, &item.series);
        put_labels(out, &item.exemplar.labels);
        out.extend_from_slice(&item.exemplar.value.to_bits().to_le_bytes());
        put_varint(out, item.exemplar.timestamp);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn uvarint(&mut self) -> Result<u64, RecordError> {
        read_uvarint(self.bytes, &mut self.pos).map_err(|_| RecordError::Malformed("varint"))
    }

    fn str(&mut self) -> Result<&'a str, RecordError> {
        let len = usize::try_from(self.uvarint()?).map_err(|_| RecordError::Malformed("length"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(RecordError::Malformed("string past the end"))?;
        let s = std::str::from_utf8(&self.bytes[self.pos..end])
            .map_err(|_| RecordError::Malformed("string not UTF-8"))?;
        self.pos = end;
        Ok(s)
    }

    fn labels(&mut self) -> Result<Labels, RecordError> {
        let n = self.uvarint()?;
        // Each pair takes two bytes at least: a count beyond the rest is damage.
        if n > (self.bytes.len() - self.pos) as u64 / 2 {
            return Err(RecordError::Malformed("label count"));
        }
        let mut labels = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let name = self.str()?;
            let value = self.str()?;
            labels.push(Label::new(name, value));
        }
        Ok(Labels::from_unsorted(labels))
    }
}

/// Reads one record.
pub(crate) fn decode(bytes: &[u8]) -> Result<(TenantId, Vec<NewExemplar>), RecordError> {
    let (&version, _) = bytes.split_first().ok_or(RecordError::Malformed("empty"))?;
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    let mut r = Reader { bytes, pos: 1 };
    let tenant =
        TenantId::from_storage_key(r.str()?).map_err(|_| RecordError::Malformed("tenant ID"))?;
    let count = r.uvarint()?;
    if count > bytes.len() as u64 {
        return Err(RecordError::Malformed("item count"));
    }
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let series = r.labels()?;
        let labels = r.labels()?;
        let raw = bytes
            .get(r.pos..r.pos + 8)
            .ok_or(RecordError::Malformed("value past the end"))?;
        let value = f64::from_bits(u64::from_le_bytes(raw.try_into().expect("8 bytes")));
        r.pos += 8;
        let timestamp =
            read_varint(bytes, &mut r.pos).map_err(|_| RecordError::Malformed("timestamp"))?;
        items.push(NewExemplar {
            series,
            exemplar: Exemplar {
                labels,
                value,
                timestamp,
            },
        });
    }
    Ok((tenant, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let tenant = TenantId::new("acme").unwrap();
        let items = vec![NewExemplar {
            series: Labels::from_pairs([("__name__", "req_total"), ("job", "a")]),
            exemplar: Exemplar {
                labels: Labels::from_pairs([("trace_id", "abc")]),
                value: -0.0,
                timestamp: -5,
            },
        }];
        let mut out = Vec::new();
        encode(&mut out, &tenant, &items);
        let (t, back) = decode(&out).unwrap();
        assert_eq!(t, tenant);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].series, items[0].series);
        assert_eq!(back[0].exemplar.labels, items[0].exemplar.labels);
        assert_eq!(back[0].exemplar.value.to_bits(), (-0.0f64).to_bits());
        assert_eq!(back[0].exemplar.timestamp, -5);
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        // A data source's storage key reads back as itself.
        let key = tenant.storage_key("prod");
        let mut keyed = Vec::new();
        encode(&mut keyed, &key, &items);
        assert_eq!(decode(&keyed).unwrap().0, key);
        out[0] = 9;
        assert_eq!(decode(&out).unwrap_err(), RecordError::Version(9));
    }
}
