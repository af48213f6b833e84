//! `pitot limits|usage|cost`: an operator's view of a tenant on a running server, as
//! human tables (or the API's JSON with `--json`).

use crate::out::{outln, Table};
use anyhow::Context;
use serde_json::Value;

use crate::cli::{CostArgs, LimitsCommand, UsageArgs};

pub use crate::remote::Target;

fn print_json(v: &Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `pitot limits get|set`.
pub async fn limits(t: Target, command: LimitsCommand) -> anyhow::Result<()> {
    match command {
        LimitsCommand::Get {
            tenant,
            positional_tenant,
            json,
        } => {
            let tenant = tenant.or(positional_tenant).context(
                "name the tenant with --tenant, such as `pitot limits get --tenant team-b`",
            )?;
            let v = t
                .get(&format!("/api/pitot/v1/tenants/{tenant}/limits"), &[])
                .await?;
            if json {
                return print_json(&v);
            }
            let mut table = Table::new(&["LIMIT", "VALUE", "SOURCE"]);
            for (k, val) in v["limits"].as_object().into_iter().flatten() {
                let src = match v["sources"][k].as_str() {
                    Some("api") => "api override",
                    Some("runtime_file") => "runtime overrides file",
                    _ => "default",
                };
                table.row(vec![
                    k.clone(),
                    val.to_string().trim_matches('"').to_string(),
                    src.to_string(),
                ]);
            }
            table.print()?;
        }
        LimitsCommand::Set { tenant, mut pairs } => {
            let tenant = match tenant {
                Some(tenant) => tenant,
                None if pairs.len() > 1 && !pairs[0].contains('=') => pairs.remove(0),
                None => anyhow::bail!(
                    "name the tenant with --tenant, such as `pitot limits set --tenant team-b ingestion_rate=50000`"
                ),
            };
            let mut body = serde_json::Map::new();
            for p in &pairs {
                let (k, v) = p
                    .split_once('=')
                    .with_context(|| format!("{p:?}: use name=value"))?;
                let value =
                    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
                body.insert(k.to_string(), value);
            }
            t.call(
                reqwest::Method::PUT,
                &format!("/api/pitot/v1/tenants/{tenant}/limits"),
                &[],
                Some(&Value::Object(body)),
            )
            .await
            .context("setting limits failed")?;
            outln!("limits of {tenant} updated");
        }
    }
    Ok(())
}

/// `pitot usage`.
pub async fn usage(t: Target, args: UsageArgs) -> anyhow::Result<()> {
    let mut q = vec![("granularity", args.granularity.clone())];
    if let Some(tenant) = &args.tenant {
        q.push(("tenant", tenant.clone()));
    }
    if let Some(from) = &args.from {
        q.push(("from", from.clone()));
    }
    let v = t.get("/api/pitot/v1/usage", &q).await?;
    if args.json {
        return print_json(&v);
    }
    let mut table = Table::new(&[
        "START",
        "DATA SOURCE",
        "SAMPLES",
        "SERIES",
        "LOG BYTES",
        "LOG LINES",
        "QUERIES",
        "REJECTED",
    ]);
    let number = |v: &Value| v.as_u64().unwrap_or(0).to_string();
    for r in v["rows"].as_array().into_iter().flatten() {
        let rejected: u64 = r["rejected"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        table.row(vec![
            r["start"].as_str().unwrap_or("").to_string(),
            r["datasource"].as_str().unwrap_or("").to_string(),
            number(&r["samples_ingested"]),
            number(&r["series_active_peak"]),
            number(&r["log_bytes_ingested"]),
            number(&r["log_lines_ingested"]),
            number(&r["queries"]),
            rejected.to_string(),
        ]);
    }
    table.print()
}

/// `pitot cost`.
pub async fn cost(t: Target, args: CostArgs) -> anyhow::Result<()> {
    let mut q = Vec::new();
    if let Some(tenant) = &args.tenant {
        q.push(("tenant", tenant.clone()));
    }
    if let Some(month) = &args.month {
        q.push(("month", month.clone()));
    }
    let v = t.get("/api/pitot/v1/cost", &q).await?;
    if args.json {
        return print_json(&v);
    }
    let cur = v["currency"].as_str().unwrap_or("");
    outln!(
        "month {}: {:.4} {cur} to date, {:.4} {cur} projected at month end",
        v["month"].as_str().unwrap_or(""),
        v["to_date"].as_f64().unwrap_or(0.0),
        v["projected_month_end"].as_f64().unwrap_or(0.0)
    );
    let mut table = Table::new(&["DATA SOURCE", "TO DATE", "PROJECTED"]);
    for d in v["by_datasource"].as_array().into_iter().flatten() {
        table.row(vec![
            d["datasource"].as_str().unwrap_or("").to_string(),
            format!("{:.4}", d["to_date"].as_f64().unwrap_or(0.0)),
            format!("{:.4}", d["projected_month_end"].as_f64().unwrap_or(0.0)),
        ]);
    }
    table.print()
}
