//! Per-request observation: a request id (echoed as `X-Request-Id`), a tracing span that
//! every log line of the request carries (method, route pattern, path unless the route holds
//! a credential, status), and the HTTP metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use uuid::Uuid;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Path parameters that are credentials (share tokens): a route with one is logged by its
/// pattern only, so the secret never reaches the logs.
const SECRET_PARAMETERS: &[&str] = &["{token}"];

/// Wraps every request; see the module doc.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = Uuid::new_v4();
    let method = req.method().to_string();
    let started = Instant::now();
    // The route pattern, not the raw path: ids in paths would explode the metric series,
    // and some paths hold a secret.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http",
        %request_id,
        method = %method,
        route = %route,
        path = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if let Some(path) = loggable_path(&route, req.path()) {
        span.record("path", path);
    }
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status();
    span.record("status", status.as_u16());
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// The raw path, when it may be logged: the route has no secret parameter. An unmatched
/// path is not logged either, since it may be a secret route's path with a typo.
fn loggable_path<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let secret = SECRET_PARAMETERS.iter().any(|name| route.contains(name));
    (route != "unmatched" && !secret).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_token_path_is_logged_by_its_pattern_only() {
        assert_eq!(loggable_path("/v1/share/{token}", "/v1/share/s3cr3t"), None);
        assert_eq!(
            loggable_path("/v1/share/{token}/ws", "/v1/share/s3cr3t/ws"),
            None
        );
        assert_eq!(loggable_path("/s/{token}", "/s/s3cr3t"), None);
        assert_eq!(loggable_path("unmatched", "/v1/share/s3cr3t/"), None);
    }

    #[test]
    fn other_paths_are_logged_as_they_are() {
        let path = "/v1/pets/0b6a3c5e-8d7f-4c1a-9e2b-5f4d3c2b1a09";
        assert_eq!(loggable_path("/v1/pets/{id}", path), Some(path));
    }
}
