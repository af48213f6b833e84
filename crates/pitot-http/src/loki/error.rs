use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// An error on a Loki endpoint: the status and a plain-text message naming the field,
/// rule or limit at fault, as Loki answers.
#[derive(Debug)]
pub struct LokiError(pub ApiError);

impl LokiError {
    /// 400 for input the client must fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        LokiError(ApiError::bad_data(message))
    }
}

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        LokiError(e)
    }
}

impl From<pitot_storage_api::StorageError> for LokiError {
    /// An exceeded limit is a 400, as Loki answers its query limits.
    fn from(e: pitot_storage_api::StorageError) -> Self {
        match e {
            pitot_storage_api::StorageError::LimitExceeded(message) => {
                LokiError::bad_request(message)
            }
            other => LokiError(ApiError::from(other)),
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let e = self.0;
        if e.status.is_server_error() {
            tracing::warn!(status = e.status.as_u16(), error = %e.message, "loki request failed");
        }
        let mut response = (e.status, format!("{}\n", e.message)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if e.status == StatusCode::TOO_MANY_REQUESTS {
            let secs = crate::error::retry_after_secs(&e.message);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if e.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pitot\", Basic realm=\"pitot\""),
            );
        }
        response
    }
}
