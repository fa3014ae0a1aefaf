//! What ingest stores: backlog batches, duplicates once, every invalid message as a dead
//! letter with its reason, nothing of unknown collars, and the track built from it all.

use mongodb::bson::{doc, Bson, Document};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{
    documents, east_of_park, int_field, park, seqs, stored_samples, wait_for_samples, Live,
    PARK_CENTRE,
};
use crate::collar::{now_ms, CollarLink, TestCollar, QUIET, SETTLE};
use crate::helpers::{expect_json, poll_until, spawn_app, unique_serial, TestApp};

#[actix_web::test]
async fn a_backlog_batch_is_stored_without_alerts_or_moving_the_live_position() {
    let mut live = Live::start().await;
    let fence_id = live.create_fence("safe", park()).await;
    let (lat, lon) = PARK_CENTRE;
    let newest = live
        .collar
        .sample(100, lat, lon, 5.0, json!({"hr": 90, "bat": 80}));
    live.publish(&newest).await;

    // Ten minutes old, far outside the fence, racing heart, flat battery: live, each would alert.
    let (far_lat, far_lon) = east_of_park(500.0);
    let old = now_ms() - 10 * 60_000;
    let backlog: Vec<Value> = (0..5)
        .map(|i| {
            json!({"seq": 10 + i, "ts": old + i * 60_000, "lat": far_lat, "lon": far_lon,
                   "acc": 5.0, "hr": 250, "bat": 5})
        })
        .collect();
    live.collar
        .publish_sample(&json!({"v": 1, "samples": backlog}))
        .await;

    let db = live.app.mongo().await;
    let stored = wait_for_samples(&db, &live.collar.serial, "the backlog stored", |s| {
        s.len() >= 6
    })
    .await;
    let mut stored_seqs = seqs(&stored);
    stored_seqs.sort_unstable();
    assert_eq!(stored_seqs, vec![10, 11, 12, 13, 14, 100]);
    for sample in &stored {
        assert_eq!(meta(sample, "pet"), Some(live.pet_id()), "{sample}");
    }

    let state = live.app.pet_state(&live.owner, live.pet_id()).await;
    assert_eq!(
        state["location"]["lat"], lat,
        "the position did not move back: {state}"
    );
    assert_eq!(state["location"]["lon"], lon, "{state}");
    assert_eq!(state["location"]["at"], newest["ts"], "{state}");
    assert_eq!(state["vitals"]["hr"], 90, "{state}");
    assert_eq!(state["battery"]["pct"], 80, "{state}");
    assert_eq!(state["geofences"]["inside"], json!([fence_id]), "{state}");
    let pet_id = live.pet_id().to_string();
    let kinds = ["geofence_exit", "heart_rate_high", "battery_low"];
    live.socket.expect_no_alert(&pet_id, &kinds, QUIET).await;
    for kind in kinds {
        assert_eq!(live.alerts_of_kind(kind).await, Vec::<Value>::new());
    }
}

#[actix_web::test]
async fn a_duplicate_sample_is_stored_once() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;

    // Back to back (likely one write batch), then again once seq 7 is surely stored, as a
    // broker redelivery after a reconnect would be.
    let sample = collar.sample(7, 48.85, 2.35, 5.0, json!({"hr": 90}));
    collar.publish_sample(&sample).await;
    collar.publish_sample(&sample).await;
    let db = app.mongo().await;
    wait_for_samples(&db, &collar.serial, "seq 7 stored", |s| {
        seqs(s).contains(&7)
    })
    .await;
    collar.publish_sample(&sample).await;
    collar
        .publish_sample(&collar.sample(8, 48.85, 2.35, 5.0, json!({})))
        .await;

    let stored = wait_for_samples(&db, &collar.serial, "seq 8 stored", |s| {
        seqs(s).contains(&8)
    })
    .await;
    let mut stored_seqs = seqs(&stored);
    stored_seqs.sort_unstable();
    assert_eq!(
        stored_seqs,
        vec![7, 8],
        "the repeats of seq 7 are stored once"
    );
}

/// One invalid message per rejection reason: (reason, channel, payload).
fn invalid_messages() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let now = now_ms();
    let json = |value: Value| value.to_string().into_bytes();
    vec![
        ("malformed_json", "telemetry", br#"{"v":1,"seq":"#.to_vec()),
        ("not_an_object", "telemetry", b"[1,2,3]".to_vec()),
        (
            "unsupported_version",
            "telemetry",
            json(json!({"v": 2, "seq": 50, "ts": now})),
        ),
        (
            "missing_field",
            "telemetry",
            json(json!({"v": 1, "ts": now})),
        ),
        (
            "wrong_type",
            "telemetry",
            json(json!({"v": 1, "seq": "51", "ts": now})),
        ),
        (
            "out_of_range",
            "telemetry",
            json(json!({"v": 1, "seq": 52, "ts": now, "bat": 101})),
        ),
        (
            "timestamp_out_of_window",
            "telemetry",
            json(json!({"v": 1, "seq": 53, "ts": now - 31 * 24 * 3600 * 1000})),
        ),
        (
            "batch_size",
            "telemetry",
            json(json!({"v": 1, "samples": []})),
        ),
        (
            "position_incomplete",
            "telemetry",
            json(json!({"v": 1, "seq": 54, "ts": now, "lat": 48.85})),
        ),
        (
            "bad_audio",
            "voice",
            json(
                json!({"v": 1, "seq": 1, "ts": now, "codec": "pcm_s16le", "rate_hz": 16000,
                        "audio_b64": "%%% not base64 %%%"}),
            ),
        ),
        (
            "too_large",
            "telemetry",
            json(json!({"v": 1, "seq": 55, "ts": now, "note": "x".repeat(5000)})),
        ),
    ]
}

#[actix_web::test]
async fn every_invalid_message_is_dead_lettered_with_its_reason_and_nothing_valid_is_lost() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let invalid = invalid_messages();

    // A valid sample before each invalid message: none may be lost among them.
    let mut valid = Vec::new();
    for (seq, (_, channel, payload)) in (1..).zip(&invalid) {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 90})))
            .await;
        valid.push(seq as i64);
        collar.send_raw(channel, payload.clone()).await;
    }
    let ts = collar.next_ts();
    let batch = json!({"v": 1, "samples": [
        {"seq": 20, "ts": ts, "hr": 91},
        {"seq": 21, "ts": ts + 1, "hr": "fast"},
        {"seq": 22, "ts": ts + 2, "hr": 92},
    ]});
    collar.publish_sample(&batch).await;
    collar
        .publish_sample(&collar.reading(30, json!({"hr": 93})))
        .await;
    valid.extend([20, 22, 30]);

    let db = app.mongo().await;
    let stored = wait_for_samples(&db, &collar.serial, "the last sample stored", |s| {
        seqs(s).contains(&30)
    })
    .await;
    let mut stored_seqs = seqs(&stored);
    stored_seqs.sort_unstable();
    assert_eq!(stored_seqs, valid, "every valid sample is stored, once");

    let letters = wait_for_dead_letters(&app, &collar.serial, invalid.len() + 1).await;
    assert_eq!(letters.len(), invalid.len() + 1, "{letters:?}");
    for (reason, channel, payload) in &invalid {
        let found: Vec<&Document> = letters
            .iter()
            .filter(|l| l.get_str("reason") == Ok(*reason) && l.get("index").is_none())
            .collect();
        assert_eq!(found.len(), 1, "one `{reason}` dead letter: {letters:?}");
        assert_dead_letter(
            found[0],
            &collar.link.topic(channel),
            &collar.serial,
            payload,
        );
    }
    let element: Vec<&Document> = letters
        .iter()
        .filter(|l| l.get("index").is_some())
        .collect();
    assert_eq!(element.len(), 1, "{letters:?}");
    assert_eq!(int_field(element[0], "index"), Some(1), "{}", element[0]);
    assert_eq!(
        element[0].get_str("reason"),
        Ok("wrong_type"),
        "{}",
        element[0]
    );
    let batch_bytes = batch.to_string().into_bytes();
    assert_dead_letter(
        element[0],
        &collar.link.topic("telemetry"),
        &collar.serial,
        &batch_bytes,
    );
}

fn assert_dead_letter(letter: &Document, topic: &str, serial: &str, payload: &[u8]) {
    assert_eq!(letter.get_str("topic"), Ok(topic), "{letter}");
    assert_eq!(letter.get_str("serial"), Ok(serial), "{letter}");
    assert!(
        letter.get_str("detail").is_ok_and(|d| !d.is_empty()),
        "a dead letter says which rule was broken: {letter}"
    );
    assert!(letter.get_datetime("received_at").is_ok(), "{letter}");
    match letter.get("raw") {
        Some(Bson::Binary(raw)) => assert_eq!(raw.bytes, payload, "raw bytes of {letter}"),
        other => panic!("raw is binary, got {other:?} in {letter}"),
    }
}

async fn wait_for_dead_letters(app: &TestApp, serial: &str, count: usize) -> Vec<Document> {
    let db = app.mongo().await;
    let db = &db;
    poll_until(&format!("{count} dead letters"), SETTLE, || async move {
        let letters = documents(db, "dead_letters", doc! {"serial": serial}).await;
        if letters.len() >= count {
            Ok(letters)
        } else {
            Err(format!("{} so far", letters.len()))
        }
    })
    .await
}

#[actix_web::test]
async fn messages_of_an_unknown_serial_are_dropped_unstored() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let unknown_serial = unique_serial();
    let unknown = CollarLink::connect(&app, &unknown_serial, false).await;

    let sample = json!({"v": 1, "seq": 1, "ts": now_ms(), "lat": 48.85, "lon": 2.35});
    unknown.publish_sample(&sample).await;
    unknown.send_raw("telemetry", "{broken").await;
    // Once the broker has them, they reach the server before anything published after.
    unknown.flushed().await;
    collar.send_raw("telemetry", "{broken").await;
    collar.publish_sample(&collar.reading(1, json!({}))).await;

    let db = app.mongo().await;
    wait_for_samples(&db, &collar.serial, "the known collar's sample", |s| {
        s.len() == 1
    })
    .await;
    wait_for_dead_letters(&app, &collar.serial, 1).await;
    assert!(stored_samples(&db, &unknown_serial).await.is_empty());
    let letters = documents(&db, "dead_letters", doc! {}).await;
    let about_unknown: Vec<&Document> = letters
        .iter()
        .filter(|l| {
            l.get_str("serial") == Ok(&unknown_serial)
                || l.get_str("topic")
                    .is_ok_and(|t| t.contains(&unknown_serial))
        })
        .collect();
    assert!(about_unknown.is_empty(), "{about_unknown:?}");
}

#[actix_web::test]
async fn the_track_lists_each_stored_fix_once_oldest_first_and_downsamples() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let start = now_ms() - 120_000;
    let fix = |i: i64| {
        json!({"v": 1, "seq": i, "ts": start + i * 1000, "lat": 48.85 + i as f64 * 0.001,
               "lon": 2.35, "acc": 5.0})
    };
    for i in 1..=10 {
        collar.publish_sample(&fix(i)).await;
        if i == 5 {
            collar.publish_sample(&fix(i)).await;
        }
    }
    let without_fix = json!({"v": 1, "seq": 11, "ts": start + 11_000, "hr": 90});
    collar.publish_sample(&without_fix).await;
    let db = app.mongo().await;
    let stored = wait_for_samples(&db, &collar.serial, "seq 11 stored", |s| {
        seqs(s).contains(&11)
    })
    .await;
    assert_eq!(stored.len(), 11, "{:?}", seqs(&stored));

    let track = |query: String| {
        let (app, owner, pet_id) = (&app, &owner, &collar.pet_id);
        async move {
            let path = format!("/v1/pets/{pet_id}/track?{query}");
            let track = expect_json(app.get(&path, owner.bearer()).await, StatusCode::OK).await;
            track["points"]
                .as_array()
                .expect("a track has points")
                .clone()
        }
    };
    let to = now_ms() + 1000;
    let all = track(format!("from={start}&to={to}&max_points=1000")).await;
    // Coordinates are compared to a nanodegree: JSON parsing may round the last bit.
    assert_eq!(all.len(), 10, "each fix once: {all:?}");
    for (i, point) in (1..=10).zip(&all) {
        let f = fix(i);
        assert_eq!(point["at"], f["ts"], "oldest first: {all:?}");
        assert_eq!(point["acc"], f["acc"]);
        for key in ["lat", "lon"] {
            let (got, sent) = (point[key].as_f64().unwrap(), f[key].as_f64().unwrap());
            assert!((got - sent).abs() < 1e-9, "{key} {got} != {sent}");
        }
    }

    let window = track(format!("from={}&to={}", start + 3000, start + 6000)).await;
    let ats: Vec<&Value> = window.iter().map(|p| &p["at"]).collect();
    let wanted: Vec<Value> = (3..=6).map(|i| json!(start + i * 1000)).collect();
    assert_eq!(ats, wanted.iter().collect::<Vec<_>>(), "{window:?}");

    let fewer = track(format!("from={start}&to={to}&max_points=4")).await;
    assert_eq!(fewer.len(), 4, "{fewer:?}");
    assert!(fewer.iter().all(|p| all.contains(p)), "{fewer:?}");
    assert!(
        fewer
            .windows(2)
            .all(|w| w[0]["at"].as_i64() < w[1]["at"].as_i64()),
        "oldest first: {fewer:?}"
    );
}

/// A field of a sample's `meta`.
fn meta<'a>(sample: &'a Document, field: &str) -> Option<&'a str> {
    sample.get_document("meta").ok()?.get_str(field).ok()
}
