//! `pitot rules sync|list|delete`: manage a tenant's rule groups on a running server
//! through the Mimir configuration API, as `mimirtool rules` does.

use crate::out::{out, outln};
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use pitot_rules::{ExprLanguage, RuleFile, ValidationOptions};

use crate::cli::RulesCommand;

/// Where and as whom (the tenant's token: `rules:write` to change, `rules:read` to list).
pub use crate::remote::Target;

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
            sync(&http, &base, &target.token, namespace.as_deref(), &files).await?;
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

/// The namespace Pitot manages itself (the ready-made alerts); `sync` never deletes it.
const MANAGED_NAMESPACE: &str = "pitot-ready-made";

/// Makes the tenant's PromQL rule groups what `files` say, as `mimirtool rules sync`
/// does: every file is checked locally first (nothing is sent if one is wrong); then
/// new and changed groups are uploaded, unchanged ones left alone, and groups on the
/// server that no file has any more are deleted (except Pitot's own ready-made alerts).
async fn sync(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    namespace: Option<&str>,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let mut wanted: BTreeMap<(String, String), (String, PathBuf)> = BTreeMap::new();
    for file in files {
        for (ns, group) in parse_file(namespace, file)? {
            let key = (ns, group.name.clone());
            if let Some((_, other)) = wanted.get(&key) {
                bail!(
                    "group {:?} of namespace {:?} is in both {} and {}",
                    key.1,
                    key.0,
                    other.display(),
                    file.display()
                );
            }
            wanted.insert(key, (group.to_yaml(), file.clone()));
        }
    }
    let existing = server_groups(http, base, token).await?;
    let (mut created, mut changed, mut unchanged, mut deleted) = (0, 0, 0, 0);
    for ((ns, name), (yaml, file)) in &wanted {
        let local: serde_yaml::Value = serde_yaml::from_str(yaml)?;
        match existing.get(&(ns.clone(), name.clone())) {
            Some(remote) if *remote == local => {
                unchanged += 1;
                continue;
            }
            Some(_) => changed += 1,
            None => created += 1,
        }
        let r = http
            .post(format!("{base}/prometheus/config/v1/rules/{ns}"))
            .bearer_auth(token)
            .header("Content-Type", "application/yaml")
            .body(yaml.clone())
            .send()
            .await
            .context("cannot reach the server (check --address)")?;
        if !r.status().is_success() {
            bail!(
                "group {name:?} of {} refused ({}): {}",
                file.display(),
                r.status(),
                r.text().await?
            );
        }
        outln!("uploaded {ns}/{name}");
    }
    for (ns, name) in existing.keys() {
        if ns == MANAGED_NAMESPACE || wanted.contains_key(&(ns.clone(), name.clone())) {
            continue;
        }
        let r = http
            .delete(format!("{base}/prometheus/config/v1/rules/{ns}/{name}"))
            .bearer_auth(token)
            .send()
            .await
            .context("cannot reach the server (check --address)")?;
        if !r.status().is_success() {
            bail!(
                "deleting group {name:?} of namespace {ns:?} failed ({}): {}",
                r.status(),
                r.text().await?
            );
        }
        deleted += 1;
        outln!("deleted {ns}/{name} (in no file any more)");
    }
    outln!(
        "{} rule groups uploaded ({created} new, {changed} changed), {unchanged} unchanged, {deleted} deleted",
        created + changed
    );
    Ok(())
}

/// The tenant's PromQL rule groups on the server, by namespace and name.
async fn server_groups(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<BTreeMap<(String, String), serde_yaml::Value>> {
    let r = http
        .get(format!("{base}/prometheus/config/v1/rules"))
        .bearer_auth(token)
        .send()
        .await
        .context("cannot reach the server (check --address)")?;
    let text = match r.status().as_u16() {
        200 => r.text().await?,
        404 => return Ok(BTreeMap::new()),
        s => bail!(
            "listing the rule groups on the server failed ({s}): {}",
            r.text().await?
        ),
    };
    let by_namespace: BTreeMap<String, Vec<serde_yaml::Value>> = serde_yaml::from_str(&text)
        .context("the server's list of rule groups is not the expected YAML")?;
    let mut out = BTreeMap::new();
    for (ns, groups) in by_namespace {
        for group in groups {
            let name = group["name"].as_str().unwrap_or_default().to_string();
            out.insert((ns.clone(), name), group);
        }
    }
    Ok(out)
}

/// Checks a rule file locally (every problem reported at once); its groups with the
/// namespace each goes to (the file's stem unless given).
fn parse_file(
    namespace: Option<&str>,
    file: &PathBuf,
) -> anyhow::Result<Vec<(String, pitot_rules::RuleGroup)>> {
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
    Ok(parsed.groups.into_iter().map(|g| (ns.clone(), g)).collect())
}
