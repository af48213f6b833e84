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

/// Writes a secret to a file only the owner can read.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
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
        })
        .await?;
    let path = data_dir.join("initial-token");
    write_secret(&path, &created.secret)?;
    eprintln!(
        "\nCreated tenant \"default\" with an all-scopes token (also saved in {}):\n\n    {}\n",
        path.display(),
        created.secret
    );
    Ok(())
}

/// The platform token: from the config, else from `<data_dir>/platform-token`,
/// generated there on first start.
pub fn platform_token(configured: Option<String>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(token) = configured {
        anyhow::ensure!(
            token.len() >= 16,
            "platform_token must be at least 16 characters"
        );
        return Ok(token);
    }
    let path = data_dir.join("platform-token");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
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
