//! Alerts raised by the live rules: geofences, heart rate, battery, and a collar going
//! offline. Each reaches the owner's WebSocket and the pet's alert list.
//!
//! A watched collar is in live mode, so a collar quiet for 3 × 3 s raises a `silent`
//! `collar_offline` on a slow machine; checks that nothing else was raised therefore look at
//! the kinds a test is about.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{east_of_park, park, wait_for_state, Live, PARK_CENTRE};
use crate::collar::{LiveSocket, TestCollar, QUIET, WILL};
use crate::helpers::{expect_json, spawn_app};

const FENCE_KINDS: [&str; 2] = ["geofence_exit", "geofence_enter"];

#[actix_web::test]
async fn leaving_a_safe_fence_raises_one_geofence_exit_alert() {
    let mut live = Live::start().await;
    let fence_id = live.create_fence("safe", park()).await;
    let (lat, lon) = PARK_CENTRE;
    let inside = live.collar.sample(1, lat, lon, 5.0, json!({}));
    let state = live.publish(&inside).await;
    assert_eq!(state["geofences"]["inside"], json!([fence_id]), "{state}");

    let (lat, lon) = east_of_park(300.0);
    let out = live.collar.sample(2, lat, lon, 5.0, json!({}));
    live.collar.publish_sample(&out).await;
    let (lat, further_lon) = east_of_park(600.0);
    let further = live.collar.sample(3, lat, further_lon, 5.0, json!({}));
    let state = live.publish(&further).await;
    assert_eq!(state["geofences"]["inside"], json!([]), "{state}");

    let pet_id = live.pet_id().to_string();
    let frame = live.socket.next_alert(&pet_id, "geofence_exit").await;
    let alert = &frame["alert"];
    assert_eq!(
        alert["at"], out["ts"],
        "the alert is at the first fix outside: {frame}"
    );
    let details = &alert["details"];
    assert_eq!(details["geofence_id"], fence_id.as_str(), "{frame}");
    assert_eq!(
        (&details["lat"], &details["lon"]),
        (&out["lat"], &out["lon"]),
        "{frame}"
    );
    assert_eq!(details["acc"], 5.0, "{frame}");
    let distance = details["distance_m"].as_f64().unwrap_or_default();
    assert!(
        (250.0..=350.0).contains(&distance),
        "about 300 m out: {frame}"
    );
    live.socket
        .expect_no_alert(&pet_id, &FENCE_KINDS, QUIET)
        .await;

    let listed = live.alerts_of_kind("geofence_exit").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], alert["id"], "{listed:?}");
    assert_eq!(listed[0]["pet_id"], pet_id.as_str(), "{listed:?}");
    assert_eq!(listed[0]["details"], *details, "{listed:?}");
    assert!(listed[0]["acknowledged_at"].is_null(), "{listed:?}");
    assert!(live.alerts_of_kind("geofence_enter").await.is_empty());

    let id = alert["id"].as_str().expect("an alert has an id");
    let ack = live
        .app
        .post(
            &format!("/v1/alerts/{id}/ack"),
            live.owner.bearer(),
            &json!({}),
        )
        .await;
    let acked = expect_json(ack, StatusCode::OK).await;
    assert!(acked["acknowledged_at"].is_i64(), "{acked}");
}

#[actix_web::test]
async fn jitter_at_a_fence_edge_within_the_accuracy_raises_no_alert() {
    let mut live = Live::start().await;
    let fence_id = live.create_fence("safe", park()).await;
    let (lat, lon) = PARK_CENTRE;
    live.publish(&live.collar.sample(1, lat, lon, 5.0, json!({})))
        .await;

    // A fix 5 m outside, then 5 m inside, and so on, each ±20 m: never two outside in a row.
    let mut last = Value::Null;
    for seq in 2..=11 {
        let metres = if seq % 2 == 0 { 5.0 } else { -5.0 };
        let (lat, lon) = east_of_park(metres);
        last = live.collar.sample(seq, lat, lon, 20.0, json!({}));
        live.collar.publish_sample(&last).await;
    }
    let pet_id = live.pet_id().to_string();
    let state = live.socket.next_state_with(&pet_id, &last).await;
    assert_eq!(
        state["state"]["geofences"]["inside"],
        json!([fence_id]),
        "{state}"
    );
    live.socket
        .expect_no_alert(&pet_id, &FENCE_KINDS, QUIET)
        .await;
    for kind in FENCE_KINDS {
        assert_eq!(live.alerts_of_kind(kind).await, Vec::<Value>::new());
    }

    let (lat, lon) = east_of_park(200.0);
    let clear_exit = live.collar.sample(12, lat, lon, 20.0, json!({}));
    live.collar.publish_sample(&clear_exit).await;
    let frame = live.socket.next_alert(&pet_id, "geofence_exit").await;
    assert_eq!(frame["alert"]["at"], clear_exit["ts"], "{frame}");
    assert_eq!(
        frame["alert"]["details"]["lon"], clear_exit["lon"],
        "{frame}"
    );
    assert_eq!(live.alerts_of_kind("geofence_exit").await.len(), 1);
}

#[actix_web::test]
async fn a_high_heart_rate_alerts_once_per_episode_on_every_session_of_the_owner() {
    let mut live = Live::start().await;
    let pet_id = live.pet_id().to_string();
    // Alerts reach every session of the owner, whether it watches the pet or not.
    let mut other_session = LiveSocket::open(&live.app, &live.owner).await;
    let mut seq = 0;
    let mut readings = |live: &Live, rates: &[u64]| -> Vec<Value> {
        rates
            .iter()
            .map(|hr| {
                seq += 1;
                live.collar.reading(seq, json!({"hr": hr}))
            })
            .collect()
    };

    for sample in readings(&live, &[200, 200, 200, 210, 220]) {
        live.collar.publish_sample(&sample).await;
    }
    let first = live.socket.next_alert(&pet_id, "heart_rate_high").await;
    assert_eq!(
        first["alert"]["details"],
        json!({"hr": 200, "min": 50, "max": 180}),
        "a dog's band is 50..=180: {first}"
    );
    other_session.next_alert(&pet_id, "heart_rate_high").await;
    let last = wait_for_hr(&mut live, 220).await;
    live.socket
        .expect_no_alert(&pet_id, &["heart_rate_high"], QUIET)
        .await;
    assert_eq!(
        live.alerts_of_kind("heart_rate_high").await.len(),
        1,
        "after {last}"
    );

    for sample in readings(&live, &[100, 200, 200, 200]) {
        live.collar.publish_sample(&sample).await;
    }
    let second = live.socket.next_alert(&pet_id, "heart_rate_high").await;
    assert_ne!(second["alert"]["id"], first["alert"]["id"]);
    assert_eq!(second["alert"]["details"]["hr"], 200, "{second}");
    live.socket
        .expect_no_alert(&pet_id, &["heart_rate_high"], QUIET)
        .await;
    let listed = live.alerts_of_kind("heart_rate_high").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
}

/// Waits for the state frame whose vitals show `hr`; returns the state.
async fn wait_for_hr(live: &mut Live, hr: u64) -> Value {
    let pet_id = live.pet_id().to_string();
    let frame = live
        .socket
        .next_state(&pet_id, &format!("a state with hr {hr}"), |state| {
            state["vitals"]["hr"] == hr
        })
        .await;
    frame["state"].clone()
}

#[actix_web::test]
async fn a_low_battery_alerts_once_per_discharge() {
    let mut live = Live::start().await;
    let pet_id = live.pet_id().to_string();

    for (seq, bat) in [(1, 16), (2, 15), (3, 10)] {
        let sample = live.collar.reading(seq, json!({"bat": bat}));
        live.collar.publish_sample(&sample).await;
    }
    let first = live.socket.next_alert(&pet_id, "battery_low").await;
    assert_eq!(first["alert"]["details"], json!({"pct": 15}), "{first}");
    live.socket
        .next_state(&pet_id, "battery at 10 %", |s| s["battery"]["pct"] == 10)
        .await;
    live.socket
        .expect_no_alert(&pet_id, &["battery_low"], QUIET)
        .await;
    assert_eq!(live.alerts_of_kind("battery_low").await.len(), 1);

    for (seq, bat) in [(4, 60), (5, 12)] {
        let sample = live.collar.reading(seq, json!({"bat": bat}));
        live.collar.publish_sample(&sample).await;
    }
    let second = live.socket.next_alert(&pet_id, "battery_low").await;
    assert_eq!(second["alert"]["details"], json!({"pct": 12}), "{second}");
    live.socket
        .expect_no_alert(&pet_id, &["battery_low"], QUIET)
        .await;
    assert_eq!(live.alerts_of_kind("battery_low").await.len(), 2);
}

#[actix_web::test]
async fn a_last_will_on_the_status_topic_raises_collar_offline() {
    let mut live = Live::start().await;
    let pet_id = live.pet_id().to_string();
    let sample = live.collar.sample(1, 48.85, 2.35, 5.0, json!({"bat": 80}));
    let state = live.publish(&sample).await;
    assert_eq!(state["online"], true, "{state}");

    live.collar.link.send_retained("status", WILL).await;

    let frame = live.socket.next_alert(&pet_id, "collar_offline").await;
    assert_eq!(frame["alert"]["details"]["reason"], "last_will", "{frame}");
    live.socket
        .next_state(&pet_id, "the pet offline", |s| s["online"] == false)
        .await;
    let state = live.app.pet_state(&live.owner, &pet_id).await;
    assert_eq!(state["online"], false, "{state}");
    let listed = live.alerts_of_kind("collar_offline").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["details"]["reason"], "last_will", "{listed:?}");
}

#[actix_web::test]
async fn a_collar_that_drops_off_without_disconnecting_goes_offline_by_its_last_will() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired_with_will(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    let mut socket = LiveSocket::open(&app, &owner).await;
    socket.subscribe(&[&pet_id]).await;
    collar
        .link
        .send_retained("status", r#"{"v":1,"online":true,"fw":"1.4.2"}"#)
        .await;
    let sample = collar.sample(1, 48.85, 2.35, 5.0, json!({"bat": 80}));
    collar.publish_sample(&sample).await;
    let state = socket.next_state_with(&pet_id, &sample).await;
    assert_eq!(state["state"]["online"], true, "{state}");

    collar.link.drop_connection();

    let frame = socket.next_alert(&pet_id, "collar_offline").await;
    assert_eq!(frame["alert"]["details"]["reason"], "last_will", "{frame}");
    wait_for_state(&app, &owner, &pet_id, "the pet offline", |s| {
        s["online"] == false
    })
    .await;
}

#[actix_web::test]
async fn a_fence_added_or_deleted_while_the_collar_reports_applies_to_its_next_fixes() {
    let mut live = Live::start().await;
    let (lat, lon) = PARK_CENTRE;
    let before = live.collar.sample(1, lat, lon, 5.0, json!({}));
    let state = live.publish(&before).await;
    assert_eq!(
        state["geofences"]["inside"],
        json!([]),
        "no fence yet: {state}"
    );

    // The collar's actor is running now: the new fence must reach it without a restart.
    let fence_id = live.create_fence("safe", park()).await;
    let mut seq = 1;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        seq += 1;
        let sample = live.collar.sample(seq, lat, lon, 5.0, json!({}));
        let state = live.publish(&sample).await;
        if state["geofences"]["inside"] == json!([fence_id.clone()]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new fence never applied: {state}"
        );
    }

    let path = format!("/v1/geofences/{fence_id}");
    let deleted = live.app.delete(&path, live.owner.bearer()).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        seq += 1;
        let sample = live.collar.sample(seq, lat, lon, 5.0, json!({}));
        let state = live.publish(&sample).await;
        if state["geofences"]["inside"] == json!([]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted fence stayed: {state}"
        );
    }
}
