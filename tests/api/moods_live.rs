//! Moods live: a clip published over MQTT becomes a `mood` frame on the owner's WebSocket
//! and the `mood` of the pet's state (REST and WebSocket); a share viewer sees both only
//! when its link has the `mood` scope.

use reqwest::StatusCode;
use serde_json::{json, Value};

use pettysync::mood::Mood;

use crate::collar::{LiveSocket, TestCollar, QUIET, SETTLE};
use crate::helpers::{expect_json, poll_until, string_at, TestApp};
use crate::moods::{mood_app, voice_message, CLASSIFIED};
use crate::share::{shared_view, ShareSocket};

/// Waits until the server has trained its seed model, so a clip is classified at once.
async fn model_ready(app: &TestApp) {
    poll_until("the seed model", CLASSIFIED, || async {
        let response = app
            .get("/v1/admin/mood/models", Some(&app.admin_token))
            .await;
        let list = expect_json(response, StatusCode::OK).await;
        match list["active_version"] {
            Value::Null => Err("no active model yet".to_owned()),
            _ => Ok(()),
        }
    })
    .await;
}

/// The state's `mood` as a `mood` frame shows it.
fn as_state(frame: &Value) -> Value {
    let mood = &frame["mood"];
    json!({"mood": mood["mood"], "confidence": mood["confidence"], "at": mood["at"]})
}

#[actix_web::test]
async fn a_clip_reaches_the_owner_and_share_viewers_with_the_mood_scope_only() {
    let app = mood_app().await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let pet = collar.pet_id.clone();
    model_ready(&app).await;

    let mut socket = LiveSocket::open(&app, &owner).await;
    socket.subscribe(&[&pet]).await;
    socket.next_of_type("state", SETTLE).await;
    let token = |link: &Value| string_at(link, "/token");
    let with = token(
        &app.share_link(&owner, &pet, &["mood", "location"], "exact", 3600)
            .await,
    );
    let without = token(
        &app.share_link(
            &owner,
            &pet,
            &["location", "vitals", "alerts"],
            "exact",
            3600,
        )
        .await,
    );
    let mut viewer = ShareSocket::open(&app, &with).await;
    let mut outsider = ShareSocket::open(&app, &without).await;
    viewer.next_of_type("state", SETTLE).await;
    outsider.next_of_type("state", SETTLE).await;

    collar
        .link
        .send_raw("voice", voice_message(Mood::Anxious, 1, 1))
        .await;

    // The owner: a `mood` frame as the live protocol shows it, then the state's `mood`.
    let frame = socket.next_of_type("mood", SETTLE).await;
    assert_eq!(frame["pet_id"], pet.as_str(), "{frame}");
    let mut fields: Vec<_> = frame["mood"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["at", "confidence", "id", "mood"], "{frame}");
    assert_eq!(frame["mood"]["mood"], "anxious", "{frame}");
    let state_mood = as_state(&frame);
    let live = socket
        .next_state(&pet, "a state with the mood", |s| s["mood"] == state_mood)
        .await;
    assert_eq!(live["state"]["mood"], state_mood);
    let state = app.pet_state(&owner, &pet).await;
    assert_eq!(state["mood"], state_mood, "{state}");
    let from = frame["mood"]["at"].as_i64().unwrap() - 1;
    let listed = expect_json(
        app.get(&format!("/v1/pets/{pet}/moods?from={from}"), owner.bearer())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], frame["mood"]["id"], "{listed}");

    // A viewer with the `mood` scope: the same frame, and the mood in its state.
    let shown = viewer.next_of_type("mood", SETTLE).await;
    assert_eq!(shown, frame);
    let rest = shared_view(&app, &with).await;
    assert_eq!(rest["state"]["mood"], state_mood, "{rest}");
    // Its states until the one with the mood (each wait is bounded by SETTLE).
    while viewer.next_of_type("state", SETTLE).await["state"]["mood"] != state_mood {}

    // A viewer without it: no frame, and no `mood` in its states (it got the new one too).
    outsider.expect_no_frame_of_type("mood", QUIET).await;
    let states = outsider.take_kept();
    assert!(states.iter().any(|f| f["type"] == "state"), "{states:?}");
    assert!(
        states.iter().all(|f| f["state"].get("mood").is_none()),
        "{states:?}"
    );
    let rest = shared_view(&app, &without).await;
    assert!(rest["state"].get("mood").is_none(), "{rest}");
}
