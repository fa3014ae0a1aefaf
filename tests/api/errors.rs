//! How the API answers requests it cannot take: size, syntax and the problem format, and
//! what fuzzing the OpenAPI document found (scripts/schemathesis.sh).

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

#[actix_web::test]
async fn a_cursor_outside_the_times_rows_can_have_is_a_422_not_a_500() {
    use base64::Engine;
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = crate::helpers::string_at(&app.create_pet(&owner, "Rex").await, "/id");

    // Year -251 000: a valid time for the server's date library, not for PostgreSQL.
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("-8000000000000000000:{}", uuid::Uuid::new_v4()));
    for list in ["/v1/pets", &format!("/v1/pets/{pet_id}/geofences")] {
        let response = app
            .get(&format!("{list}?cursor={cursor}"), owner.bearer())
            .await;
        crate::helpers::expect_field_error(response, "cursor").await;
    }
}

#[actix_web::test]
async fn a_string_with_a_null_character_is_a_422_not_a_500() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let response = app
        .post(
            "/v1/pets",
            owner.bearer(),
            &json!({"name": "Re\u{0}x", "species": "dog"}),
        )
        .await;
    crate::helpers::expect_field_error(response, "name").await;
    let body = json!({"email": "a\u{0}@b.co", "password": "whatever-it-is"});
    let response = app.post("/v1/auth/login", None, &body).await;
    crate::helpers::expect_field_error(response, "email").await;
}

#[actix_web::test]
async fn a_body_that_is_not_an_object_is_a_422() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = crate::helpers::string_at(&app.create_pet(&owner, "Rex").await, "/id");

    // serde would read the pet's patch from an array, as its fields in order.
    let response = app
        .patch(
            &format!("/v1/pets/{pet_id}"),
            owner.bearer(),
            &json!([null, null]),
        )
        .await;
    crate::helpers::expect_field_error(response, "body").await;
}

#[actix_web::test]
async fn an_integral_number_written_with_a_fraction_is_an_integer() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let body = json!({"name": "Rex", "species": "dog", "hr_min": 60.0, "hr_max": 140.0});
    let pet = crate::helpers::expect_json(
        app.post("/v1/pets", owner.bearer(), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(pet["hr_min"], 60, "{pet}");
}

#[actix_web::test]
async fn a_track_outside_1970_to_9999_is_a_422_not_a_500() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = crate::helpers::string_at(&app.create_pet(&owner, "Rex").await, "/id");

    for (query, field) in [
        (format!("to={}", i64::MIN), "to"),
        (format!("from={}", i64::MIN), "from"),
        ("to=253402300800000".to_owned(), "to"),
    ] {
        let response = app
            .get(&format!("/v1/pets/{pet_id}/track?{query}"), owner.bearer())
            .await;
        crate::helpers::expect_field_error(response, field).await;
    }
}

#[actix_web::test]
async fn a_path_of_the_api_with_another_method_is_a_405_that_says_which_it_takes() {
    let app = spawn_app().await;
    let pet = format!("/v1/pets/{}", uuid::Uuid::new_v4());

    for (method, path, allow) in [
        (reqwest::Method::PUT, pet.as_str(), "GET, PATCH, DELETE"),
        (reqwest::Method::DELETE, "/v1/me", "GET"),
        (reqwest::Method::GET, "/v1/auth/login", "POST"),
    ] {
        let response = app.request(method.clone(), path, None, None).await;
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        expect_problem(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
    let response = app
        .request(reqwest::Method::PUT, "/v1/nothing", None, None)
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}
