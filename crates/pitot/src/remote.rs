//! How the CLI's commands call a running server's management API: one request, the
//! answer's JSON, and errors that say what the server said (its `error` message, not
//! the raw body) or what to check (the address), never a parser's line and column.

use anyhow::{bail, Context};
use serde_json::Value;

/// Where and as whom (the platform token, or a tenant's token for its own tenant).
pub struct Target {
    /// Base URL.
    pub address: String,
    /// Token.
    pub token: String,
}

impl Target {
    /// Sends one call and returns its JSON (`Null` for an empty answer).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let base = self.address.trim_end_matches('/');
        let mut request = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach the server at {base} (check --address or PITOT_ADDRESS)")
        })?;
        let status = response.status();
        let text = response.text().await?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let said = json
                .as_ref()
                .and_then(|v| v["error"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| text.trim().to_string());
            bail!(
                "the server refused ({}): {}",
                status.as_u16(),
                as_flags(&said, query)
            );
        }
        match json {
            Some(v) => Ok(v),
            None if text.trim().is_empty() => Ok(Value::Null),
            None => bail!(
                "the server at {base} answered {path} with something that is not JSON; is --address a Pitot server?"
            ),
        }
    }

    /// A GET call.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, query, None).await
    }
}

/// The server names a bad query parameter (`invalid parameter "granularity"`); each
/// parameter the CLI sent came from the flag of the same name, so the user reads the
/// flag they typed (`invalid --granularity`).
fn as_flags(message: &str, query: &[(&str, String)]) -> String {
    let mut out = message.to_string();
    for (name, _) in query {
        out = out.replace(&format!("parameter \"{name}\""), &format!("--{name}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn refused_parameters_are_named_as_the_flags_that_set_them() {
        let query = [("granularity", "week".to_string())];
        assert_eq!(
            super::as_flags(
                "invalid parameter \"granularity\": \"week\", use hour, day or month",
                &query
            ),
            "invalid --granularity: \"week\", use hour, day or month"
        );
        assert_eq!(
            super::as_flags("invalid parameter \"query\"", &query),
            "invalid parameter \"query\""
        );
    }
}
