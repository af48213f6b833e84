//! Lazily encodes the heads as WAL checkpoint records, one stream at a time, so a
//! checkpoint neither blocks pushes for long nor holds the whole head encoded.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use pitot_core::TenantId;

use crate::head::TenantHead;
use crate::wal_record;

/// Iterator of checkpoint records over a list of tenant heads.
pub(crate) struct CheckpointRecords {
    heads: Vec<(TenantId, Arc<Mutex<TenantHead>>)>,
    tenant: usize,
    ids: Option<Vec<u32>>,
    pos: usize,
    queued: VecDeque<Vec<u8>>,
}

impl CheckpointRecords {
    pub(crate) fn new(heads: Vec<(TenantId, Arc<Mutex<TenantHead>>)>) -> Self {
        CheckpointRecords {
            heads,
            tenant: 0,
            ids: None,
            pos: 0,
            queued: VecDeque::new(),
        }
    }
}

impl Iterator for CheckpointRecords {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(record) = self.queued.pop_front() {
                return Some(record);
            }
            let (tenant, head) = self.heads.get(self.tenant)?;
            let ids = self.ids.get_or_insert_with(|| head.lock().ids());
            let Some(&id) = ids.get(self.pos) else {
                self.tenant += 1;
                self.ids = None;
                self.pos = 0;
                continue;
            };
            self.pos += 1;
            // One stream's state under the head lock: everything up to its last_seq.
            let head = head.lock();
            let Some(stream) = head.stream(id) else {
                continue;
            };
            let mut record = Vec::with_capacity(64 + stream.open.lines.len() * 11 / 10);
            wal_record::encode_stream(
                &mut record,
                tenant,
                id,
                &stream.labels,
                stream.last_seq,
                stream.max_ts,
                &stream.open,
            );
            self.queued.push_back(record);
            let chunks = stream.sealed.clone();
            drop(head);
            for chunk in &chunks {
                let mut record = Vec::with_capacity(chunk.bytes.len() + chunk.filter.len() + 64);
                wal_record::encode_chunk(&mut record, tenant, id, chunk);
                self.queued.push_back(record);
            }
        }
    }
}
