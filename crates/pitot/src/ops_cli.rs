//! `pitot limits|usage|cost`: an operator's view of a tenant on a running server, as
//! human tables (or the API's JSON with `--json`).

use crate::out::outln;
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
        LimitsCommand::Get { tenant, json } => {
            let v = t
                .get(&format!("/api/pitot/v1/tenants/{tenant}/limits"), &[])
                .await?;
            if json {
                return print_json(&v);
            }
            outln!("{:<36} {:>20}  SOURCE", "LIMIT", "VALUE");
            for (k, val) in v["limits"].as_object().into_iter().flatten() {
                let src = match v["sources"][k].as_str() {
                    Some("api") => "api override",
                    Some("runtime_file") => "runtime overrides file",
                    _ => "default",
                };
                outln!("{k:<36} {:>20}  {src}", val.to_string().trim_matches('"'));
            }
        }
        LimitsCommand::Set { tenant, pairs } => {
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
    outln!(
        "START                  SOURCE            SAMPLES     SERIES      LOG BYTES  LOG LINES  QUERIES   REJECTED"
    );
    for r in v["rows"].as_array().into_iter().flatten() {
        let rejected: u64 = r["rejected"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        outln!(
            "{:<22} {:<10} {:>14} {:>10} {:>14} {:>10} {:>8} {:>10}",
            r["start"].as_str().unwrap_or(""),
            r["datasource"].as_str().unwrap_or(""),
            r["samples_ingested"],
            r["series_active_peak"],
            r["log_bytes_ingested"],
            r["log_lines_ingested"],
            r["queries"],
            rejected
        );
    }
    Ok(())
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
    outln!(
        "{:<16} {:>14} {:>14}",
        "DATA SOURCE",
        "TO DATE",
        "PROJECTED"
    );
    for d in v["by_datasource"].as_array().into_iter().flatten() {
        outln!(
            "{:<16} {:>14.4} {:>14.4}",
            d["datasource"].as_str().unwrap_or(""),
            d["to_date"].as_f64().unwrap_or(0.0),
            d["projected_month_end"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
