//! `pitot datasource list|create|retention|delete`: a tenant's data sources over the
//! management API, as a table (or the API's JSON).

use crate::out::{outln, Table};
use serde_json::{json, Value};

use crate::cli::DatasourceCommand;
use crate::ops_cli::Target;

fn tenant_query(tenant: &Option<String>) -> Vec<(&'static str, String)> {
    tenant.iter().map(|t| ("tenant", t.clone())).collect()
}

fn print_table(list: &Value) -> anyhow::Result<()> {
    let mut table = Table::new(&["TENANT", "NAME", "TYPE", "ORIGIN", "RETENTION", "DEFAULT"]);
    for d in list.as_array().into_iter().flatten() {
        let text = |key: &str| d[key].as_str().unwrap_or("").to_string();
        table.row(vec![
            text("tenant"),
            text("name"),
            text("type"),
            text("origin"),
            d["retention"].as_str().unwrap_or("server").to_string(),
            if d["default"] == true { "yes" } else { "" }.to_string(),
        ]);
    }
    table.print()
}

/// Runs one `pitot datasource` command.
pub async fn run(t: Target, command: DatasourceCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    const BASE: &str = "/api/pitot/v1/datasources";
    match command {
        DatasourceCommand::List { tenant, json } => {
            let list = t
                .call(Method::GET, BASE, &tenant_query(&tenant), None)
                .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&list)?;
            }
        }
        DatasourceCommand::Create {
            name,
            kind,
            origin,
            retention,
            tenant,
        } => {
            let mut body = json!({"name": name, "type": kind});
            if let Some(o) = origin {
                body["origin"] = json!(o);
            }
            if let Some(r) = retention {
                body["retention"] = json!(r);
            }
            if let Some(t) = &tenant {
                body["tenant"] = json!(t);
            }
            let created = t.call(Method::POST, BASE, &[], Some(&body)).await?;
            print_table(&json!([created]))?;
        }
        DatasourceCommand::Retention {
            name,
            retention,
            tenant,
        } => {
            let updated = t
                .call(
                    Method::PUT,
                    &format!("{BASE}/{name}"),
                    &tenant_query(&tenant),
                    Some(&json!({"retention": retention})),
                )
                .await?;
            print_table(&json!([updated]))?;
        }
        DatasourceCommand::Delete {
            name,
            confirm,
            tenant,
        } => {
            let mut q = tenant_query(&tenant);
            q.push(("confirm", confirm));
            t.call(Method::DELETE, &format!("{BASE}/{name}"), &q, None)
                .await?;
            outln!("data source {name} deleted with all of its data");
        }
    }
    Ok(())
}
