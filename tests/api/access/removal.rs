//! Losing a pet: a removed member's share links and sessions, and a deleted pet's sessions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::user_socket;
use crate::collar::{LiveSocket, TestCollar, QUIET, SETTLE};
use crate::helpers::{
    expect_json, expect_problem, expect_status, spawn_app, spawn_app_with, string_at,
};
use crate::share::{ShareSocket, CLOSE_REVOKED};

/// How soon a lost right must show on open sockets.
const AT_ONCE: Duration = Duration::from_secs(1);

/// The `revoked` frame of a lost pet.
fn pet_revoked(pet_id: &str) -> Value {
    json!({"type": "revoked", "pet_id": pet_id})
}

#[actix_web::test]
async fn a_removed_member_loses_their_links_and_sessions_within_a_second() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    app.add_member(&owner, &pet_id, &member.email).await;
    let members_link = app
        .share_link(&member, &pet_id, &["location"], "exact", 3600)
        .await;
    let owners_link = app
        .share_link(&owner, &pet_id, &["location"], "exact", 3600)
        .await;
    let mut members_viewer = ShareSocket::open(&app, &string_at(&members_link, "/token")).await;
    let mut owners_viewer = ShareSocket::open(&app, &string_at(&owners_link, "/token")).await;
    let mut session = user_socket(&app, &member.access_token).await;
    session
        .send_json(&json!({"type": "subscribe", "pet_ids": [pet_id]}))
        .await;
    session.next_of_type("state", SETTLE).await;
    let mut owners_session = LiveSocket::open(&app, &owner).await;
    owners_session.subscribe(&[&pet_id]).await;
    owners_session.next_of_type("state", SETTLE).await;

    let removal = format!("/v1/pets/{pet_id}/members/{}", member.id);
    expect_status(
        app.delete(&removal, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let removed = Instant::now();

    let (frames, code) = members_viewer.until_closed(AT_ONCE).await;
    assert!(frames.contains(&json!({"type": "revoked"})), "{frames:?}");
    assert_eq!(code, Some(CLOSE_REVOKED));
    let notice = session.next_of_type("revoked", AT_ONCE).await;
    assert_eq!(notice, pet_revoked(&pet_id));
    assert!(removed.elapsed() < AT_ONCE, "took {:?}", removed.elapsed());

    let sample = collar.sample(1, 48.85, 2.35, 5.0, json!({"hr": 90}));
    collar.publish_sample(&sample).await;
    owners_session.next_state_with(&pet_id, &sample).await;
    session.expect_no_frame_of_type("state", QUIET).await;
    session.assert_answers_ping().await;
    owners_viewer.assert_answers_ping().await;
    let shared = app.shared(&string_at(&members_link, "/token")).await;
    expect_problem(shared, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_removed_members_watch_ends_so_live_mode_ends_after_the_grace() {
    let app = spawn_app_with(|settings| settings.live_grace_s = 1).await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    app.add_member(&owner, &pet_id, &member.email).await;
    let link = app
        .share_link(&member, &pet_id, &["location"], "exact", 3600)
        .await;
    let mut session = user_socket(&app, &member.access_token).await;
    session
        .send_json(&json!({"type": "subscribe", "pet_ids": [pet_id]}))
        .await;
    session.next_of_type("state", SETTLE).await;
    let _viewer = ShareSocket::open(&app, &string_at(&link, "/token")).await;
    let live = collar.link.next_command(SETTLE).await;
    assert_eq!(live["interval_s"], 3, "{live}");

    let removal = format!("/v1/pets/{pet_id}/members/{}", member.id);
    expect_status(
        app.delete(&removal, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let normal = collar.link.next_command(SETTLE).await;
    assert_eq!(normal["cmd"], "set_interval", "{normal}");
    assert_eq!(normal["interval_s"], 300, "live mode ended: {normal}");
    session.assert_answers_ping().await;
}

#[actix_web::test]
async fn deleting_a_pet_revokes_it_in_every_session_of_its_owner_and_members() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let other_pet = string_at(&app.create_pet(&owner, "Tom").await, "/id");
    app.add_member(&owner, &pet_id, &member.email).await;
    let link = app
        .share_link(&member, &pet_id, &["location"], "exact", 3600)
        .await;
    let mut viewer = ShareSocket::open(&app, &string_at(&link, "/token")).await;
    let mut owners = user_socket(&app, &owner.access_token).await;
    owners
        .send_json(&json!({"type": "subscribe", "pet_ids": [pet_id, other_pet]}))
        .await;
    owners.next_of_type("state", SETTLE).await;
    owners.next_of_type("state", SETTLE).await;
    // Not subscribed: a member's session still gets the pet's alerts, so it hears too.
    let mut members = user_socket(&app, &member.access_token).await;

    let deleted = app
        .delete(&format!("/v1/pets/{pet_id}"), owner.bearer())
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;

    for socket in [&mut owners, &mut members] {
        let notice = socket.next_of_type("revoked", AT_ONCE).await;
        assert_eq!(notice, pet_revoked(&pet_id));
        socket.assert_answers_ping().await;
    }
    let (_, code) = viewer.until_closed(AT_ONCE).await;
    assert_eq!(code, Some(CLOSE_REVOKED));
    let left = expect_json(app.get("/v1/pets", owner.bearer()).await, StatusCode::OK).await;
    assert_eq!(left["items"].as_array().map(Vec::len), Some(1), "{left}");
}
