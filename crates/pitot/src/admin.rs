//! `pitot tenant ...` and `pitot token ...`: work on the metadata database directly.

use crate::out::{outln, Table};
use std::path::Path;

use pitot_core::{Scope, TenantId};
use pitot_meta::{MetaStore, NewToken, SqliteMetaStore};

use crate::cli::{TenantCommand, TokenCommand};

fn open(data_dir: &Path) -> anyhow::Result<SqliteMetaStore> {
    crate::bootstrap::prepare_data_dir(data_dir)?;
    Ok(SqliteMetaStore::open(&crate::bootstrap::meta_path(
        data_dir,
    ))?)
}

/// Runs a tenant command.
pub async fn tenant(data_dir: &Path, command: TenantCommand) -> anyhow::Result<()> {
    let meta = open(data_dir)?;
    match command {
        TenantCommand::Create { name } => {
            let id = TenantId::new(name)?;
            meta.create_tenant(&id).await?;
            outln!("created tenant {id}");
        }
        TenantCommand::List => {
            for t in meta.list_tenants().await? {
                outln!("{}", t.id);
            }
        }
    }
    Ok(())
}

/// Runs a token command.
pub async fn token(data_dir: &Path, command: TokenCommand) -> anyhow::Result<()> {
    let meta = open(data_dir)?;
    match command {
        TokenCommand::Create {
            tenant,
            scopes,
            name,
        } => {
            let tenant = TenantId::new(tenant)?;
            let scopes = Scope::parse_list(&scopes)?;
            let created = meta
                .create_token(NewToken {
                    tenant,
                    scopes,
                    name,
                    datasources: None,
                    max_tokens: None,
                })
                .await?;
            eprintln!(
                "token {} created; the secret below is shown only once:",
                created.info.id
            );
            outln!("{}", created.secret);
        }
        TokenCommand::List { tenant } => {
            let tenant = tenant.map(TenantId::new).transpose()?;
            let mut table = Table::new(&["ID", "TENANT", "NAME", "SCOPES"]);
            for t in meta.list_tokens(tenant.as_ref()).await? {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                table.row(vec![
                    t.id.clone(),
                    t.tenant.to_string(),
                    t.name.clone().unwrap_or_else(|| "-".into()),
                    scopes.join(","),
                ]);
            }
            table.print()?;
        }
        TokenCommand::Revoke { id } => {
            if meta.revoke_token(&id).await? {
                outln!("revoked token {id}");
            } else {
                anyhow::bail!("no active token with ID {id:?} (see `pitot token list`)");
            }
        }
    }
    Ok(())
}
