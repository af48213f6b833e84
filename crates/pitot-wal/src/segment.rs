//! On-disk layout: file names, file headers, directory listing and directory fsync.
//!
//! ```text
//! <dir>/00000000000000000007.seg         segment 7: header + frames
//! <dir>/checkpoint.00000000000000000005  replaces segments < 5: header + frames
//! <dir>/checkpoint.00000000000000000009.tmp   checkpoint being written (removed on replay)
//! ```
//!
//! Every file starts with a 20-byte header: 8 bytes of magic (which also says segment or
//! checkpoint), a `u32` LE format version and the file's `u64` LE index, so a file renamed into
//! the wrong place is caught.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::WalError;

/// Length of the header at the start of every segment and checkpoint file.
pub(crate) const FILE_HEADER_LEN: u64 = 20;

const FORMAT_VERSION: u32 = 1;
const SEGMENT_SUFFIX: &str = ".seg";
const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TEMP_SUFFIX: &str = ".tmp";
const INDEX_DIGITS: usize = 20;

/// The two kinds of files that carry frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment,
    Checkpoint,
}

impl FileKind {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            FileKind::Segment => b"PTWALSEG",
            FileKind::Checkpoint => b"PTWALCKP",
        }
    }
}

/// The header that starts a file of `kind` with index `index`.
pub(crate) fn file_header(kind: FileKind, index: u64) -> [u8; FILE_HEADER_LEN as usize] {
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    header[..8].copy_from_slice(kind.magic());
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..].copy_from_slice(&index.to_le_bytes());
    header
}

/// Checks a file header; the error says what is wrong, for logs.
pub(crate) fn check_file_header(
    header: &[u8; FILE_HEADER_LEN as usize],
    kind: FileKind,
    index: u64,
) -> Result<(), String> {
    if &header[..8] != kind.magic() {
        return Err(format!(
            "bad magic {:?}",
            String::from_utf8_lossy(&header[..8])
        ));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported format version {version}"));
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&header[12..]);
    let stored = u64::from_le_bytes(stored);
    if stored != index {
        return Err(format!(
            "header says index {stored}, file name says {index}"
        ));
    }
    Ok(())
}

/// The path of segment `index`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:0INDEX_DIGITS$}{SEGMENT_SUFFIX}"))
}

/// The path of the checkpoint replacing segments below `index`.
pub(crate) fn checkpoint_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:0INDEX_DIGITS$}"))
}

/// The path a checkpoint is written to before it is renamed into place.
pub(crate) fn checkpoint_temp_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!(
        "{CHECKPOINT_PREFIX}{index:0INDEX_DIGITS$}{TEMP_SUFFIX}"
    ))
}

/// The WAL files found in a directory; unrelated files are ignored.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Segments, sorted by index.
    pub segments: Vec<(u64, PathBuf)>,
    /// Checkpoints, sorted by index.
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// Unfinished checkpoints left by a crash.
    pub temps: Vec<PathBuf>,
}

/// Lists the WAL files in `dir`.
pub(crate) fn list(dir: &Path) -> Result<Listing, WalError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(WalError::io("list directory", dir))?;
    for entry in entries {
        let entry = entry.map_err(WalError::io("list directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if let Some(index) = name.strip_suffix(SEGMENT_SUFFIX).and_then(parse_index) {
            listing.segments.push((index, path));
        } else if let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if let Some(index) = parse_index(rest) {
                listing.checkpoints.push((index, path));
            } else if rest
                .strip_suffix(TEMP_SUFFIX)
                .and_then(parse_index)
                .is_some()
            {
                listing.temps.push(path);
            }
        }
    }
    listing.segments.sort();
    listing.checkpoints.sort();
    Ok(listing)
}

fn parse_index(digits: &str) -> Option<u64> {
    if digits.len() != INDEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates segment `index` with its header. With `fsync`, the file and then the directory are
/// fsynced, so the segment survives a crash before any record is written to it.
pub(crate) fn create_segment(dir: &Path, index: u64, fsync: bool) -> Result<File, WalError> {
    let path = segment_path(dir, index);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(WalError::io("create segment", &path))?;
    file.write_all(&file_header(FileKind::Segment, index))
        .map_err(WalError::io("write segment header", &path))?;
    if fsync {
        file.sync_all()
            .map_err(WalError::io("fsync segment", &path))?;
        sync_dir(dir)?;
    }
    tracing::debug!(segment = %path.display(), "created wal segment");
    Ok(file)
}

/// Fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(WalError::io("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes one file.
pub(crate) fn remove(path: &Path) -> Result<(), WalError> {
    fs::remove_file(path).map_err(WalError::io("remove", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_index_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        for index in [10, 2, 1] {
            fs::write(segment_path(dir.path(), index), b"").unwrap();
        }
        fs::write(checkpoint_path(dir.path(), 3), b"").unwrap();
        fs::write(checkpoint_temp_path(dir.path(), 4), b"").unwrap();
        fs::write(dir.path().join("notes.txt"), b"").unwrap();
        fs::write(dir.path().join("12.seg"), b"").unwrap();
        let listing = list(dir.path()).unwrap();
        let segments: Vec<u64> = listing.segments.iter().map(|(index, _)| *index).collect();
        assert_eq!(segments, vec![1, 2, 10]);
        assert_eq!(listing.checkpoints.len(), 1);
        assert_eq!(listing.checkpoints[0].0, 3);
        assert_eq!(listing.temps, vec![checkpoint_temp_path(dir.path(), 4)]);
        assert_eq!(
            segment_path(dir.path(), 1).file_name().unwrap(),
            "00000000000000000001.seg"
        );
    }

    #[test]
    fn header_checks_kind_version_and_index() {
        let header = file_header(FileKind::Segment, 42);
        assert!(check_file_header(&header, FileKind::Segment, 42).is_ok());
        assert!(check_file_header(&header, FileKind::Checkpoint, 42).is_err());
        assert!(check_file_header(&header, FileKind::Segment, 43).is_err());
        let mut bumped = header;
        bumped[8] = 9;
        assert!(check_file_header(&bumped, FileKind::Segment, 42).is_err());
    }
}
