//! Hostile input at the broker. A message far over the protocol's limits among other
//! collars' telemetry: the broker passes it (a stock Mosquitto has no message size limit),
//! the server dead-letters it as `too_large` and the other collars' telemetry keeps flowing;
//! one larger than the server's MQTT 5 Maximum Packet Size is discarded by the broker for
//! the server, with the same result for everyone else. Messages on topics with an invalid
//! serial are dropped and counted, never stored (they may be an attack).

use mongodb::bson::doc;
use serde_json::json;

use super::Fleet;
use crate::collar::{TestCollar, SETTLE};
use crate::helpers::{poll_until, spawn_app};
use crate::realtime::{documents, int_field, wait_for_samples};
use pettysync::ingest::side::SIDE_TASKS;

#[actix_web::test]
async fn a_1_mib_message_is_a_too_large_dead_letter_and_other_collars_flow_on() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let big = TestCollar::paired(&app, &owner).await;
    let other = TestCollar::paired(&app, &owner).await;
    let db = app.mongo().await;
    other
        .publish_sample(&other.reading(1, json!({"hr": 80})))
        .await;
    wait_for_samples(&db, &other.serial, "the first sample", |s| s.len() == 1).await;

    let one_mib =
        json!({"v": 1, "seq": 1, "ts": crate::collar::now_ms(), "pad": "x".repeat(1 << 20)});
    big.link.send_raw("telemetry", one_mib.to_string()).await;
    let three_mib =
        json!({"v": 1, "seq": 2, "ts": crate::collar::now_ms(), "pad": "x".repeat(3 << 20)});
    big.link.send_raw("voice", three_mib.to_string()).await;
    for seq in 2..=5 {
        other
            .publish_sample(&other.reading(seq, json!({"hr": 80})))
            .await;
    }
    big.link.flushed().await;
    wait_for_samples(&db, &other.serial, "the other collar's samples", |s| {
        s.len() == 5
    })
    .await;

    let letters = poll_until("the too_large dead letter", SETTLE, || async {
        let letters = documents(&db, "dead_letters", doc! {"serial": &big.serial}).await;
        if letters.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(letters)
        }
    })
    .await;
    let letter = &letters[0];
    assert_eq!(letter.get_str("reason"), Ok("too_large"), "{letter}");
    assert_eq!(
        letter.get_str("topic").ok(),
        Some(big.link.topic("telemetry").as_str())
    );
    let size = int_field(letter, "size").expect("the dead letter keeps the message size");
    assert!(size > 1 << 20, "{size}");
    let raw = letter
        .get_binary_generic("raw")
        .expect("the raw bytes, cut");
    assert!(
        raw.len() <= 64 * 1024,
        "a dead letter keeps at most 64 KiB: {}",
        raw.len()
    );
    // The server's connection survived both: it still takes the big collar's telemetry.
    big.publish_sample(&big.reading(3, json!({"hr": 70}))).await;
    wait_for_samples(&db, &big.serial, "the big collar's next sample", |s| {
        s.len() == 1
    })
    .await;
}

#[actix_web::test]
async fn messages_on_topics_with_an_invalid_serial_are_dropped_not_stored() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let fleet = Fleet::connect(&app).await;
    let junk = json!({"v": 1, "seq": 1, "ts": crate::collar::now_ms(), "note": "x".repeat(2000)});
    for serial in ["ab", "has.dots", &"x".repeat(65)] {
        fleet.publish(serial, "telemetry", junk.to_string()).await;
    }
    // On the same connection after them: once it is stored, they were handled.
    fleet
        .publish(
            &collar.serial,
            "telemetry",
            collar.reading(1, json!({})).to_string(),
        )
        .await;
    let db = app.mongo().await;
    wait_for_samples(&db, &collar.serial, "the valid sample", |s| s.len() == 1).await;
    let letters = documents(&db, "dead_letters", doc! {}).await;
    assert!(letters.is_empty(), "nothing stored for them: {letters:?}");
}

/// A NUL in a command answer's error: PostgreSQL refuses it for good, so it is not retried
/// for ever. Before, each such answer held one of the 64 side-store slots and the 65th
/// stopped ingest for every collar.
#[actix_web::test]
async fn command_answers_with_a_nul_are_recorded_and_never_stall_ingest() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut collar = TestCollar::paired(&app, &owner).await;
    let sent =
        crate::realtime::commands::send(&app, &owner, &collar.pet_id, json!({"cmd": "find_me"}))
            .await;
    let id = crate::helpers::string_at(&sent, "/id");
    collar.link.next_command(SETTLE).await;
    for _ in 0..(SIDE_TASKS + 6) {
        let ack = json!({"v": 1, "id": id, "ok": false, "error": "no\u{0}fix"});
        collar.send_raw("cmd/ack", ack.to_string()).await;
    }
    let status = json!({"v": 1, "online": true, "fw": "1.0\u{0}"});
    collar.send_raw("status", status.to_string()).await;
    collar
        .publish_sample(&collar.reading(1, json!({"hr": 80})))
        .await;
    let db = app.mongo().await;
    wait_for_samples(&db, &collar.serial, "the sample after the answers", |s| {
        s.len() == 1
    })
    .await;
    let command = crate::realtime::commands::answered(&app, &owner, &collar.pet_id, &id).await;
    assert_eq!(command["error"], "no\u{fffd}fix", "{command}");
    let letters = documents(&db, "dead_letters", doc! {"serial": &collar.serial}).await;
    let reasons: Vec<_> = letters.iter().map(|l| l.get_str("reason")).collect();
    assert_eq!(
        reasons,
        [Ok("wrong_type")],
        "the status with a NUL: {letters:?}"
    );
}
