//! A signed-in session lives as long as its credentials: its access token (extended by
//! `auth`), and its sign-in (ended by logout). Tokens here live 3 s.

use std::cell::RefCell;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{token_claims, user_socket};
use crate::collar::{ticket_url, SETTLE};
use crate::helpers::{expect_json, expect_status, poll_until, spawn_app_with, string_at, PASSWORD};
use crate::helpers::{TestApp, TestUser};
use crate::share::{ShareSocket, CLOSE_REVOKED};

/// Access-token lifetime of these tests, in seconds.
const TOKEN_TTL_S: u64 = 3;
/// Long enough for a 3 s token to run out, with room for a slow machine.
const PAST_EXPIRY: Duration = Duration::from_secs(6);

async fn short_lived_tokens() -> TestApp {
    spawn_app_with(|settings| settings.access_token_ttl_s = TOKEN_TTL_S).await
}

/// A fresh access token through `/v1/auth/refresh`, once one expires later than `after`
/// (epoch s): tokens carry whole seconds, so one issued in the same second extends nothing.
async fn token_expiring_after(app: &TestApp, user: &mut TestUser, after: i64) -> String {
    let refresh = RefCell::new(user.refresh_token.clone());
    let fresh = poll_until("a token that outlives the first", PAST_EXPIRY, || {
        let body = json!({"refresh_token": *refresh.borrow()});
        let refresh = &refresh;
        async move {
            let response = app.post("/v1/auth/refresh", None, &body).await;
            let pair = expect_json(response, StatusCode::OK).await;
            *refresh.borrow_mut() = string_at(&pair, "/refresh_token");
            let token = string_at(&pair, "/access_token");
            match token_claims(&token)["exp"].as_i64() {
                Some(exp) if exp > after => Ok(token),
                exp => Err(format!("a token expiring at {exp:?}")),
            }
        }
    })
    .await;
    user.refresh_token = refresh.into_inner();
    fresh
}

#[actix_web::test]
async fn a_session_ends_with_its_token_unless_auth_extends_it() {
    let app = short_lived_tokens().await;
    let mut user = app.register_someone().await;
    let first_expiry = token_claims(&user.access_token)["exp"].as_i64().unwrap();
    let mut left_alone = user_socket(&app, &user.access_token).await;
    let mut extended = user_socket(&app, &user.access_token).await;
    assert_eq!(extended.hello["expires_at"], first_expiry * 1000);

    let fresh = token_expiring_after(&app, &mut user, first_expiry).await;
    extended
        .send_json(&json!({"type": "auth", "access_token": fresh}))
        .await;
    let hello = extended.next_of_type("hello", SETTLE).await;
    let new_expiry = token_claims(&fresh)["exp"].as_i64().unwrap();
    assert_eq!(hello["expires_at"], new_expiry * 1000, "{hello}");
    assert_eq!(hello["session_id"], extended.hello["session_id"]);

    let (frames, code) = left_alone.until_closed(PAST_EXPIRY).await;
    assert!(frames.contains(&json!({"type": "revoked"})), "{frames:?}");
    assert_eq!(code, Some(CLOSE_REVOKED));
    extended.assert_answers_ping().await;
    let (frames, code) = extended.until_closed(PAST_EXPIRY).await;
    assert!(frames.contains(&json!({"type": "revoked"})), "{frames:?}");
    assert_eq!(code, Some(CLOSE_REVOKED));
}

#[actix_web::test]
async fn auth_with_another_users_token_is_refused_and_changes_nothing() {
    let app = short_lived_tokens().await;
    let user = app.register_someone().await;
    let other = app.register_someone().await;
    let mut socket = user_socket(&app, &user.access_token).await;

    socket
        .send_json(&json!({"type": "auth", "access_token": other.access_token}))
        .await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "wrong_user", "{error}");
    socket
        .send_json(&json!({"type": "auth", "access_token": "forged"}))
        .await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "unauthorized", "{error}");
    let (_, code) = socket.until_closed(PAST_EXPIRY).await;
    assert_eq!(code, Some(CLOSE_REVOKED), "the first token's expiry stands");
}

#[actix_web::test]
async fn a_ticket_session_takes_the_expiry_of_the_token_it_was_issued_with() {
    let app = short_lived_tokens().await;
    let user = app.register_someone().await;
    let issued = app
        .request(reqwest::Method::POST, "/v1/ws/tickets", user.bearer(), None)
        .await;
    let ticket = string_at(&expect_json(issued, StatusCode::CREATED).await, "/ticket");
    let request = awc::Client::new().ws(ticket_url(&app, &ticket));
    let mut socket = ShareSocket::connect(request).await;
    let expiry = token_claims(&user.access_token)["exp"].as_i64().unwrap();
    assert_eq!(socket.hello["expires_at"], expiry * 1000);
    let (_, code) = socket.until_closed(PAST_EXPIRY).await;
    assert_eq!(code, Some(CLOSE_REVOKED));
}

#[actix_web::test]
async fn logging_out_ends_the_sessions_of_that_sign_in_and_no_other() {
    let app = spawn_app_with(|_| {}).await;
    let phone = app.register_someone().await;
    let login = json!({"email": phone.email, "password": PASSWORD});
    let web = expect_json(
        app.post("/v1/auth/login", None, &login).await,
        StatusCode::OK,
    )
    .await;
    let mut on_phone = user_socket(&app, &phone.access_token).await;
    let mut on_web = user_socket(&app, &string_at(&web, "/access_token")).await;

    let logout = json!({"refresh_token": phone.refresh_token});
    expect_status(
        app.post("/v1/auth/logout", None, &logout).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (frames, code) = on_phone.until_closed(Duration::from_secs(1)).await;
    assert!(frames.contains(&json!({"type": "revoked"})), "{frames:?}");
    assert_eq!(code, Some(CLOSE_REVOKED));
    on_web.assert_answers_ping().await;
}
