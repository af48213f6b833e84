//! The records the TSDB writes to the WAL.
//!
//! One record per push (or per checkpoint slice) and tenant:
//!
//! ```text
//! u8      kind (1 = samples)
//! str     tenant ID                      (uvarint length + UTF-8)
//! uvarint number of new series
//!   uvarint series ID, uvarint label count, (str name, str value)*
//! uvarint number of samples
//!   uvarint series ID, varint (t - previous t in this record), u64 LE value bits
//! ```
//!
//! A series is logged with its labels once, in the record that created it (or in every
//! checkpoint), and afterwards by ID only. Records of one tenant are appended to the
//! WAL while that tenant's head is locked, so a series record always precedes the
//! samples that refer to it.

use pitot_core::{Label, Labels, Sample, TenantId};

use pitot_core::varint::{put_str, put_uvarint, put_varint, Reader, Truncated};

const KIND_SAMPLES: u8 = 1;

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    /// The tenant the record belongs to.
    pub tenant: TenantId,
    /// Series created, with their IDs.
    pub series: Vec<(u32, Labels)>,
    /// Samples by series ID.
    pub samples: Vec<(u32, Sample)>,
}

/// Builds a record incrementally while a push is applied to the head.
pub struct RecordBuilder {
    series: Vec<u8>,
    series_count: u64,
    samples: Vec<u8>,
    sample_count: u64,
    prev_t: i64,
}

impl RecordBuilder {
    /// An empty record.
    pub fn new() -> Self {
        RecordBuilder {
            series: Vec::new(),
            series_count: 0,
            samples: Vec::new(),
            sample_count: 0,
            prev_t: 0,
        }
    }

    /// Logs a new series.
    pub fn series(&mut self, id: u32, labels: &Labels) {
        self.series_count += 1;
        put_uvarint(&mut self.series, u64::from(id));
        put_uvarint(&mut self.series, labels.len() as u64);
        for label in labels {
            put_str(&mut self.series, &label.name);
            put_str(&mut self.series, &label.value);
        }
    }

    /// Logs a stored sample.
    pub fn sample(&mut self, id: u32, sample: Sample) {
        self.sample_count += 1;
        put_uvarint(&mut self.samples, u64::from(id));
        put_varint(&mut self.samples, sample.t.wrapping_sub(self.prev_t));
        self.prev_t = sample.t;
        self.samples
            .extend_from_slice(&sample.v.to_bits().to_le_bytes());
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.series_count == 0 && self.sample_count == 0
    }

    /// Writes the record for `tenant` into `buf`.
    pub fn encode_into(&self, tenant: &TenantId, buf: &mut Vec<u8>) {
        buf.push(KIND_SAMPLES);
        put_str(buf, tenant.as_str());
        put_uvarint(buf, self.series_count);
        buf.extend_from_slice(&self.series);
        put_uvarint(buf, self.sample_count);
        buf.extend_from_slice(&self.samples);
    }
}

impl Default for RecordBuilder {
    fn default() -> Self {
        RecordBuilder::new()
    }
}

/// Why a WAL record did not decode (the WAL checksum passed, so this means a format bug
/// or a record from a newer version).
#[derive(Debug, thiserror::Error)]
#[error("malformed wal record: {0}")]
pub struct RecordError(String);

impl From<Truncated> for RecordError {
    fn from(_: Truncated) -> Self {
        RecordError("truncated".into())
    }
}

/// Decodes one record.
pub fn decode(buf: &[u8]) -> Result<WalRecord, RecordError> {
    let mut r = Reader::new(buf);
    let kind = r.bytes(1)?[0];
    if kind != KIND_SAMPLES {
        return Err(RecordError(format!("unknown record kind {kind}")));
    }
    let tenant = TenantId::from_storage_key(r.str()?).map_err(|e| RecordError(e.to_string()))?;
    let n_series = r.count()?;
    let mut series = Vec::with_capacity(n_series);
    for _ in 0..n_series {
        let id =
            u32::try_from(r.uvarint()?).map_err(|_| RecordError("series id overflows".into()))?;
        let n_labels = r.count()?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let name = r.str()?;
            let value = r.str()?;
            labels.push(Label::new(name, value));
        }
        series.push((id, Labels::from_unsorted(labels)));
    }
    let n_samples = r.count()?;
    let mut samples = Vec::with_capacity(n_samples);
    let mut prev_t = 0i64;
    for _ in 0..n_samples {
        let id =
            u32::try_from(r.uvarint()?).map_err(|_| RecordError("series id overflows".into()))?;
        let t = prev_t.wrapping_add(r.varint()?);
        prev_t = t;
        let v = f64::from_bits(r.u64_le()?);
        samples.push((id, Sample::new(t, v)));
    }
    if !r.is_empty() {
        return Err(RecordError("trailing bytes".into()));
    }
    Ok(WalRecord {
        tenant,
        series,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_round_trip_bit_exact(
            ts in proptest::collection::vec(any::<i64>(), 0..50),
            vs in proptest::collection::vec(any::<u64>(), 50),
        ) {
            let tenant = TenantId::new("t1").unwrap();
            let labels = Labels::from_pairs([("__name__", "m"), ("a", "b")]);
            let mut b = RecordBuilder::new();
            b.series(7, &labels);
            let samples: Vec<(u32, Sample)> = ts.iter().zip(&vs).map(|(&t, &v)| (7, Sample::new(t, f64::from_bits(v)))).collect();
            for (id, s) in &samples {
                b.sample(*id, *s);
            }
            let mut buf = Vec::new();
            b.encode_into(&tenant, &mut buf);
            let rec = decode(&buf).unwrap();
            prop_assert_eq!(&rec.tenant, &tenant);
            prop_assert_eq!(&rec.series, &vec![(7, labels)]);
            prop_assert_eq!(rec.samples.len(), samples.len());
            for ((_, a), (_, b)) in rec.samples.iter().zip(&samples) {
                prop_assert!(a.bit_eq(b));
            }
            for cut in 0..buf.len() {
                prop_assert!(decode(&buf[..cut]).is_err());
            }
        }
    }
}
