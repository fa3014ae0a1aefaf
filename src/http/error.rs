//! The API's one error type, and its single table from error to status and stable `code`.
//! Responses are RFC 9457 problem details; a 500 says nothing of its cause, which is logged
//! (inside the request's span, so with its request id).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::validation::FieldError;

/// Every way an API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is malformed: {0}")]
    Malformed(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the input is invalid")]
    Validation(Vec<FieldError>),
    #[error("the serial or the pairing code is wrong")]
    PairingFailed,
    #[error("too many requests")]
    RateLimited { retry_after_s: u64 },
    /// A cap on open live sessions (per user or per share link) was hit.
    #[error("at most {limit} live sessions per {per} may be open at once")]
    TooManySessions {
        limit: usize,
        per: &'static str,
        retry_after_s: u64,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The problem+json body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// A single-field validation error.
    pub fn field(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: &str) -> Self {
        Self::Conflict {
            code,
            detail: detail.to_owned(),
        }
    }

    /// The table: status, stable code and title of each error.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "Malformed request",
            ),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code, "Conflict"),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            Self::PairingFailed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "pairing_failed",
                "Pairing failed",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Self::TooManySessions { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sessions",
                "Too many live sessions",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            ),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl From<deadpool_redis::PoolError> for ApiError {
    fn from(error: deadpool_redis::PoolError) -> Self {
        Self::Internal(error.into())
    }
}

impl From<deadpool_redis::redis::RedisError> for ApiError {
    fn from(error: deadpool_redis::redis::RedisError) -> Self {
        Self::Internal(error.into())
    }
}

impl From<crate::auth::HashingError> for ApiError {
    fn from(error: crate::auth::HashingError) -> Self {
        Self::Internal(error.into())
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, title) = self.parts();
        let detail = match self {
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "an internal error occurred; quote the X-Request-Id header when reporting it"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("https://pettysync.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            detail,
            code,
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if let Self::RateLimited { retry_after_s } | Self::TooManySessions { retry_after_s, .. } =
            self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        response.json(problem)
    }
}

/// Maps actix's JSON extractor failures onto the API's errors: size → 413, anything else
/// that stops the body being JSON → 400. (Shape errors are `ApiJson`'s.)
pub fn json_error(
    error: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match error {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::Malformed("expected Content-Type: application/json".into()),
        other => ApiError::Malformed(other.to_string()),
    };
    api.into()
}

/// Query-string failures are 422 on the named parameter.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::field("query", &error.to_string()).into()
}

/// Path failures (an id that is not a UUID) are simply not found.
pub fn path_error(
    _error: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::NotFound.into()
}
