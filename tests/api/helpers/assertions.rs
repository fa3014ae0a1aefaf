//! Reading responses and waiting: status and body checks, problem documents, polling with
//! a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Reads a response, checks its status and returns its JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let (actual, _, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Reads a response and checks its status; returns the body text.
pub async fn expect_status(response: Response, status: StatusCode) -> String {
    let (actual, _, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    text
}

/// Checks that a response is a problem document with this status and `code`; returns it.
pub async fn expect_problem(response: Response, status: StatusCode, code: &str) -> Value {
    let (actual, headers, text) = read(response).await;
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type(&headers).starts_with("application/problem+json"),
        "an error is application/problem+json, got {:?}; body: {text}",
        content_type(&headers)
    );
    assert!(
        headers.contains_key("x-request-id"),
        "an error carries X-Request-Id"
    );
    let problem: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("problem is not JSON ({e}): {text}"));
    assert_eq!(problem["code"], code, "unexpected code; body: {text}");
    assert_eq!(problem["status"], status.as_u16(), "body: {text}");
    for member in ["type", "title", "detail"] {
        assert!(
            problem.get(member).is_some(),
            "problem lacks `{member}`: {text}"
        );
    }
    problem
}

/// Checks that a response is a 422 `validation_failed` naming a field that starts with `field`.
pub async fn expect_field_error(response: Response, field: &str) -> Value {
    let problem = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_names_field(&problem, field);
    problem
}

/// Checks that one of the problem's `errors` is about a field starting with `field`.
pub fn assert_names_field(problem: &Value, field: &str) {
    let fields = error_fields(problem);
    assert!(
        fields.iter().any(|named| named.starts_with(field)),
        "expected an error about `{field}`, got fields {fields:?} in {problem}"
    );
}

/// The `field` of every entry of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a validation problem has an `errors` array: {problem}"))
        .iter()
        .map(|error| {
            assert!(
                error["message"].is_string(),
                "each error has a message: {error}"
            );
            error["field"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// The string at a JSON pointer, or a panic that shows the document.
pub fn string_at(document: &Value, pointer: &str) -> String {
    document
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {document}"))
        .to_string()
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Status, headers and body text of a response.
pub async fn read(response: Response) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body can be read");
    (status, headers, text)
}

/// Calls `attempt` until it returns `Ok`, or panics once `timeout` has passed, showing the
/// last reason `attempt` gave for "not yet".
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let not_yet = match attempt().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}; last: {not_yet}"
        );
        // Between attempts only, to not hammer the server; the deadline bounds the wait.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
