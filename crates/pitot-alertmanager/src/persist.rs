//! Durable state files: JSON written atomically (temp file, fsync, rename, fsync directory), so
//! a crash leaves either the old or the new file, never a torn one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::AmError;
use pitot_core::TenantId;

fn io(path: &Path, source: std::io::Error) -> AmError {
    AmError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The per-tenant state directory (`<root>/<tenant>`). Tenant IDs are path-safe by
/// construction except for `.` and `..`, which are encoded so they cannot escape the root.
pub fn tenant_dir(root: &Path, tenant: &TenantId) -> PathBuf {
    let name = match tenant.as_str() {
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        other => other.to_string(),
    };
    root.join(name)
}

/// Writes `value` as JSON to `path`; when this returns, the file is durable.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AmError> {
    let dir = path
        .parent()
        .ok_or_else(|| io(path, std::io::Error::other("no parent directory")))?;
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| io(path, std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Ok(d) = fs::File::open(dir) {
        // Directory fsync makes the rename durable; not every platform allows it.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a JSON state file; a missing file is `None`, a corrupt one an error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, AmError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AmError::CorruptState {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}
