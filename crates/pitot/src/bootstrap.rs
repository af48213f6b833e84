//! First-start set-up: the default tenant, its initial token, and the platform token.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pitot_core::{Scope, TenantId};
use pitot_meta::{MetaStore, NewToken};

/// The metadata database of a data directory.
pub fn meta_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pitot.db")
}

/// Shortest platform token accepted, from a file or the configuration.
const MIN_PLATFORM_TOKEN_LEN: usize = 16;

/// Files of the data directory that hold secrets or every tenant's configuration
/// (SMTP passwords, webhook tokens): readable by the owner only.
const PRIVATE_FILES: [&str; 5] = [
    "pitot.db",
    "pitot.db-wal",
    "pitot.db-shm",
    "initial-token",
    "platform-token",
];

/// Makes the data directory private before anything is written to it: every file and
/// directory the process creates from here on is the owner's only (umask 077), the
/// directory itself is created 0700, and a directory or secret file left readable to
/// others by an earlier version is tightened, with a warning saying so.
pub fn prepare_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use nix::sys::stat::{umask, Mode};
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        umask(Mode::from_bits_truncate(0o077));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let mut paths = vec![data_dir.to_path_buf()];
        paths.extend(PRIVATE_FILES.iter().map(|f| data_dir.join(f)));
        for path in paths {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let private = mode & 0o700;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private))
                    .with_context(|| {
                        format!(
                            "{} is readable by other users (mode {mode:o}) and cannot be made private: run chmod go-rwx on it",
                            path.display()
                        )
                    })?;
                tracing::warn!(
                    path = %path.display(),
                    from = format!("{mode:o}"),
                    to = format!("{private:o}"),
                    "made private: it was readable by other users"
                );
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    Ok(())
}

/// The lock file of a data directory: held by the serving process for its lifetime.
const LOCK_FILE: &str = "pitot.lock";

/// The serving process's hold on its data directory, released when dropped or when the
/// process dies (the kernel drops the lock with the last open descriptor).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes the data directory for this process alone: two servers writing WAL segments,
/// blocks and the metadata database side by side would corrupt them. Another live
/// process holding it is an error naming the directory and what to do; a lock left by a
/// process that died is no obstacle, since the kernel released it with the process.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            anyhow::bail!(
                "data directory {} is in use by another pitot process{}; stop it first, or give this one its own directory with --data-dir",
                data_dir.display(),
                if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // The holder's pid, for the message above; the lock, not this text, is what counts.
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(DataDirLock { _file: file })
}

/// Writes a secret to a file only the owner can read, atomically: the secret goes to a
/// temporary file that is synced and then renamed into place, so a crash leaves either
/// no file or the whole secret, never an empty file.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    }
    Ok(())
}

/// Checks a platform token read from a file or the configuration: long enough to be a
/// secret and free of whitespace and control characters (which no client can send).
fn check_platform_token(token: &str, source: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        token.len() >= MIN_PLATFORM_TOKEN_LEN,
        "the platform token from {source} is {} characters long; it must be at least {MIN_PLATFORM_TOKEN_LEN}. \
         Delete the file to have a new one generated, or write a longer random token into it",
        token.len()
    );
    anyhow::ensure!(
        token.bytes().all(|b| b.is_ascii_graphic()),
        "the platform token from {source} has whitespace or control characters; \
         write a token of printable ASCII characters only, or delete the file to have one generated"
    );
    Ok(())
}

/// With no tenant yet, creates tenant `default` with an all-scopes token, prints it
/// once and writes it to `<data_dir>/initial-token`.
pub async fn initial_tenant(meta: &dyn MetaStore, data_dir: &Path) -> anyhow::Result<()> {
    if !meta.list_tenants().await?.is_empty() {
        return Ok(());
    }
    let tenant = TenantId::new("default").expect("valid tenant ID");
    meta.create_tenant(&tenant).await?;
    let created = meta
        .create_token(NewToken {
            tenant,
            scopes: Scope::ALL.to_vec(),
            name: Some("initial".into()),
            datasources: None,
            max_tokens: None,
        })
        .await?;
    let path = data_dir.join("initial-token");
    write_secret(&path, &created.secret)?;
    // The secret itself never goes to the log: stderr is often collected by journald,
    // container runtimes and log shippers that other people read.
    eprintln!(
        "\nCreated tenant \"default\" with an all-scopes token, saved (owner-only) in {}:\n\n    TOKEN=$(cat {})\n",
        path.display(),
        path.display()
    );
    Ok(())
}

/// The platform token: from the config, else from `<data_dir>/platform-token`,
/// generated there on first start.
pub fn platform_token(configured: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(token) = configured {
        check_platform_token(&token, "the configuration (platform_token)")?;
        return Ok(token);
    }
    let path = data_dir.join("platform-token");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim().to_string();
            check_platform_token(&token, &path.display().to_string())?;
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = pitot_meta::random_secret();
            write_secret(&path, &token)?;
            eprintln!(
                "Generated the platform token (operator credential) in {}",
                path.display()
            );
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_in_use_is_refused_until_its_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_data_dir(dir.path()).unwrap();
        let err = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another pitot process"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("--data-dir"), "{err}");
        drop(held);
        // A lock file left behind (the holder died) is no obstacle.
        assert!(dir.path().join(LOCK_FILE).exists());
        lock_data_dir(dir.path()).unwrap();
    }

    #[test]
    fn an_empty_or_short_platform_token_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform-token");
        for bad in ["", "\n", "short", "has space in the middle ok"] {
            std::fs::write(&path, bad).unwrap();
            let err = platform_token(None, dir.path()).unwrap_err().to_string();
            assert!(err.contains("platform token"), "{bad:?}: {err}");
        }
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        assert_eq!(
            platform_token(None, dir.path()).unwrap(),
            "0123456789abcdef0123"
        );
    }

    #[test]
    fn a_generated_platform_token_is_private_and_valid() {
        let dir = tempfile::tempdir().unwrap();
        let token = platform_token(None, dir.path()).unwrap();
        assert!(token.len() >= MIN_PLATFORM_TOKEN_LEN);
        assert_eq!(platform_token(None, dir.path()).unwrap(), token);
        assert!(!dir.path().join("platform-token.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("platform-token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn prepare_data_dir_makes_the_directory_and_secrets_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("pitot.db"), b"x").unwrap();
        std::fs::set_permissions(
            data.join("pitot.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        prepare_data_dir(&data).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("pitot.db")), 0o600);
    }
}
