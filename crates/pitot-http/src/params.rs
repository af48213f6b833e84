//! Query-string and form parameters, with repeated keys (`match[]`) kept.

use axum::http::{HeaderMap, Method};

use crate::ApiError;

/// All parameters of a request: the query string, plus the body when it is a
/// form-encoded POST (as the Prometheus API allows).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Collects parameters from the query string and a form body.
    pub fn collect(
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut pairs: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if method == Method::POST && !body.is_empty() {
            let content_type = headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !content_type.starts_with("application/x-www-form-urlencoded") {
                return Err(ApiError::bad_data(format!(
                    "POST body must be application/x-www-form-urlencoded, got {content_type:?}"
                )));
            }
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Ok(Params(pairs))
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A timestamp parameter in milliseconds: Unix seconds (fractions allowed) or RFC 3339.
    pub fn time_ms(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(raw) => parse_time_ms(raw).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter {key:?}: cannot parse {raw:?} to a valid timestamp (use Unix seconds or RFC 3339)"
                ))
            }),
        }
    }
}

/// Parses Unix seconds (float) or RFC 3339 into milliseconds.
pub fn parse_time_ms(raw: &str) -> Option<i64> {
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() {
            return None;
        }
        let ms = (secs * 1000.0).round();
        if ms.abs() > 9.2e18 {
            return None;
        }
        return Some(ms as i64);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time_ms("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(
            parse_time_ms("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time_ms("yesterday"), None);
        assert_eq!(parse_time_ms("NaN"), None);
        assert_eq!(parse_time_ms("1e300"), None);
    }
}
