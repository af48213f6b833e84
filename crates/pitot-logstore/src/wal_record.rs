//! WAL records of the log store: appends, and the checkpoint records that replace them.
//!
//! Layout (integers are varints unless noted, strings are length-prefixed):
//!
//! ```text
//! append      : u8 1, u64 LE seq, tenant,
//!               n, n × (stream id, label count, label count × (name, value)),
//!               n, n × (stream id, entry count, entry count × entry)
//! entry       : zig-zag ts, line, pair count, pair count × (name, value)
//! stream (ckpt): u8 2, tenant, stream id, labels as above, u64 LE last seq,
//!               zig-zag newest ts, entry count, entry count × entry (the open buffer)
//! chunk (ckpt) : u8 3, tenant, stream id, chunk bytes, filter bytes
//! ```
//!
//! Appends carry a sequence number that grows in WAL order. A checkpoint stores, per
//! stream, the sequence of the last append it includes, so replaying the segments after
//! a checkpoint skips what the checkpoint already holds, even though the checkpoint was
//! written while appends went on.

use pitot_core::{Label, Labels, TenantId};
use pitot_storage_api::LogStreamBatch;

use crate::chunk::SealedChunk;
use pitot_core::varint::{put_bytes, put_uvarint, put_varint, Reader, Truncated};

const KIND_APPEND: u8 = 1;
const KIND_STREAM: u8 = 2;
const KIND_CHUNK: u8 = 3;

/// A WAL record does not decode.
#[derive(Debug, thiserror::Error)]
#[error("log wal record is corrupt: {0}")]
pub struct RecordError(pub String);

impl From<Truncated> for RecordError {
    fn from(_: Truncated) -> Self {
        RecordError("truncated or invalid field".into())
    }
}

/// One entry as a record holds it.
#[derive(Debug, PartialEq)]
pub struct EntryRef<'a> {
    /// Timestamp (ns).
    pub ts: i64,
    /// The line.
    pub line: &'a str,
    /// Structured metadata.
    pub metadata: Vec<Label>,
}

/// A decoded record.
#[derive(Debug)]
pub enum Record<'a> {
    /// A push.
    Append {
        /// Position in WAL order.
        seq: u64,
        /// Whose streams.
        tenant: TenantId,
        /// Streams created by the push.
        streams: Vec<(u32, Labels)>,
        /// Accepted entries per stream ID.
        groups: Vec<(u32, Vec<EntryRef<'a>>)>,
    },
    /// A checkpointed stream and its open buffer.
    Stream {
        /// Whose stream.
        tenant: TenantId,
        /// Stream ID.
        id: u32,
        /// Stream labels.
        labels: Labels,
        /// Last append included.
        last_seq: u64,
        /// Newest entry ever accepted.
        max_ts: i64,
        /// The open buffer.
        entries: Vec<EntryRef<'a>>,
    },
    /// A checkpointed sealed chunk.
    Chunk {
        /// Whose stream.
        tenant: TenantId,
        /// Stream ID.
        id: u32,
        /// Encoded chunk.
        chunk: &'a [u8],
        /// Its filter.
        filter: &'a [u8],
    },
}

fn put_labels(buf: &mut Vec<u8>, labels: &[Label]) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

fn put_entry(buf: &mut Vec<u8>, ts: i64, line: &[u8], metadata: &[Label]) {
    put_varint(buf, ts);
    put_bytes(buf, line);
    put_labels(buf, metadata);
}

/// Encodes an append: the streams it created and its accepted entries, straight from
/// the push (`accepted[i][j]` says whether entry `j` of stream batch `i` was stored).
pub fn encode_append(
    buf: &mut Vec<u8>,
    seq: u64,
    tenant: &TenantId,
    created: &[(u32, &Labels)],
    batch: &[LogStreamBatch],
    ids: &[u32],
    accepted: &[Vec<bool>],
) {
    buf.push(KIND_APPEND);
    buf.extend_from_slice(&seq.to_le_bytes());
    put_bytes(buf, tenant.as_str().as_bytes());
    put_uvarint(buf, created.len() as u64);
    for (id, labels) in created {
        put_uvarint(buf, u64::from(*id));
        put_labels(buf, labels.as_slice());
    }
    let groups = accepted.iter().filter(|a| a.contains(&true)).count();
    put_uvarint(buf, groups as u64);
    for ((stream, id), flags) in batch.iter().zip(ids).zip(accepted) {
        let n = flags.iter().filter(|&&a| a).count();
        if n == 0 {
            continue;
        }
        put_uvarint(buf, u64::from(*id));
        put_uvarint(buf, n as u64);
        for (entry, _) in stream.entries.iter().zip(flags).filter(|(_, &a)| a) {
            put_entry(buf, entry.ts, entry.line.as_bytes(), &entry.metadata);
        }
    }
}

/// Encodes a checkpointed stream with its open buffer.
pub fn encode_stream(
    buf: &mut Vec<u8>,
    tenant: &TenantId,
    id: u32,
    labels: &Labels,
    last_seq: u64,
    max_ts: i64,
    open: &crate::chunk::Columns,
) {
    buf.push(KIND_STREAM);
    put_bytes(buf, tenant.as_str().as_bytes());
    put_uvarint(buf, u64::from(id));
    put_labels(buf, labels.as_slice());
    buf.extend_from_slice(&last_seq.to_le_bytes());
    put_varint(buf, max_ts);
    put_uvarint(buf, open.len() as u64);
    for i in 0..open.len() {
        put_entry(buf, open.ts[i], open.line(i), open.metadata_of(i));
    }
}

/// Encodes a checkpointed sealed chunk.
pub fn encode_chunk(buf: &mut Vec<u8>, tenant: &TenantId, id: u32, chunk: &SealedChunk) {
    buf.push(KIND_CHUNK);
    put_bytes(buf, tenant.as_str().as_bytes());
    put_uvarint(buf, u64::from(id));
    put_bytes(buf, &chunk.bytes);
    put_bytes(buf, &chunk.filter);
}

fn tenant(r: &mut Reader<'_>) -> Result<TenantId, RecordError> {
    TenantId::from_storage_key(r.str()?).map_err(|e| RecordError(e.to_string()))
}

fn id(r: &mut Reader<'_>) -> Result<u32, RecordError> {
    u32::try_from(r.uvarint()?).map_err(|_| RecordError("stream id out of range".into()))
}

fn labels(r: &mut Reader<'_>) -> Result<Vec<Label>, RecordError> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?;
        let value = r.str()?;
        out.push(Label::new(name, value));
    }
    Ok(out)
}

fn entries<'a>(r: &mut Reader<'a>) -> Result<Vec<EntryRef<'a>>, RecordError> {
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ts = r.varint()?;
        let line = r.str()?;
        let metadata = labels(r)?;
        out.push(EntryRef { ts, line, metadata });
    }
    Ok(out)
}

/// Decodes a record; never panics on bad input.
pub fn decode(payload: &[u8]) -> Result<Record<'_>, RecordError> {
    let mut r = Reader::new(payload);
    let record = match r.u8()? {
        KIND_APPEND => {
            let seq = r.u64_le()?;
            let tenant = tenant(&mut r)?;
            let n = r.count()?;
            let mut streams = Vec::with_capacity(n);
            for _ in 0..n {
                let id = id(&mut r)?;
                streams.push((id, Labels::from_unsorted(labels(&mut r)?)));
            }
            let n = r.count()?;
            let mut groups = Vec::with_capacity(n);
            for _ in 0..n {
                let id = id(&mut r)?;
                groups.push((id, entries(&mut r)?));
            }
            Record::Append {
                seq,
                tenant,
                streams,
                groups,
            }
        }
        KIND_STREAM => Record::Stream {
            tenant: tenant(&mut r)?,
            id: id(&mut r)?,
            labels: Labels::from_unsorted(labels(&mut r)?),
            last_seq: r.u64_le()?,
            max_ts: r.varint()?,
            entries: entries(&mut r)?,
        },
        KIND_CHUNK => Record::Chunk {
            tenant: tenant(&mut r)?,
            id: id(&mut r)?,
            chunk: r.len_bytes()?,
            filter: r.len_bytes()?,
        },
        kind => return Err(RecordError(format!("unknown record kind {kind}"))),
    };
    if !r.is_empty() {
        return Err(RecordError("trailing bytes".into()));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pitot_storage_api::LogEntry;

    #[test]
    fn append_round_trip_keeps_only_accepted_entries() {
        let tenant = TenantId::new("t1").unwrap();
        let labels = Labels::from_pairs([("app", "a")]);
        let batch = vec![LogStreamBatch {
            labels: labels.clone(),
            entries: vec![
                LogEntry {
                    ts: 1,
                    line: "one".into(),
                    metadata: vec![Label::new("trace", "x")],
                },
                LogEntry {
                    ts: 2,
                    line: "two".into(),
                    metadata: vec![],
                },
            ],
        }];
        let mut buf = Vec::new();
        encode_append(
            &mut buf,
            7,
            &tenant,
            &[(3, &labels)],
            &batch,
            &[3],
            &[vec![true, false]],
        );
        let Record::Append {
            seq,
            tenant: t,
            streams,
            groups,
        } = decode(&buf).unwrap()
        else {
            panic!("wrong kind");
        };
        assert_eq!((seq, t), (7, tenant));
        assert_eq!(streams, vec![(3, labels)]);
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].1,
            vec![EntryRef {
                ts: 1,
                line: "one",
                metadata: vec![Label::new("trace", "x")]
            }]
        );
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_err());
        }
    }
}
