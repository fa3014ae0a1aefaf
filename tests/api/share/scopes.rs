//! What each scope combination and precision shows, on REST and the WebSocket alike.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{keys, publish_full_sample, shared_view, ShareSocket};
use crate::collar::{TestCollar, QUIET, SETTLE};
use crate::helpers::{spawn_app, string_at};

/// Where the test pet is: central Bangkok.
const WHERE: (f64, f64) = (13.756_331, 100.501_762);

/// The state keys a link with `scopes` (exact precision) shows.
fn allowed(scopes: &[&str]) -> BTreeSet<String> {
    let mut expected = vec!["online", "last_seen", "live"];
    if scopes.contains(&"location") {
        expected.extend(["location", "geofences"]);
    }
    if scopes.contains(&"vitals") {
        expected.extend(["vitals", "battery", "activity"]);
    }
    expected.into_iter().map(str::to_owned).collect()
}

/// Every non-empty subset of location, vitals and alerts, and one with mood.
fn combinations() -> Vec<Vec<&'static str>> {
    let names = ["location", "vitals", "alerts"];
    let mut all: Vec<Vec<&str>> = (1..8u8)
        .map(|mask| {
            (0..3)
                .filter(|bit| mask & (1 << bit) != 0)
                .map(|bit| names[bit])
                .collect()
        })
        .collect();
    all.push(vec!["mood", "vitals"]);
    all
}

/// Checks that a shared `state` shows nothing but its scopes, nor anything about the owner.
fn assert_only(state: &Value, scopes: &[&str], what: &str) {
    let shown = keys(state);
    assert_eq!(shown, allowed(scopes), "{what} for {scopes:?}: {state}");
}

#[actix_web::test]
async fn each_scope_combination_shows_exactly_its_fields_and_alerts_only_with_alerts() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let pet_id = collar.pet_id.clone();
    publish_full_sample(&app, &owner, &collar, 1, WHERE).await;

    let mut viewers = Vec::new();
    for scopes in combinations() {
        let link = app
            .share_link(&owner, &pet_id, &scopes, "exact", 3600)
            .await;
        let token = string_at(&link, "/token");
        let view = shared_view(&app, &token).await;
        assert_eq!(
            keys(&view),
            ["expires_at", "pet", "precision", "scopes", "state"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            "{view}"
        );
        assert_eq!(
            keys(&view["pet"]),
            ["name", "species"].into_iter().map(str::to_owned).collect()
        );
        assert!(!view.to_string().contains(&owner.id), "no owner id: {view}");
        assert!(
            !view.to_string().contains(&owner.email),
            "no owner email: {view}"
        );
        assert!(
            !view.to_string().contains(&collar.serial),
            "no serial: {view}"
        );
        assert_only(&view["state"], &scopes, "REST");

        let mut socket = ShareSocket::open(&app, &token).await;
        let frame = socket.next_of_type("state", SETTLE).await;
        assert_eq!(frame["pet_id"], pet_id.as_str());
        assert_eq!(
            keys(&frame),
            ["pet_id", "state", "type"]
                .into_iter()
                .map(str::to_owned)
                .collect()
        );
        assert_only(&frame["state"], &scopes, "WebSocket");
        viewers.push((scopes, socket));
    }

    // A live sample reaches every viewer, each cut to its scopes; then a low battery alerts.
    let sample = collar.sample(
        2,
        WHERE.0,
        WHERE.1,
        4.0,
        json!({"hr": 97, "temp": 38.5, "bat": 10, "steps": 50, "act": "rest"}),
    );
    collar.publish_sample(&sample).await;
    for (scopes, socket) in &mut viewers {
        let frame = loop {
            let frame = socket.next_of_type("state", SETTLE).await;
            if frame["state"]["last_seen"] == sample["ts"] {
                break frame;
            }
        };
        assert_only(&frame["state"], scopes, "a live WebSocket state");
        assert!(!frame.to_string().contains(&collar.serial));
    }
    for (scopes, socket) in &mut viewers {
        if scopes.contains(&"alerts") {
            let alert = socket.next_of_type("alert", SETTLE).await;
            assert_eq!(alert["pet_id"], pet_id.as_str());
            assert_eq!(alert["alert"]["kind"], "battery_low");
            let details = if scopes.contains(&"vitals") {
                json!({"pct": 10})
            } else {
                json!({})
            };
            assert_eq!(alert["alert"]["details"], details, "{scopes:?}: {alert}");
        }
    }
    for (scopes, socket) in &mut viewers {
        if !scopes.contains(&"alerts") {
            socket.expect_no_frame_of_type("alert", QUIET).await;
        }
    }
}

#[actix_web::test]
async fn approximate_precision_shows_the_centre_of_the_cell_and_never_the_position() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let sample = publish_full_sample(&app, &owner, &collar, 1, WHERE).await;
    let resolution = h3o::Resolution::try_from(app.settings.share_h3_resolution).unwrap();
    let cell = h3o::LatLng::new(WHERE.0, WHERE.1)
        .unwrap()
        .to_cell(resolution);
    let centre = h3o::LatLng::from(cell);

    let rough = app
        .share_link(&owner, &collar.pet_id, &["location"], "approximate", 3600)
        .await;
    let rough_token = string_at(&rough, "/token");
    let exact = app
        .share_link(&owner, &collar.pet_id, &["location"], "exact", 3600)
        .await;
    let exact_token = string_at(&exact, "/token");

    let mut socket = ShareSocket::open(&app, &rough_token).await;
    let frame = socket.next_of_type("state", SETTLE).await;
    let rest = shared_view(&app, &rough_token).await;
    assert_eq!(rest["precision"], "approximate");
    for (what, state) in [("REST", &rest["state"]), ("WebSocket", &frame["state"])] {
        let location = &state["location"];
        assert_eq!(location["lat"], centre.lat(), "{what}: {state}");
        assert_eq!(location["lon"], centre.lng(), "{what}: {state}");
        assert_eq!(location["h3"], cell.to_string(), "{what}: {state}");
        assert_eq!(location["at"], sample["ts"], "{what}: {state}");
        let acc = location["acc"].as_f64().unwrap();
        assert!(
            acc >= 300.0,
            "{what}: a res-8 cell is hundreds of metres across: {acc}"
        );
        assert!(
            state.get("geofences").is_none(),
            "{what}: fences can be finer than a cell"
        );
        let text = state.to_string();
        for exact in [&sample["lat"], &sample["lon"]] {
            assert!(
                !text.contains(&exact.to_string()),
                "{what} leaks {exact}: {text}"
            );
        }
    }

    let exact_view = shared_view(&app, &exact_token).await;
    let location = &exact_view["state"]["location"];
    assert_eq!(location["lat"], sample["lat"], "{exact_view}");
    assert_eq!(location["lon"], sample["lon"], "{exact_view}");
    assert_eq!(location["acc"], sample["acc"], "{exact_view}");
}

#[actix_web::test]
async fn a_link_of_one_pet_cannot_read_another() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let shown = TestCollar::paired(&app, &owner).await;
    let other = TestCollar::paired(&app, &owner).await;
    publish_full_sample(&app, &owner, &shown, 1, WHERE).await;
    publish_full_sample(&app, &owner, &other, 1, (48.85, 2.35)).await;

    let link = app
        .share_link(
            &owner,
            &shown.pet_id,
            &["location", "vitals"],
            "exact",
            3600,
        )
        .await;
    let token = string_at(&link, "/token");
    let view = shared_view(&app, &token).await;
    assert_eq!(view["state"]["location"]["lat"], WHERE.0, "{view}");

    let mut socket = ShareSocket::open(&app, &token).await;
    let first = socket.next_of_type("state", SETTLE).await;
    assert_eq!(first["pet_id"], shown.pet_id.as_str());
    socket
        .send_json(&json!({"type": "subscribe", "pet_ids": [other.pet_id]}))
        .await;
    let refused = socket.next_of_type("error", SETTLE).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    socket
        .send_json(&json!({"type": "unsubscribe", "pet_ids": [shown.pet_id]}))
        .await;

    let sample = other.sample(2, 48.86, 2.36, 5.0, json!({"hr": 99}));
    other.publish_sample(&sample).await;
    let mine = shown.sample(2, WHERE.0, WHERE.1, 5.0, json!({"hr": 98}));
    shown.publish_sample(&mine).await;
    let frame = loop {
        let frame = socket.next_of_type("state", SETTLE).await;
        assert_eq!(
            frame["pet_id"],
            shown.pet_id.as_str(),
            "only its own pet: {frame}"
        );
        if frame["state"]["last_seen"] == mine["ts"] {
            break frame;
        }
    };
    assert_eq!(frame["state"]["vitals"]["hr"], 98);
}
