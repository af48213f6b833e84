use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to a client, in the Prometheus API's JSON shape
/// (`{"status":"error","errorType":...,"error":...}`), which Pitot uses on every JSON API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The Prometheus `errorType` (`bad_data`, `unauthorized`, `internal`, ...).
    pub error_type: &'static str,
    /// The message; names the field or limit at fault.
    pub message: String,
}

impl ApiError {
    /// 400 for input the client must fix.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// 401: no or unknown credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error_type: "unauthorized",
            message: message.into(),
        }
    }

    /// 403: valid credentials without the needed scope.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            error_type: "forbidden",
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error_type: "not_found",
            message: message.into(),
        }
    }

    /// 409: the thing already exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            error_type: "conflict",
            message: message.into(),
        }
    }

    /// 413: body over the limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// 415: a message type or encoding this endpoint does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// 429: the tenant is over a rate limit; `Retry-After` says when to try again.
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error_type: "rate_limited",
            message: format!(
                "{} (retry after {}s)",
                message.into(),
                retry_after.as_secs().max(1)
            ),
        }
    }

    /// 500/503: a server fault; clients may retry.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }

    /// 503: storage cannot promise durability right now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error_type: "unavailable",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self.message, "request failed");
        }
        let mut body = serde_json::Map::new();
        body.insert("status".into(), "error".into());
        body.insert("errorType".into(), self.error_type.into());
        body.insert("error".into(), self.message.clone().into());
        let body = serde_json::Value::Object(body);
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_str(&retry_after_secs(&self.message).to_string())
                    .unwrap_or(axum::http::HeaderValue::from_static("1")),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer realm=\"pitot\", Basic realm=\"pitot\"",
                ),
            );
        }
        response
    }
}

impl From<pitot_meta::MetaError> for ApiError {
    fn from(e: pitot_meta::MetaError) -> Self {
        use pitot_meta::MetaError;
        match e {
            MetaError::AlreadyExists { .. } => ApiError::conflict(e.to_string()),
            MetaError::NotFound { .. } => ApiError::not_found(e.to_string()),
            MetaError::Invalid { .. } | MetaError::LimitReached { .. } => {
                ApiError::bad_data(e.to_string())
            }
            other => ApiError::internal(format!("metadata store: {other}")),
        }
    }
}

impl From<pitot_storage_api::StorageError> for ApiError {
    fn from(e: pitot_storage_api::StorageError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// The seconds of a `(retry after Ns)` suffix written by [`ApiError::rate_limited`].
pub(crate) fn retry_after_secs(message: &str) -> u64 {
    message
        .rsplit_once("(retry after ")
        .and_then(|(_, rest)| rest.strip_suffix("s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}
