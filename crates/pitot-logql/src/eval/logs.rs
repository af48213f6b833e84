//! Log queries: run the pipeline over each selected stream in `[start, end)` and return
//! at most `limit` entries, the oldest (forward) or newest (backward) first, grouped
//! by their final label set.

use std::collections::VecDeque;

use pitot_core::{Label, Labels};
use pitot_storage_api::LogStream;

use super::Counters;
use crate::engine::{Direction, ResultEntry, StreamResult};
use crate::error::LogqlError;
use crate::pipeline::labels::Category;
use crate::pipeline::{Pipeline, PipelineState};

struct Candidate {
    ts: i64,
    labels: Labels,
    entry: ResultEntry,
}

/// What a log query scan needs.
pub struct LogScan<'a> {
    /// The compiled pipeline.
    pub pipeline: &'a Pipeline,
    /// Inclusive start (ns).
    pub start: i64,
    /// Exclusive end (ns).
    pub end: i64,
    /// Maximum entries returned.
    pub limit: usize,
    /// Oldest or newest first.
    pub direction: Direction,
    /// Give up after this instant.
    pub deadline: std::time::Instant,
    /// Raised when the requester is gone.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// For the timeout error.
    pub timeout: std::time::Duration,
    /// Stats.
    pub counters: &'a Counters,
    /// Worker threads.
    pub parallelism: usize,
}

fn scan_streams(scan: &LogScan<'_>, streams: &[&LogStream]) -> Result<Vec<Candidate>, LogqlError> {
    let mut st = PipelineState::default();
    let mut out = Vec::new();
    let mut tick = 0u32;
    for stream in streams {
        scan.counters.add(&scan.counters.streams, 1);
        let mut window: VecDeque<Candidate> = VecDeque::new();
        let (mut lines, mut bytes, mut kept) = (0u64, 0u64, 0u64);
        for entry in stream.entries() {
            if entry.ts < scan.start {
                continue;
            }
            if entry.ts >= scan.end {
                break;
            }
            tick += 1;
            if tick >= 4096 {
                tick = 0;
                pitot_core::yield_point();
                if super::canceled(scan.cancel) {
                    return Err(LogqlError::Canceled);
                }
                if std::time::Instant::now() > scan.deadline {
                    return Err(LogqlError::Timeout(scan.timeout));
                }
            }
            lines += 1;
            bytes += entry.line.len() as u64;
            if !scan.pipeline.process(
                &mut st,
                entry.ts,
                &entry.line,
                &stream.labels,
                &entry.metadata,
                false,
            ) {
                continue;
            }
            kept += 1;
            let (labels, metadata, parsed) = if st.used_labels {
                let mut md = Vec::new();
                st.labels
                    .for_each_in(Category::Metadata, |n, v| md.push(Label::new(n, v)));
                let mut parsed = Vec::new();
                st.labels
                    .for_each_in(Category::Parsed, |n, v| parsed.push(Label::new(n, v)));
                (st.labels.labels(), md, parsed)
            } else {
                (stream.labels.clone(), Vec::new(), Vec::new())
            };
            let cand = Candidate {
                ts: entry.ts,
                labels,
                entry: ResultEntry {
                    ts: entry.ts,
                    line: st.line(&entry.line).to_string(),
                    structured_metadata: metadata,
                    parsed,
                },
            };
            window.push_back(cand);
            if window.len() > scan.limit {
                match scan.direction {
                    Direction::Forward => {
                        window.pop_back();
                        break;
                    }
                    Direction::Backward => {
                        window.pop_front();
                    }
                }
            }
            if scan.direction == Direction::Forward && window.len() == scan.limit {
                break;
            }
        }
        scan.counters.add(&scan.counters.lines, lines);
        scan.counters.add(&scan.counters.bytes, bytes);
        scan.counters.add(&scan.counters.post_filter_lines, kept);
        out.extend(window);
    }
    Ok(out)
}

/// Runs a log query over selected streams.
pub fn eval_logs(
    scan: &LogScan<'_>,
    streams: &[LogStream],
) -> Result<Vec<StreamResult>, LogqlError> {
    if scan.limit == 0 {
        return Ok(Vec::new());
    }
    // Threads beyond the calling one come from the process-wide helper budget, so
    // concurrent queries never oversubscribe the cores.
    let helpers =
        pitot_core::HelperThreads::take(scan.parallelism.max(1).min(streams.len().max(1)) - 1);
    let workers = helpers.count() + 1;
    let mut cands = if workers <= 1 {
        let refs: Vec<&LogStream> = streams.iter().collect();
        scan_streams(scan, &refs)?
    } else {
        let mut groups: Vec<Vec<&LogStream>> = vec![Vec::new(); workers];
        for (i, s) in streams.iter().enumerate() {
            groups[i % workers].push(s);
        }
        let results: Vec<Result<Vec<Candidate>, LogqlError>> = std::thread::scope(|scope| {
            let hs: Vec<_> = groups
                .iter()
                .map(|g| scope.spawn(move || scan_streams(scan, g)))
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogqlError::Execution("query worker panicked".into()))
                    })
                })
                .collect()
        });
        let mut all = Vec::new();
        for r in results {
            all.extend(r?);
        }
        all
    };
    match scan.direction {
        Direction::Forward => {
            cands.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.labels.cmp(&b.labels)))
        }
        Direction::Backward => {
            cands.sort_by(|a, b| b.ts.cmp(&a.ts).then_with(|| a.labels.cmp(&b.labels)))
        }
    }
    cands.truncate(scan.limit);
    let mut groups: Vec<StreamResult> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for c in cands {
        let i = *index.entry(c.labels.clone()).or_insert_with(|| {
            groups.push(StreamResult {
                labels: c.labels.clone(),
                entries: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].entries.push(c.entry);
    }
    groups.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(groups)
}
