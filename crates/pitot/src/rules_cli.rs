//! `pitot rules sync|list|delete`: manage a tenant's rule groups on a running server
//! through the Mimir configuration API, as `mimirtool rules` does.

use crate::out::{out, outln};
use std::path::PathBuf;

use anyhow::{bail, Context};
use pitot_rules::{ExprLanguage, RuleFile, ValidationOptions};

use crate::cli::RulesCommand;

/// Where and as whom.
pub struct Target {
    /// Base URL of the server.
    pub address: String,
    /// The tenant's token (`rules:write` to change, `rules:read` to list).
    pub token: String,
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?)
}

/// Runs a rules command.
pub async fn run(target: Target, command: RulesCommand) -> anyhow::Result<()> {
    let base = target.address.trim_end_matches('/').to_string();
    let http = client()?;
    match command {
        RulesCommand::Sync { namespace, files } => {
            let mut total = 0;
            for file in &files {
                total += sync_file(&http, &base, &target.token, namespace.as_deref(), file).await?;
            }
            outln!("{total} rule groups uploaded");
        }
        RulesCommand::List => {
            let r = http
                .get(format!("{base}/prometheus/config/v1/rules"))
                .bearer_auth(&target.token)
                .send()
                .await
                .context("cannot reach the server (check --address)")?;
            match r.status().as_u16() {
                200 => out!("{}", r.text().await?),
                404 => outln!("no rule groups"),
                s => bail!("listing rules failed ({s}): {}", r.text().await?),
            }
        }
        RulesCommand::Delete { namespace, group } => {
            let url = match &group {
                Some(g) => format!("{base}/prometheus/config/v1/rules/{namespace}/{g}"),
                None => format!("{base}/prometheus/config/v1/rules/{namespace}"),
            };
            let r = http.delete(url).bearer_auth(&target.token).send().await?;
            if !r.status().is_success() {
                bail!("delete failed ({}): {}", r.status(), r.text().await?);
            }
            outln!("deleted");
        }
    }
    Ok(())
}

/// Checks a rule file locally (every problem reported at once), then uploads each group
/// into the namespace (the file's stem unless given).
async fn sync_file(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    namespace: Option<&str>,
    file: &PathBuf,
) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read rule file {}", file.display()))?;
    let opts = ValidationOptions {
        language: ExprLanguage::PromQL,
        max_groups: 0,
        max_rules_per_group: 0,
    };
    let parsed =
        RuleFile::parse(&text, &opts).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let ns = match namespace {
        Some(n) => n.to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .context("cannot name the namespace after the file; pass --namespace")?,
    };
    for group in &parsed.groups {
        let r = http
            .post(format!("{base}/prometheus/config/v1/rules/{ns}"))
            .bearer_auth(token)
            .header("Content-Type", "application/yaml")
            .body(group.to_yaml())
            .send()
            .await
            .context("cannot reach the server (check --address)")?;
        if !r.status().is_success() {
            bail!(
                "group {:?} of {} refused ({}): {}",
                group.name,
                file.display(),
                r.status(),
                r.text().await?
            );
        }
        outln!("uploaded {ns}/{}", group.name);
    }
    Ok(parsed.groups.len())
}
