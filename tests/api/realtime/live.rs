//! The live protocol: state frames, who may watch a pet, credentials, live mode.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{assert_state_shows, wait_for_sample_applied, wait_for_state, Live};
use crate::collar::{now_ms, refused_upgrade, ticket_url, LiveSocket, TestCollar, QUIET, SETTLE};
use crate::helpers::{expect_json, spawn_app, spawn_app_with, string_at};

#[actix_web::test]
async fn a_sample_reaches_the_subscribers_state_and_the_state_endpoint() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let mut socket = LiveSocket::open(&app, &owner).await;
    assert!(socket.hello["session_id"].is_string(), "{}", socket.hello);
    assert_eq!(socket.hello["heartbeat_s"], 20, "{}", socket.hello);

    socket.subscribe(&[&collar.pet_id]).await;
    let first = socket.next_of_type("state", SETTLE).await;
    assert_eq!(first["pet_id"], collar.pet_id.as_str(), "{first}");
    assert!(first["state"].is_object(), "{first}");

    let sample = collar.sample(
        1,
        13.756331,
        100.501762,
        6.5,
        json!({"hr": 96, "steps": 41, "act": "walk", "bat": 83, "temp": 38.6}),
    );
    collar.publish_sample(&sample).await;

    let frame = socket.next_state_with(&collar.pet_id, &sample).await;
    assert_state_shows(&frame["state"], &sample);
    let state = wait_for_sample_applied(&app, &owner, &collar.pet_id, &sample).await;
    assert_state_shows(&state, &sample);
}

#[actix_web::test]
async fn a_stranger_cannot_watch_another_users_pet() {
    let Live {
        app,
        owner: _,
        collar,
        mut socket,
    } = Live::start().await;
    let stranger = app.register_someone().await;
    let stranger_pet = string_at(&app.create_pet(&stranger, "Tom").await, "/id");
    let mut intruder = LiveSocket::open(&app, &stranger).await;

    intruder
        .subscribe(&[&collar.pet_id, "not-a-uuid", &stranger_pet])
        .await;

    // Its own pet is watched, so the answers to the others are all there is to see.
    intruder
        .next_state(&stranger_pet, "the stranger's own pet", |_| true)
        .await;
    for _ in 0..2 {
        let error = intruder.next_of_type("error", SETTLE).await;
        assert_eq!(error["code"], "forbidden", "{error}");
        assert!(error["message"].is_string(), "{error}");
    }
    let sample = collar.sample(1, 48.85, 2.35, 5.0, json!({"hr": 90}));
    collar.publish_sample(&sample).await;
    socket.next_state_with(&collar.pet_id, &sample).await;
    intruder.expect_no_frame_of_type("state", QUIET).await;
}

#[actix_web::test]
async fn a_malformed_frame_gets_bad_request_and_the_session_stays_open() {
    let app = spawn_app().await;
    let user = app.register_someone().await;
    let mut socket = LiveSocket::open(&app, &user).await;

    socket.send_text("{not json".to_string()).await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "bad_request", "{error}");
    socket.send_json(&json!({"type": "dance"})).await;
    let error = socket.next_of_type("error", SETTLE).await;
    assert_eq!(error["code"], "bad_request", "{error}");

    socket.send_json(&json!({"type": "ping"})).await;
    socket.next_of_type("pong", SETTLE).await;
}

#[actix_web::test]
async fn upgrading_without_valid_credentials_is_refused_with_401() {
    let app = spawn_app().await;
    let ws = || awc::Client::new().ws(app.url("/v1/ws"));

    assert_eq!(refused_upgrade(ws()).await, 401, "no credentials");
    assert_eq!(
        refused_upgrade(ws().bearer_auth("not-a-token")).await,
        401,
        "a bad token"
    );
    let made_up = awc::Client::new().ws(ticket_url(&app, "made-up-ticket"));
    assert_eq!(refused_upgrade(made_up).await, 401, "an unknown ticket");
}

#[actix_web::test]
async fn a_ticket_opens_one_socket_only() {
    let app = spawn_app().await;
    let user = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&user, "Rex").await, "/id");
    let anonymous = app
        .request(Method::POST, "/v1/ws/tickets", None, None)
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let response = app
        .request(Method::POST, "/v1/ws/tickets", user.bearer(), None)
        .await;
    let issued = expect_json(response, StatusCode::CREATED).await;
    let ticket = string_at(&issued, "/ticket");
    let expires_at = issued["expires_at"].as_i64().unwrap_or_default();
    assert!(
        expires_at > now_ms() && expires_at <= now_ms() + 61_000,
        "a ticket is valid for 60 s: {issued}"
    );

    let mut socket = LiveSocket::open_with_ticket(&app, &ticket).await;
    socket.subscribe(&[&pet_id]).await;
    socket
        .next_state(&pet_id, "the ticket holder's own pet", |_| true)
        .await;

    let again = awc::Client::new().ws(ticket_url(&app, &ticket));
    assert_eq!(refused_upgrade(again).await, 401, "a ticket is single use");
}

#[actix_web::test]
async fn watching_a_pet_switches_its_collar_to_live_mode_until_the_grace_after_the_last_watcher() {
    let app = spawn_app_with(|settings| settings.live_grace_s = 1).await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    let mut first = LiveSocket::open(&app, &owner).await;

    first.subscribe(&[&pet_id]).await;
    let live = collar.link.next_command(SETTLE).await;
    assert_set_interval(&live, 3);
    wait_for_state(&app, &owner, &pet_id, "live mode", |s| s["live"] == true).await;

    let mut second = LiveSocket::open(&app, &owner).await;
    second.subscribe(&[&pet_id]).await;
    second
        .next_state(&pet_id, "the second watcher's state", |_| true)
        .await;
    collar.link.expect_no_command(QUIET).await;

    let unsubscribe = json!({"type": "unsubscribe", "pet_ids": [pet_id]});
    second.send_json(&unsubscribe).await;
    first.send_json(&unsubscribe).await;
    let left = Instant::now();
    collar.link.expect_no_command(QUIET).await;
    let normal = collar.link.next_command(SETTLE).await;
    let after = left.elapsed();
    assert_set_interval(&normal, 300);
    assert!(
        after >= Duration::from_millis(900),
        "live mode ended {after:?} after the last watcher left; the grace is 1 s"
    );
    assert_ne!(normal["id"], live["id"], "each command has its own id");
    wait_for_state(&app, &owner, &pet_id, "live mode off", |s| {
        s["live"] == false
    })
    .await;
}

#[actix_web::test]
async fn an_interval_the_owner_sets_is_kept_through_live_mode_and_returned_to_after_it() {
    let app = spawn_app_with(|settings| settings.live_grace_s = 1).await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    let mut socket = LiveSocket::open(&app, &owner).await;
    socket.subscribe(&[&pet_id]).await;
    assert_set_interval(&collar.link.next_command(SETTLE).await, 3);

    // The owner asks for 10-minute reports while watching: the collar is told, then live
    // mode is asserted again, since someone still watches.
    let path = format!("/v1/pets/{pet_id}/collar/commands");
    let body = json!({"cmd": "set_interval", "interval_s": 600});
    let sent = app.post(&path, owner.bearer(), &body).await;
    assert_eq!(sent.status(), reqwest::StatusCode::ACCEPTED);
    assert_set_interval(&collar.link.next_command(SETTLE).await, 600);
    assert_set_interval(&collar.link.next_command(SETTLE).await, 3);

    // When the last watcher leaves, the collar returns to the interval the owner set.
    socket
        .send_json(&json!({"type": "unsubscribe", "pet_ids": [pet_id]}))
        .await;
    assert_set_interval(&collar.link.next_command(SETTLE).await, 600);
}

fn assert_set_interval(command: &Value, interval_s: u64) {
    assert_eq!(command["v"], 1, "{command}");
    assert_eq!(command["cmd"], "set_interval", "{command}");
    assert_eq!(command["interval_s"], interval_s, "{command}");
    let id = command["id"].as_str().unwrap_or_default();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "a command id is a UUID: {command}"
    );
}
