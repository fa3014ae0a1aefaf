//! Commands to a collar over MQTT, and the collar's answers recorded against them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{TestCollar, QUIET, SETTLE};
use crate::helpers::{
    expect_field_error, expect_json, expect_problem, poll_until, spawn_app, string_at, TestApp,
    TestUser,
};

fn commands_path(pet_id: &str) -> String {
    format!("/v1/pets/{pet_id}/collar/commands")
}

/// Sends a command as `user`; returns the 202 body.
pub(crate) async fn send(app: &TestApp, user: &TestUser, pet_id: &str, command: Value) -> Value {
    let response = app
        .post(&commands_path(pet_id), user.bearer(), &command)
        .await;
    expect_json(response, StatusCode::ACCEPTED).await
}

/// Polls the command until the collar's answer is recorded; returns it.
pub(crate) async fn answered(app: &TestApp, user: &TestUser, pet_id: &str, id: &str) -> Value {
    let path = format!("{}/{id}", commands_path(pet_id));
    let path = &path;
    poll_until(
        "the collar's answer to be recorded",
        SETTLE,
        || async move {
            let command = expect_json(app.get(path, user.bearer()).await, StatusCode::OK).await;
            if command["acked_at"].is_null() {
                Err(command.to_string())
            } else {
                Ok(command)
            }
        },
    )
    .await
}

#[actix_web::test]
async fn a_command_reaches_the_collar_and_its_acknowledgement_is_recorded() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;

    let sent = send(&app, &owner, &collar.pet_id, json!({"cmd": "find_me"})).await;
    let id = string_at(&sent, "/id");
    assert!(sent["acked_at"].is_null() && sent["ok"].is_null(), "{sent}");

    let received = collar.link.next_command(SETTLE).await;
    assert_eq!(received, json!({"v": 1, "id": id, "cmd": "find_me"}));
    let ack = json!({"v": 1, "id": id, "ok": true});
    collar.send_raw("cmd/ack", ack.to_string()).await;

    let command = answered(&app, &owner, &collar.pet_id, &id).await;
    assert_eq!(command["ok"], true, "{command}");
    assert_eq!(command["id"], id.as_str(), "{command}");
    let (sent_at, acked_at) = (command["sent_at"].as_i64(), command["acked_at"].as_i64());
    assert!(
        sent_at.is_some() && acked_at >= sent_at,
        "acked_at is a time after sent_at: {command}"
    );
}

#[actix_web::test]
async fn a_collar_can_answer_that_a_command_failed() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;

    let sent = send(
        &app,
        &owner,
        &collar.pet_id,
        json!({"cmd": "lost_mode", "on": true}),
    )
    .await;
    let id = string_at(&sent, "/id");
    let received = collar.link.next_command(SETTLE).await;
    assert_eq!(
        received,
        json!({"v": 1, "id": id, "cmd": "lost_mode", "on": true})
    );
    let ack = json!({"v": 1, "id": id, "ok": false, "error": "no GPS fix"});
    collar.send_raw("cmd/ack", ack.to_string()).await;

    let command = answered(&app, &owner, &collar.pet_id, &id).await;
    assert_eq!(command["ok"], false, "{command}");
    assert_eq!(command["error"], "no GPS fix", "{command}");
}

#[actix_web::test]
async fn an_interval_outside_the_protocol_bounds_is_refused_and_not_sent() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;

    for interval_s in [1, 3601] {
        let command = json!({"cmd": "set_interval", "interval_s": interval_s});
        let response = app
            .post(&commands_path(&collar.pet_id), owner.bearer(), &command)
            .await;
        expect_field_error(response, "interval_s").await;
    }
    collar.link.expect_no_command(QUIET).await;

    let sent = send(
        &app,
        &owner,
        &collar.pet_id,
        json!({"cmd": "set_interval", "interval_s": 2}),
    )
    .await;
    let received = collar.link.next_command(SETTLE).await;
    assert_eq!(received["id"], sent["id"], "{received}");
    assert_eq!(received["interval_s"], 2, "{received}");
}

#[actix_web::test]
async fn a_stranger_can_neither_send_nor_read_a_pets_commands() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let stranger = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;

    let response = app
        .post(
            &commands_path(&collar.pet_id),
            stranger.bearer(),
            &json!({"cmd": "find_me"}),
        )
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    let sent = send(&app, &owner, &collar.pet_id, json!({"cmd": "find_me"})).await;
    let received = collar.link.next_command(SETTLE).await;
    assert_eq!(
        received["id"], sent["id"],
        "only the owner's command went out"
    );
    let id = string_at(&sent, "/id");
    let path = format!("{}/{id}", commands_path(&collar.pet_id));
    let response = app.get(&path, stranger.bearer()).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    collar.link.expect_no_command(QUIET).await;
}
