//! Recovery: read the newest checkpoint, then every later segment, and repair a torn tail.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{ReplayError, WalError};
use crate::frame::{Frame, FrameReader};
use crate::segment::{self, FileKind, FILE_HEADER_LEN};
use crate::ReplayStats;

const READ_BUFFER: usize = 1024 * 1024;

/// What replay found, for [`crate::Wal`] to continue from.
pub(crate) struct Recovered {
    pub stats: ReplayStats,
    /// The newest checkpoint left on disk.
    pub checkpoint: Option<u64>,
    /// Segment files left on disk.
    pub segment_files: u64,
}

/// Replays `dir` into `f` and repairs it; see [`crate::Wal::replay`] for the contract.
pub(crate) fn run<E>(
    dir: &Path,
    fsync: bool,
    f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
) -> Result<Recovered, ReplayError<E>> {
    let listing = segment::list(dir)?;
    let mut stats = ReplayStats::default();
    let mut dir_changed = false;

    for temp in &listing.temps {
        tracing::info!(file = %temp.display(), "removing unfinished wal checkpoint");
        segment::remove(temp)?;
        dir_changed = true;
    }

    let checkpoint = listing.checkpoints.last().map(|(index, _)| *index);
    if let Some((index, path)) = listing.checkpoints.last() {
        stats.checkpoint_records = read_checkpoint(path, *index, f)?;
        stats.records = stats.checkpoint_records;
        stats.checkpoint = Some(*index);
    }
    for (_, path) in listing.checkpoints.iter().rev().skip(1) {
        tracing::info!(file = %path.display(), "removing superseded wal checkpoint");
        segment::remove(path)?;
        dir_changed = true;
    }

    let first_kept = checkpoint.unwrap_or(0);
    let mut segments = Vec::new();
    for (index, path) in listing.segments {
        if index < first_kept {
            tracing::info!(segment = %path.display(), "removing wal segment replaced by a checkpoint");
            segment::remove(&path)?;
            dir_changed = true;
        } else {
            segments.push((index, path));
        }
    }

    let mut last_segment = None;
    let mut kept = 0u64;
    let mut remaining = segments.iter();
    for (index, path) in remaining.by_ref() {
        let read = read_segment(path, *index, f)?;
        stats.records += read.records;
        stats.segments_read += 1;
        let Some(damage) = read.damage else {
            last_segment = Some(*index);
            kept += 1;
            continue;
        };
        let cut = read.file_len - damage.offset;
        tracing::warn!(
            segment = %path.display(),
            offset = damage.offset,
            reason = %damage.reason,
            truncated_bytes = cut,
            "torn or corrupt wal tail, truncating"
        );
        stats.truncated_bytes += cut;
        if damage.offset < FILE_HEADER_LEN {
            // Not even a header survived: the file holds nothing and must not stay behind as a
            // headerless segment in front of the ones appends will create next.
            segment::remove(path)?;
            stats.removed_segments += 1;
            dir_changed = true;
        } else {
            truncate(path, damage.offset, fsync)?;
            last_segment = Some(*index);
            kept += 1;
        }
        break;
    }
    // Later segments follow a hole: their records were written after ones that are now lost.
    for (_, path) in remaining {
        let bytes = std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
        tracing::warn!(
            segment = %path.display(),
            bytes,
            "removing wal segment after a corrupt tail"
        );
        segment::remove(path)?;
        stats.truncated_bytes += bytes;
        stats.removed_segments += 1;
        dir_changed = true;
    }

    if dir_changed && fsync {
        segment::sync_dir(dir)?;
    }

    stats.next_segment = match (last_segment, checkpoint) {
        (Some(last), _) => last + 1,
        (None, Some(checkpoint)) => checkpoint.max(1),
        (None, None) => 1,
    };
    tracing::info!(
        dir = %dir.display(),
        records = stats.records,
        segments = stats.segments_read,
        checkpoint = ?stats.checkpoint,
        truncated_bytes = stats.truncated_bytes,
        "wal replayed"
    );
    Ok(Recovered {
        stats,
        checkpoint,
        segment_files: kept,
    })
}

/// Where and why a segment stops being valid.
struct Damage {
    offset: u64,
    reason: String,
}

struct SegmentRead {
    records: u64,
    file_len: u64,
    damage: Option<Damage>,
}

fn read_segment<E>(
    path: &Path,
    index: u64,
    f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
) -> Result<SegmentRead, ReplayError<E>> {
    let (mut reader, file_len) = open_for_read(path, "open segment")?;
    if let Err(reason) = read_header(&mut reader, file_len, FileKind::Segment, index, path)? {
        return Ok(SegmentRead {
            records: 0,
            file_len,
            damage: Some(Damage { offset: 0, reason }),
        });
    }
    let mut frames = FrameReader::new(reader, FILE_HEADER_LEN, file_len);
    let mut records = 0;
    loop {
        let frame = frames
            .next_frame()
            .map_err(WalError::io("read segment", path))?;
        match frame {
            Frame::Record(payload) => {
                f(payload).map_err(ReplayError::Callback)?;
                records += 1;
            }
            Frame::End => {
                return Ok(SegmentRead {
                    records,
                    file_len,
                    damage: None,
                })
            }
            Frame::Invalid(invalid) => {
                return Ok(SegmentRead {
                    records,
                    file_len,
                    damage: Some(Damage {
                        offset: frames.offset(),
                        reason: invalid.to_string(),
                    }),
                })
            }
        }
    }
}

fn read_checkpoint<E>(
    path: &Path,
    index: u64,
    f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, ReplayError<E>> {
    let corrupt = |offset, reason| WalError::CorruptCheckpoint {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let (mut reader, file_len) = open_for_read(path, "open checkpoint")?;
    if let Err(reason) = read_header(&mut reader, file_len, FileKind::Checkpoint, index, path)? {
        return Err(corrupt(0, reason).into());
    }
    let mut frames = FrameReader::new(reader, FILE_HEADER_LEN, file_len);
    let mut records = 0;
    loop {
        let frame = frames
            .next_frame()
            .map_err(WalError::io("read checkpoint", path))?;
        match frame {
            Frame::Record(payload) => {
                f(payload).map_err(ReplayError::Callback)?;
                records += 1;
            }
            Frame::End => return Ok(records),
            Frame::Invalid(invalid) => {
                return Err(corrupt(frames.offset(), invalid.to_string()).into())
            }
        }
    }
}

fn open_for_read(path: &Path, op: &'static str) -> Result<(BufReader<File>, u64), WalError> {
    let file = File::open(path).map_err(WalError::io(op, path))?;
    let len = file.metadata().map_err(WalError::io(op, path))?.len();
    Ok((BufReader::with_capacity(READ_BUFFER, file), len))
}

/// Reads and checks the file header; the inner error describes a bad or short header.
fn read_header(
    reader: &mut impl Read,
    file_len: u64,
    kind: FileKind,
    index: u64,
    path: &Path,
) -> Result<Result<(), String>, WalError> {
    if file_len < FILE_HEADER_LEN {
        return Ok(Err(format!("short file header: {file_len} bytes")));
    }
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    reader
        .read_exact(&mut header)
        .map_err(WalError::io("read header of", path))?;
    Ok(segment::check_file_header(&header, kind, index))
}

fn truncate(path: &Path, len: u64, fsync: bool) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(WalError::io("open for truncation", path))?;
    file.set_len(len)
        .map_err(WalError::io("truncate segment", path))?;
    if fsync {
        file.sync_all()
            .map_err(WalError::io("fsync segment", path))?;
    }
    Ok(())
}
