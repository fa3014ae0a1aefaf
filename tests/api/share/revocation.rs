//! The end of a link: expiry and revocation close its sessions (and only its), unknown,
//! revoked and expired tokens look the same, guessing is rate limited, and viewers count as
//! watchers for live mode.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{shared_view, ShareSocket, CLOSE_REVOKED};
use crate::collar::{refused_upgrade, TestCollar, SETTLE};
use crate::helpers::{expect_problem, expect_status, poll_until, read, spawn_app, string_at};

#[actix_web::test]
async fn an_expired_link_closes_its_sessions_and_answers_404() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 1)
        .await;
    let token = string_at(&link, "/token");

    let mut socket = ShareSocket::open(&app, &token).await;
    let (frames, code) = socket.until_closed(Duration::from_millis(2500)).await;
    assert!(
        frames.iter().any(|f| *f == json!({"type": "revoked"})),
        "`revoked` before the close: {frames:?}"
    );
    assert_eq!(code, Some(CLOSE_REVOKED));
    expect_problem(app.shared(&token).await, StatusCode::NOT_FOUND, "not_found").await;
    let again = awc::Client::new().ws(app.url(&format!("/v1/share/{token}/ws")));
    assert_eq!(refused_upgrade(again).await, 404);
}

#[actix_web::test]
async fn deleting_the_pet_closes_its_share_sessions() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let token = string_at(&link, "/token");
    let mut socket = ShareSocket::open(&app, &token).await;

    let deleted = app
        .delete(&format!("/v1/pets/{pet_id}"), owner.bearer())
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (frames, code) = socket.until_closed(Duration::from_secs(1)).await;
    assert!(
        frames.iter().any(|f| *f == json!({"type": "revoked"})),
        "{frames:?}"
    );
    assert_eq!(code, Some(CLOSE_REVOKED));
    expect_problem(app.shared(&token).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn revoking_a_link_closes_its_sessions_at_once_and_leaves_other_links_open() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let revoked = app
        .share_link(&owner, &pet_id, &["vitals"], "exact", 3600)
        .await;
    let kept = app
        .share_link(&owner, &pet_id, &["vitals"], "exact", 3600)
        .await;
    let revoked_token = string_at(&revoked, "/token");
    let mut first = ShareSocket::open(&app, &revoked_token).await;
    let mut second = ShareSocket::open(&app, &revoked_token).await;
    let mut other = ShareSocket::open(&app, &string_at(&kept, "/token")).await;
    for socket in [&mut first, &mut second, &mut other] {
        socket.next_of_type("state", SETTLE).await;
    }

    let path = format!("/v1/share-links/{}", string_at(&revoked, "/id"));
    expect_status(
        app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let deleted = Instant::now();
    for socket in [&mut first, &mut second] {
        let (frames, code) = socket.until_closed(SETTLE).await;
        assert!(frames.contains(&json!({"type": "revoked"})), "{frames:?}");
        assert_eq!(code, Some(CLOSE_REVOKED));
    }
    let took = deleted.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "closed {took:?} after the revocation"
    );

    other.assert_answers_ping().await;
    expect_problem(
        app.shared(&revoked_token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    shared_view(&app, &string_at(&kept, "/token")).await;
}

#[actix_web::test]
async fn unknown_revoked_and_expired_tokens_get_the_same_404() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let revoked = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let path = format!("/v1/share-links/{}", string_at(&revoked, "/id"));
    expect_status(
        app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let expired = app
        .share_link(&owner, &pet_id, &["location"], "exact", 1)
        .await;
    let expired_token = string_at(&expired, "/token");
    let (app_ref, token) = (&app, expired_token.as_str());
    poll_until("the link to expire", SETTLE, || async move {
        match app_ref.shared(token).await.status() {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!("still {other}")),
        }
    })
    .await;

    let unknown = crate::helpers::random_string(43);
    let mut answers: Vec<(StatusCode, String, Value)> = Vec::new();
    for token in [
        unknown.as_str(),
        &string_at(&revoked, "/token"),
        &expired_token,
    ] {
        let (status, headers, text) = read(app.shared(token).await).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        answers.push((status, crate::helpers::content_type(&headers), body));
        let ws = awc::Client::new().ws(app.url(&format!("/v1/share/{token}/ws")));
        assert_eq!(refused_upgrade(ws).await, 404, "no socket for {token}");
    }
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
    assert_eq!(answers[0].2["code"], "not_found");
    assert_eq!(answers[0], answers[1], "unknown and revoked look the same");
    assert_eq!(answers[0], answers[2], "unknown and expired look the same");
}

/// Past the limit every lookup from that address is refused for the window, the right
/// token too: a guesser must not learn which of its guesses is right.
#[actix_web::test]
async fn guessing_tokens_is_rate_limited_per_client() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let token = string_at(&link, "/token");

    for _ in 0..30 {
        let guess = crate::helpers::random_string(43);
        expect_problem(app.shared(&guess).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    let guess = crate::helpers::random_string(43);
    let limited = app.shared(&guess).await;
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let right = app.shared(&token).await;
    expect_problem(right, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let ws = awc::Client::new().ws(app.url(&format!("/v1/share/{token}/ws")));
    assert_eq!(
        refused_upgrade(ws).await,
        429,
        "the WebSocket is limited too"
    );
}

#[actix_web::test]
async fn a_share_viewer_switches_the_collar_to_live_mode() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let link = app
        .share_link(&owner, &collar.pet_id, &["location"], "exact", 3600)
        .await;
    let mut socket = ShareSocket::open(&app, &string_at(&link, "/token")).await;
    socket.next_of_type("state", SETTLE).await;
    let command = collar.link.next_command(SETTLE).await;
    assert_eq!(command["cmd"], "set_interval", "{command}");
    assert_eq!(command["interval_s"], 3, "{command}");
    let (app_ref, token) = (&app, string_at(&link, "/token"));
    let token = token.as_str();
    poll_until("the shared state to say live", SETTLE, || async move {
        let view = shared_view(app_ref, token).await;
        if view["state"]["live"] == true {
            Ok(())
        } else {
            Err(format!("{view}"))
        }
    })
    .await;
}
