//! How the API answers requests it cannot take: size, syntax and the problem format.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_problem, spawn_app};

#[actix_web::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    // Just over 2 MiB: more than any JSON body the API takes.
    let name = "a".repeat(2 * 1024 * 1024 + 1024);
    let body = serde_json::to_vec(&json!({"name": name, "species": "dog"})).expect("JSON");

    let response = app.post_raw("/v1/pets", owner.bearer(), body).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let truncated = br#"{"name": "Rex", "species": "#.to_vec();
    let response = app.post_raw("/v1/pets", owner.bearer(), truncated).await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;

    let response = app
        .post_raw("/v1/auth/login", None, b"not json".to_vec())
        .await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[actix_web::test]
async fn an_unknown_pet_is_a_404_problem_with_a_request_id() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let path = format!("/v1/pets/{}", uuid::Uuid::new_v4());
    let response = app.get(&path, owner.bearer()).await;
    let request_id = response.headers().get("x-request-id").cloned();
    let problem = expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        request_id.is_some_and(|id| !id.is_empty()),
        "errors carry a request id: {problem}"
    );
}
