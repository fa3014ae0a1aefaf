//! Per-request observation: a request id (echoed as `X-Request-Id`), a tracing span that
//! every log line of the request carries, and the HTTP metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use uuid::Uuid;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every request; see the module doc.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = Uuid::new_v4();
    let method = req.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!(
        "http",
        %request_id,
        method = %method,
        path = %req.path(),
        status = tracing::field::Empty,
    );
    let mut response = next.call(req).instrument(span.clone()).await?;
    // Label by the route pattern, not the raw path: ids in paths would explode the series.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
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
