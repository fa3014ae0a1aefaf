//! PostgreSQL cut off behind a TCP proxy: collars whose actors are not running cannot be
//! looked up (their messages must wait, not be dropped as unknown), and an alert raised
//! meanwhile cannot be stored (it must wait in the outbox, then be stored and pushed once).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{
    inside_the_park, outbox, postgres_switch, wait_for_all_stored, wait_for_outbox, Fleet,
};
use crate::collar::{TestCollar, QUIET, SETTLE};
use crate::helpers::{expect_json, poll_until, spawn_app_with, string_at, unique_serial};
use crate::notifications::PushApp;
use crate::realtime::PARK_CENTRE;

/// Longer than the server's wait for a PostgreSQL connection (3 s): every message that
/// arrives during the outage has had its lookup fail by the end of it.
const OUTAGE: Duration = Duration::from_secs(6);

#[actix_web::test]
async fn messages_of_collars_not_yet_running_wait_out_a_postgres_outage_and_are_stored_once() {
    let switch = postgres_switch().await;
    let app = spawn_app_with(|s| switch.route_postgres(s)).await;
    let serials: Vec<String> = (0..5).map(|_| unique_serial()).collect();
    for serial in &serials {
        app.provision_collar(serial).await;
    }
    let fleet = Fleet::connect(&app).await;
    let now = crate::collar::now_ms();

    // None of these collars has an actor yet: each message needs a lookup in PostgreSQL.
    switch.set(false);
    for serial in &serials {
        for seq in 1..=20 {
            let sample = json!({"v": 1, "seq": seq, "ts": now + seq, "hr": 80});
            fleet.publish(serial, "telemetry", sample.to_string()).await;
        }
    }
    fleet.flushed(SETTLE).await;
    actix_web::rt::time::sleep(OUTAGE).await;
    switch.set(true);

    let db = app.mongo().await;
    wait_for_all_stored(&db, &serials, 100, SETTLE * 3).await;
}

#[actix_web::test]
async fn a_geofence_exit_while_postgres_is_down_is_stored_and_pushed_once_when_it_returns() {
    let switch = postgres_switch().await;
    let push = PushApp::start_with(|s| switch.route_postgres(s)).await;
    let app = &push.app;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(app, &owner).await;
    let phone = push.phone(&owner, "apns").await;
    inside_the_park(app, &owner, &collar).await;
    let (lat, _) = PARK_CENTRE;

    switch.set(false);
    for seq in 2..=3 {
        let outside = collar.sample(seq, lat, 2.375, 5.0, json!({}));
        collar.publish_sample(&outside).await;
    }
    let db = app.mongo().await;
    // Stored with the samples that raised it, though PostgreSQL is away.
    wait_for_outbox(&db, 1).await;
    actix_web::rt::time::sleep(OUTAGE).await;
    switch.set(true);

    let exits = poll_until("the exit in the alert list", SETTLE * 3, || async {
        let alerts = app.pet_alerts(&owner, &collar.pet_id).await;
        let exits: Vec<_> = alerts
            .into_iter()
            .filter(|a| a["kind"] == "geofence_exit")
            .collect();
        if exits.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(exits)
        }
    })
    .await;
    let pushed = poll_until("the push", SETTLE * 3, || async {
        let messages = push.published(&phone.endpoint_arn).await;
        if messages.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(messages)
        }
    })
    .await;
    push.settled().await;
    actix_web::rt::time::sleep(QUIET).await;
    assert_eq!(exits.len(), 1, "stored once: {exits:?}");
    assert_eq!(pushed.len(), 1, "pushed once: {pushed:?}");
    assert_eq!(push.published(&phone.endpoint_arn).await.len(), 1);
    let exits = app.pet_alerts(&owner, &collar.pet_id).await;
    assert_eq!(
        exits
            .iter()
            .filter(|a| a["kind"] == "geofence_exit")
            .count(),
        1
    );
    poll_until("the outbox to empty", SETTLE, || async {
        match outbox(&db).await.len() {
            0 => Ok(()),
            held => Err(format!("{held} held")),
        }
    })
    .await;
}

#[actix_web::test]
async fn a_command_answer_that_arrives_while_postgres_is_down_is_recorded_when_it_returns() {
    let switch = postgres_switch().await;
    let app = spawn_app_with(|s| switch.route_postgres(s)).await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let path = format!("/v1/pets/{}/collar/commands", collar.pet_id);
    let sent = app
        .post(&path, owner.bearer(), &json!({"cmd": "find_me"}))
        .await;
    let id = string_at(&expect_json(sent, StatusCode::ACCEPTED).await, "/id");
    let command = collar.link.next_command(SETTLE).await;
    assert_eq!(command["id"], id.as_str());

    switch.set(false);
    let answer = json!({"v": 1, "id": id, "ok": true});
    collar.link.send_raw("cmd/ack", answer.to_string()).await;
    collar.link.flushed().await;
    actix_web::rt::time::sleep(OUTAGE).await;
    switch.set(true);

    let path = format!("{path}/{id}");
    poll_until("the answer recorded", SETTLE * 3, || async {
        let command = expect_json(app.get(&path, owner.bearer()).await, StatusCode::OK).await;
        if command["ok"] == true {
            Ok(())
        } else {
            Err(command.to_string())
        }
    })
    .await;
}
