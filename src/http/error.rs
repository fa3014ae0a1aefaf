//! The API's one error type, and its single table from error to status and stable `code`.
//! Responses are RFC 9457 problem details; a 500 says nothing of its cause, which is logged
//! (inside the request's span, so with its request id).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::IntoResponses;

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
    /// A path the API has, with a method it does not take there; `allow` lists those it does.
    #[error("this path does not take this method; it takes {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the input is invalid")]
    Validation(Vec<FieldError>),
    /// A time range that holds more than a route answers with at once.
    #[error("{detail}")]
    RangeTooLarge { detail: String },
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

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

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
            Self::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
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
            Self::RangeTooLarge { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "range_too_large",
                "Range too large",
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
        response.content_type(PROBLEM_JSON);
        match self {
            Self::RateLimited { retry_after_s } | Self::TooManySessions { retry_after_s, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(problem)
    }
}

/// The documented problem responses, each once under `components.responses`: component name,
/// status, and what it means. Routes refer to them through the sets in [`doc`].
const PROBLEMS: [(&str, &str, &str); 8] = [
    ("Malformed", "400", "`malformed_request`: the body is not JSON, or not sent as `Content-Type: application/json`."),
    ("Unauthorized", "401", "`unauthorized`: no bearer token, or one that is expired, forged or of a deleted account."),
    ("Forbidden", "403", "`forbidden`: the caller sees the resource but their role does not allow this."),
    ("NotFound", "404", "`not_found`: no such resource, or one the caller may not see (an id that is not a UUID is unknown too)."),
    ("PayloadTooLarge", "413", "`payload_too_large`: the body is over 256 KiB."),
    ("ValidationFailed", "422", "`validation_failed`: the body or a query parameter is invalid; `errors` names each field."),
    ("RateLimited", "429", "`rate_limited`: too many attempts; `Retry-After` says when to try again."),
    ("InternalError", "500", "`internal_error`: the server failed. The body says nothing of the cause; quote the `X-Request-Id` response header when reporting it."),
];

/// The problem responses of [`PROBLEMS`], for `components.responses`.
pub fn problem_responses() -> impl Iterator<Item = (String, RefOr<Response>)> {
    PROBLEMS.iter().map(|&(name, status, description)| {
        let problem = Content::new(Some(Ref::from_schema_name("Problem")));
        let mut response = ResponseBuilder::new()
            .description(description)
            .content(PROBLEM_JSON, problem);
        if status == "429" {
            let seconds = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0));
            let retry_after = HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds until an attempt is taken again."));
            response = response.header("Retry-After", retry_after.build());
        }
        (name.to_owned(), RefOr::T(response.build()))
    })
}

/// References to some of [`PROBLEMS`], by status.
fn problem_refs(names: &[&str]) -> BTreeMap<String, RefOr<Response>> {
    names
        .iter()
        .filter_map(|name| PROBLEMS.iter().find(|(known, ..)| known == name))
        .map(|&(name, status, _)| {
            let reference = Ref::new(format!("#/components/responses/{name}"));
            (status.to_owned(), RefOr::Ref(reference))
        })
        .collect()
}

/// The error answers of a route, for its `#[utoipa::path(responses(...))]`: each set adds the
/// problem responses of one way a request can fail, so a route lists the sets that apply
/// (`Authenticated, JsonBody, NotFound`) and, after them, the answers of its own (a 409 with
/// its `code`, a route-specific 422), which win over a set's generic one.
pub mod doc {
    use super::*;

    macro_rules! problem_set {
        ($($(#[$meta:meta])* $name:ident => [$($component:literal),+];)+) => {$(
            $(#[$meta])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    problem_refs(&[$($component),+])
                }
            }
        )+};
    }

    problem_set! {
        /// Any route: 500.
        Public => ["InternalError"];
        /// A route that needs a bearer token: 401, 500.
        Authenticated => ["Unauthorized", "InternalError"];
        /// A route that needs the admin token: 401, and 404 while no admin token is configured.
        Admin => ["Unauthorized", "NotFound", "InternalError"];
        /// A route that reads a JSON body: 400, 413, 422.
        JsonBody => ["Malformed", "PayloadTooLarge", "ValidationFailed"];
        /// A route with query parameters: 422 names the bad one.
        Query => ["ValidationFailed"];
        /// A route whose path names a resource: 404 when it does not exist or is not visible.
        NotFound => ["NotFound"];
        /// A route where the caller's role may be too weak: 403.
        Forbidden => ["Forbidden"];
        /// A rate-limited route: 429 with `Retry-After`.
        RateLimited => ["RateLimited"];
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
