//! Where blocks live in an object store, for both storage engines: one directory per
//! tenant storage key under a root, one directory per block under it
//! (`<root>/<tenant>/<block id>/`, metrics at the bucket root and logs under their
//! reserved prefix), each holding its files. Listing and removing them is the same for
//! metric and log blocks, so it is written once here.

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use pitot_core::TenantId;

/// One block directory found in the store.
#[derive(Debug, Clone)]
pub struct BlockDir {
    /// The tenant storage key of its parent directory.
    pub tenant: TenantId,
    /// The block's ID, the directory's name.
    pub id: String,
    /// The directory itself.
    pub path: Path,
}

/// Every block directory under `root` (the bucket root when `None`), skipping the tenant
/// directories named in `skip` (another engine's prefix at the same level) and warning
/// about directories that are not tenant storage keys.
pub async fn list_block_dirs(
    store: &Arc<dyn ObjectStore>,
    root: Option<&Path>,
    skip: &[&str],
) -> Result<Vec<BlockDir>, object_store::Error> {
    let mut out = Vec::new();
    for tenant_dir in store.list_with_delimiter(root).await?.common_prefixes {
        let Some(name) = tenant_dir.filename() else {
            continue;
        };
        if skip.contains(&name) {
            continue;
        }
        let Ok(tenant) = TenantId::from_storage_key(name) else {
            tracing::warn!(dir = %tenant_dir, "ignoring an object-store directory that is not a tenant ID");
            continue;
        };
        for block_dir in store
            .list_with_delimiter(Some(&tenant_dir))
            .await?
            .common_prefixes
        {
            if let Some(id) = block_dir.filename().map(str::to_string) {
                out.push(BlockDir {
                    tenant: tenant.clone(),
                    id,
                    path: block_dir,
                });
            }
        }
    }
    Ok(out)
}

/// Deletes the files `names` of block directory `dir`, in order, treating missing files
/// as deleted; an engine names its marker file (`meta.json`) first, so a block is gone
/// for readers before its data is.
pub async fn delete_block_files(
    store: &dyn ObjectStore,
    dir: &Path,
    names: &[&str],
) -> Result<(), object_store::Error> {
    for name in names {
        match store.delete(&dir.child(*name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::PutPayload;

    async fn put(store: &Arc<dyn ObjectStore>, path: &str) {
        store
            .put(&Path::from(path), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn lists_blocks_by_tenant_and_removes_their_files() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        put(&store, "team-a/01A/meta.json").await;
        put(&store, "team-a/01B/index").await;
        put(&store, "team-b/01C/meta.json").await;
        put(&store, "logs/team-a/01D/meta.json").await;
        put(&store, "not a tenant!/01E/meta.json").await;

        let mut found: Vec<(String, String)> = list_block_dirs(&store, None, &["logs"])
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.tenant.to_string(), d.id))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [("team-a", "01A"), ("team-a", "01B"), ("team-b", "01C")]
                .map(|(t, b)| (t.to_string(), b.to_string()))
        );
        let logs = list_block_dirs(&store, Some(&Path::from("logs")), &[])
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].path, Path::from("logs/team-a/01D"));

        // Missing files are no error; the named ones are gone.
        let dir = Path::from("team-a/01B");
        delete_block_files(&*store, &dir, &["meta.json", "index", "chunks"])
            .await
            .unwrap();
        assert!(store.head(&dir.child("index")).await.is_err());
        let left = list_block_dirs(&store, None, &["logs"]).await.unwrap();
        assert_eq!(left.len(), 2);
    }
}
