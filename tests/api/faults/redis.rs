//! Redis cut off behind a TCP proxy when a collar's actor must start: its snapshot (the live
//! state and what its alert rules remember) cannot be read, so the actor is not started from
//! fresh rules — a low battery would alert again — and the collar's messages wait until
//! Redis answers (or, past `registry::SNAPSHOT_WAIT`, the actor starts afresh).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{stored_pairs, wait_for_all_stored, Fleet};
use crate::collar::{QUIET, SETTLE};
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{spawn_app_with, unique_serial};

#[actix_web::test]
async fn a_collar_whose_snapshot_cannot_be_read_waits_for_redis() {
    let base = pettysync::config::Settings::load().expect("settings load");
    let (switch, _) = TcpSwitch::in_front_of(base.redis_url.expose_secret()).await;
    let app = spawn_app_with(|s| {
        s.redis_url = SecretString::from(switch.route(s.redis_url.expose_secret()));
    })
    .await;
    let serial = unique_serial();
    app.provision_collar(&serial).await;
    let fleet = Fleet::connect(&app).await;
    let db = app.mongo().await;

    switch.set(false);
    let sample = json!({"v": 1, "seq": 1, "ts": crate::collar::now_ms(), "bat": 80});
    fleet
        .publish(&serial, "telemetry", sample.to_string())
        .await;
    fleet.flushed(SETTLE).await;
    // Long enough for the lookup, the store and its 2 ms linger many times over.
    actix_web::rt::time::sleep(QUIET * 4).await;
    let serials = [serial];
    let stored = stored_pairs(&db, &serials).await;
    assert!(
        stored.is_empty(),
        "nothing stored while Redis is away: {stored:?}"
    );

    switch.set(true);
    wait_for_all_stored(&db, &serials, 1, SETTLE * 3).await;
}

/// The dedupe watermarks live in Redis; without Redis, ingest asks MongoDB as before, so a
/// redelivery is still stored once, and so is one after Redis is back.
#[actix_web::test]
async fn a_redelivery_while_redis_is_away_is_still_stored_once() {
    let base = pettysync::config::Settings::load().expect("settings load");
    let (switch, _) = TcpSwitch::in_front_of(base.redis_url.expose_secret()).await;
    let app = spawn_app_with(|s| {
        s.redis_url = SecretString::from(switch.route(s.redis_url.expose_secret()));
    })
    .await;
    let serial = unique_serial();
    app.provision_collar(&serial).await;
    let fleet = Fleet::connect(&app).await;
    let db = app.mongo().await;
    let serials = [serial.clone()];
    let publish = |seq: i64| {
        let sample = json!({"v": 1, "seq": seq, "ts": crate::collar::now_ms(), "bat": 80});
        fleet.publish(&serial, "telemetry", sample.to_string())
    };

    for seq in 1..=3 {
        publish(seq).await;
    }
    wait_for_all_stored(&db, &serials, 3, SETTLE * 3).await;

    switch.set(false);
    for seq in [2, 3, 4] {
        publish(seq).await;
    }
    wait_for_all_stored(&db, &serials, 4, SETTLE * 3).await;

    switch.set(true);
    for seq in [4, 5] {
        publish(seq).await;
    }
    wait_for_all_stored(&db, &serials, 5, SETTLE * 3).await;
}
