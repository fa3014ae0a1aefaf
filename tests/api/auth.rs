//! Accounts: registration, login, token rotation, logout and the login rate limit.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_names_field, error_fields, expect_field_error, expect_json, expect_problem,
    expect_status, spawn_app, string_at, unique_email, TestApp, PASSWORD,
};

/// Checks the shape shared by register, login and refresh answers.
fn assert_token_pair(auth: &Value, email: &str) {
    assert_eq!(auth["user"]["email"], email, "{auth}");
    assert_eq!(auth["user"]["display_name"], "Tester", "{auth}");
    assert!(auth["user"]["id"].is_string(), "{auth}");
    assert!(
        auth["user"]["created_at"].is_i64(),
        "times are epoch ms: {auth}"
    );
    assert!(auth["access_token"].is_string(), "{auth}");
    assert!(auth["refresh_token"].is_string(), "{auth}");
    assert_eq!(auth["token_type"], "Bearer", "{auth}");
    assert_eq!(auth["expires_in"], 900, "{auth}");
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let body = json!({"email": email, "password": password});
    app.post("/v1/auth/login", None, &body).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    let body = json!({"refresh_token": refresh_token});
    app.post("/v1/auth/refresh", None, &body).await
}

#[actix_web::test]
async fn registering_returns_the_user_and_a_working_token_pair() {
    let app = spawn_app().await;
    let email = unique_email();

    let body = json!({"email": email, "password": PASSWORD, "display_name": "Tester"});
    let auth = expect_json(
        app.post("/v1/auth/register", None, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_token_pair(&auth, &email);

    let token = string_at(&auth, "/access_token");
    let me = expect_json(app.get("/v1/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["id"], auth["user"]["id"]);
    assert_eq!(me["email"], email);
    assert_eq!(me["display_name"], "Tester");
    assert!(me["created_at"].is_i64());
}

#[actix_web::test]
async fn the_signed_in_user_needs_a_valid_access_token() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;

    expect_problem(
        app.get("/v1/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let forged = format!("{}x", user.access_token);
    let response = app.get("/v1/me", Some(&forged)).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A refresh token is not an access token.
    let response = app.get("/v1/me", Some(&user.refresh_token)).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn logging_in_returns_fresh_tokens_whatever_the_email_case() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;

    let auth = expect_json(login(&app, &user.email, PASSWORD).await, StatusCode::OK).await;
    assert_token_pair(&auth, &user.email);
    assert_ne!(auth["refresh_token"], user.refresh_token.as_str());
    let token = string_at(&auth, "/access_token");
    expect_json(app.get("/v1/me", Some(&token)).await, StatusCode::OK).await;

    let shouted = user.email.to_uppercase();
    expect_json(login(&app, &shouted, PASSWORD).await, StatusCode::OK).await;
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;

    let wrong_password = login(&app, &user.email, "not the password").await;
    let wrong_password =
        expect_problem(wrong_password, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = login(&app, &unique_email(), PASSWORD).await;
    let unknown = expect_problem(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(wrong_password["detail"], unknown["detail"]);
}

#[actix_web::test]
async fn refreshing_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;

    let auth = expect_json(refresh(&app, &user.refresh_token).await, StatusCode::OK).await;
    assert_token_pair(&auth, &user.email);
    let next = string_at(&auth, "/refresh_token");
    assert_ne!(
        next, user.refresh_token,
        "a refresh hands out a new refresh token"
    );
    let token = string_at(&auth, "/access_token");
    expect_json(app.get("/v1/me", Some(&token)).await, StatusCode::OK).await;

    expect_json(refresh(&app, &next).await, StatusCode::OK).await;
}

#[actix_web::test]
async fn refreshing_with_a_used_token_revokes_the_family() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;
    let first = user.refresh_token.clone();
    let auth = expect_json(refresh(&app, &first).await, StatusCode::OK).await;
    let newest = string_at(&auth, "/refresh_token");

    let replayed = refresh(&app, &first).await;
    expect_problem(replayed, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let newest_after_replay = refresh(&app, &newest).await;
    expect_problem(
        newest_after_replay,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[actix_web::test]
async fn logging_out_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;
    let auth = expect_json(refresh(&app, &user.refresh_token).await, StatusCode::OK).await;
    let current = string_at(&auth, "/refresh_token");

    let body = json!({"refresh_token": current});
    let response = app.post("/v1/auth/logout", None, &body).await;
    expect_status(response, StatusCode::NO_CONTENT).await;

    let after_logout = refresh(&app, &current).await;
    expect_problem(after_logout, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn registering_a_taken_email_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;

    let body = json!({"email": email.to_uppercase(), "password": PASSWORD, "display_name": "Twin"});
    let response = app.post("/v1/auth/register", None, &body).await;
    expect_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[actix_web::test]
async fn invalid_registrations_list_every_failing_field() {
    let app = spawn_app().await;

    let body = json!({"email": "nobody", "password": "short", "display_name": "   "});
    let problem =
        expect_field_error(app.post("/v1/auth/register", None, &body).await, "email").await;
    assert_names_field(&problem, "password");
    assert_names_field(&problem, "display_name");
}

#[actix_web::test]
async fn each_invalid_registration_field_is_named() {
    let app = spawn_app().await;
    let long_local = "a".repeat(243);
    let cases = [
        ("email", json!("no-at-sign.example.com")),
        ("email", json!("two@at@example.com")),
        ("email", json!("@example.com")),
        ("email", json!("someone@")),
        ("email", json!("someone@localhost")),
        ("email", json!(format!("{long_local}@example.com"))),
        ("password", json!("nine char")),
        ("password", json!("p".repeat(257))),
        ("display_name", json!("")),
        ("display_name", json!("   ")),
        ("display_name", json!("d".repeat(81))),
    ];
    for (field, value) in cases {
        let mut body =
            json!({"email": unique_email(), "password": PASSWORD, "display_name": "Tester"});
        body[field] = value.clone();
        let response = app.post("/v1/auth/register", None, &body).await;
        let problem = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            error_fields(&problem).iter().any(|f| f.starts_with(field)),
            "{field} = {value} should be refused with an error about {field}: {problem}"
        );
    }
}

#[actix_web::test]
async fn a_missing_or_mistyped_registration_field_is_named() {
    let app = spawn_app().await;

    let missing = json!({"email": unique_email(), "display_name": "Tester"});
    expect_field_error(
        app.post("/v1/auth/register", None, &missing).await,
        "password",
    )
    .await;

    let mistyped = json!({"email": 42, "password": PASSWORD, "display_name": "Tester"});
    expect_field_error(
        app.post("/v1/auth/register", None, &mistyped).await,
        "email",
    )
    .await;
}

#[actix_web::test]
async fn login_is_refused_after_five_failures_even_with_the_right_password() {
    let app = spawn_app().await;
    let user = app.register(&unique_email()).await;
    let bystander = app.register(&unique_email()).await;

    for attempt in 1..=5 {
        let response = login(&app, &user.email, "not the password").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }

    let response = login(&app, &user.email, PASSWORD).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .expect("Retry-After is ASCII")
        .parse::<u64>()
        .expect("Retry-After is a number of seconds");
    assert!(
        (1..=15 * 60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The limit is per email: other accounts can still sign in.
    expect_json(
        login(&app, &bystander.email, PASSWORD).await,
        StatusCode::OK,
    )
    .await;
}
