//! Writing checkpoints: temp file, fsync, rename, fsync the directory, then delete what it replaces.
//!
//! The rename is the commit point. A crash before it leaves a `.tmp` file that replay removes;
//! a crash after it but before the cleanup leaves old segments and checkpoints that replay
//! ignores (and removes), because replay always starts from the newest checkpoint.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::WalError;
use crate::frame;
use crate::segment::{self, FileKind};

const WRITE_BUFFER: usize = 1024 * 1024;

/// Writes `records` as the checkpoint replacing segments below `index` and renames it into place.
/// Returns the number of records written. On error the temp file is removed (best effort).
pub(crate) fn write(
    dir: &Path,
    index: u64,
    records: &mut dyn Iterator<Item = Vec<u8>>,
    fsync: bool,
) -> Result<u64, WalError> {
    let temp = segment::checkpoint_temp_path(dir, index);
    let result = write_temp(&temp, index, records, fsync);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    let written = result?;
    let path = segment::checkpoint_path(dir, index);
    fs::rename(&temp, &path).map_err(WalError::io("rename checkpoint into", &path))?;
    if fsync {
        segment::sync_dir(dir)?;
    }
    tracing::info!(checkpoint = %path.display(), records = written, "wrote wal checkpoint");
    Ok(written)
}

fn write_temp(
    temp: &Path,
    index: u64,
    records: &mut dyn Iterator<Item = Vec<u8>>,
    fsync: bool,
) -> Result<u64, WalError> {
    let write_failed = |source| WalError::Io {
        op: "write checkpoint",
        path: temp.to_path_buf(),
        source,
    };
    let file = File::create(temp).map_err(WalError::io("create checkpoint", temp))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    out.write_all(&segment::file_header(FileKind::Checkpoint, index))
        .map_err(write_failed)?;
    let mut written = 0u64;
    for record in records {
        frame::check_len(record.len())?;
        out.write_all(&frame::header(&record))
            .map_err(write_failed)?;
        out.write_all(&record).map_err(write_failed)?;
        written += 1;
    }
    out.flush().map_err(write_failed)?;
    if fsync {
        out.get_ref()
            .sync_all()
            .map_err(WalError::io("fsync checkpoint", temp))?;
    }
    Ok(written)
}

/// Removes segments below `index` and checkpoints older than `index`; returns the number of
/// segments removed. Failures are logged and skipped: the checkpoint is already in effect, and
/// replay removes whatever is left over.
pub(crate) fn remove_replaced(dir: &Path, index: u64, fsync: bool) -> u64 {
    let listing = match segment::list(dir) {
        Ok(listing) => listing,
        Err(error) => {
            tracing::warn!(error = %error, "cannot list wal directory after checkpoint");
            return 0;
        }
    };
    let mut removed_segments = 0;
    let old_segments = listing.segments.iter().filter(|(i, _)| *i < index);
    let old_checkpoints = listing.checkpoints.iter().filter(|(i, _)| *i < index);
    for (i, path) in old_segments {
        match segment::remove(path) {
            Ok(()) => removed_segments += 1,
            Err(error) => {
                tracing::warn!(segment = i, error = %error, "cannot remove replaced wal segment")
            }
        }
    }
    for (i, path) in old_checkpoints {
        if let Err(error) = segment::remove(path) {
            tracing::warn!(checkpoint = i, error = %error, "cannot remove superseded wal checkpoint");
        }
    }
    if fsync {
        if let Err(error) = segment::sync_dir(dir) {
            tracing::warn!(error = %error, "cannot fsync wal directory after checkpoint cleanup");
        }
    }
    removed_segments
}
