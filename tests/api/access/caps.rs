//! Caps: open sessions per user and per share link (429 `too_many_sessions` before the
//! upgrade), and `subscribe` frames per session (an `error`, the session stays open).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{upgrade_attempt, user_socket};
use crate::collar::SETTLE;
use crate::helpers::{expect_problem, poll_until, spawn_app_with, string_at};
use crate::share::ShareSocket;

#[actix_web::test]
async fn a_user_past_the_session_cap_is_refused_with_429_before_the_upgrade() {
    let app = spawn_app_with(|settings| settings.ws_max_sessions_per_user = 2).await;
    let user = app.register_someone().await;
    let other = app.register_someone().await;
    let first = user_socket(&app, &user.access_token).await;
    let _second = user_socket(&app, &user.access_token).await;

    let refused = upgrade_attempt(&app, "/v1/ws", Some(&user.access_token)).await;
    assert!(refused.headers().contains_key("retry-after"), "{refused:?}");
    let problem = expect_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_sessions").await;
    assert!(
        problem["detail"].as_str().unwrap().contains('2'),
        "{problem}"
    );
    user_socket(&app, &other.access_token).await;

    drop(first);
    poll_until("a place after a session closed", SETTLE, || async {
        let again = upgrade_attempt(&app, "/v1/ws", Some(&user.access_token)).await;
        match again.status() {
            StatusCode::SWITCHING_PROTOCOLS => Ok(()),
            status => Err(format!("still {status}")),
        }
    })
    .await;
}

#[actix_web::test]
async fn a_share_link_past_its_session_cap_is_refused_with_429() {
    let app = spawn_app_with(|settings| settings.ws_max_sessions_per_link = 1).await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let token = string_at(&link, "/token");
    let _viewer = ShareSocket::open(&app, &token).await;

    let refused = upgrade_attempt(&app, &format!("/v1/share/{token}/ws"), None).await;
    expect_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_sessions").await;
    let other = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    ShareSocket::open(&app, &string_at(&other, "/token")).await;
}

#[actix_web::test]
async fn subscribing_too_often_or_to_too_many_pets_gets_an_error_and_the_session_stays() {
    let app = spawn_app_with(|settings| {
        settings.ws_subscribe_burst = 2;
        settings.ws_subscribes_per_minute = 1;
        settings.ws_max_watched_pets = 1;
    })
    .await;
    let user = app.register_someone().await;
    let rex = string_at(&app.create_pet(&user, "Rex").await, "/id");
    let tom = string_at(&app.create_pet(&user, "Tom").await, "/id");
    let mut socket = user_socket(&app, &user.access_token).await;

    let both = json!({"type": "subscribe", "pet_ids": [rex, tom]});
    socket.send_json(&both).await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "too_many_pets", "{error}");
    let one = json!({"type": "subscribe", "pet_ids": [rex]});
    socket.send_json(&one).await;
    let state = socket.next_of_type("state", SETTLE).await;
    assert_eq!(state["pet_id"], rex.as_str());
    socket.send_json(&one).await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert!(error["retry_after_s"].as_u64() > Some(0), "{error}");
    socket
        .expect_no_frame_of_type("state", Duration::from_millis(300))
        .await;
    socket.assert_answers_ping().await;
}
