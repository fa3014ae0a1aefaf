//! A collar handed from one owner to another: the new owner sees nothing of the pet it was
//! on before (state, track), a backlog from before the hand-over stays with the old pet, and
//! a sample sent twice counts once in the live state.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{wait_for_sample_applied, wait_for_samples, wait_for_state};
use crate::collar::{now_ms, CollarLink};
use crate::helpers::{
    expect_json, expect_status, spawn_app, string_at, unique_serial, TestApp, TestUser,
};

/// The track of a pet over the last hour, as its owner sees it.
async fn track(app: &TestApp, user: &TestUser, pet_id: &str) -> Vec<Value> {
    let (from, to) = (now_ms() - 3_600_000, now_ms() + 60_000);
    let path = format!("/v1/pets/{pet_id}/track?from={from}&to={to}");
    let track = expect_json(app.get(&path, user.bearer()).await, StatusCode::OK).await;
    track["points"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn a_new_owner_sees_nothing_of_the_pet_the_collar_was_on_before() {
    let app = spawn_app().await;
    let (seller, buyer) = (app.register_someone().await, app.register_someone().await);
    let old_pet = string_at(&app.create_pet(&seller, "Rex").await, "/id");
    let new_pet = string_at(&app.create_pet(&buyer, "Fido").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    let paired = app.pair_collar(&seller, &old_pet, &serial, &code).await;
    let next_code = string_at(&expect_json(paired, StatusCode::OK).await, "/pairing_code");
    let link = CollarLink::connect(&app, &serial, false).await;

    let walk_ts = now_ms() - 60_000;
    let walk = json!({"v": 1, "seq": 1, "ts": walk_ts, "lat": 13.75, "lon": 100.5, "acc": 5.0,
                      "hr": 95, "steps": 500, "bat": 70});
    link.publish_sample(&walk).await;
    wait_for_sample_applied(&app, &seller, &old_pet, &walk).await;

    // The seller unpairs and hands the collar over with its current code.
    let unpair = app
        .delete(&format!("/v1/pets/{old_pet}/collar"), seller.bearer())
        .await;
    expect_status(unpair, StatusCode::NO_CONTENT).await;
    let repaired = app.pair_collar(&buyer, &new_pet, &serial, &next_code).await;
    expect_json(repaired, StatusCode::OK).await;
    let state = wait_for_state(&app, &buyer, &new_pet, "a state with nothing of Rex", |s| {
        s.get("location").is_none()
    })
    .await;
    for field in ["vitals", "activity", "battery"] {
        assert!(
            state.get(field).is_none(),
            "{field} of the old pet: {state}"
        );
    }

    // A backlog the collar recorded on the old pet stays with it.
    let backlog = json!({"v": 1, "samples": [
        {"seq": 2, "ts": walk_ts + 1000, "lat": 13.76, "lon": 100.51, "acc": 5.0, "steps": 40}]});
    link.publish_sample(&backlog).await;
    let db = app.mongo().await;
    let stored = wait_for_samples(&db, &serial, "the backlog", |s| s.len() == 2).await;
    for sample in &stored {
        let meta = sample.get_document("meta").expect("meta");
        assert_eq!(meta.get_str("pet"), Ok(old_pet.as_str()), "{sample}");
    }
    assert!(track(&app, &buyer, &new_pet).await.is_empty());
    assert_eq!(track(&app, &seller, &old_pet).await.len(), 2);

    // From now on the collar's samples are the new pet's, and only theirs.
    let fresh = json!({"v": 1, "seq": 3, "ts": now_ms(), "lat": 13.8, "lon": 100.6, "acc": 5.0,
                       "steps": 7});
    link.publish_sample(&fresh).await;
    let state = wait_for_sample_applied(&app, &buyer, &new_pet, &fresh).await;
    assert_eq!(state["activity"]["steps_today"], 7, "{state}");
    let seller_view = app.pet_state(&seller, &old_pet).await;
    assert!(seller_view.get("location").is_none() || seller_view["location"]["lat"] != 13.8);
    // The live state moves before the sample is stored: wait for the store too.
    wait_for_samples(&db, &serial, "the fresh sample", |s| s.len() == 3).await;
    assert_eq!(track(&app, &buyer, &new_pet).await.len(), 1);
}

#[actix_web::test]
async fn a_sample_sent_twice_counts_its_steps_once() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let collar = crate::collar::TestCollar::paired(&app, &owner).await;
    let first = collar.reading(1, json!({"steps": 40}));
    let second = collar.reading(2, json!({"steps": 60}));
    // A redelivery, and a collar re-sending what it was not sure the broker took.
    for sample in [&first, &first, &second, &first] {
        collar.publish_sample(sample).await;
    }
    // Messages of one collar are applied in order: once the last is, all are.
    let last = collar.reading(3, json!({"steps": 0}));
    collar.publish_sample(&last).await;
    let state = wait_for_sample_applied(&app, &owner, &collar.pet_id, &last).await;
    assert_eq!(state["activity"]["steps_today"], 100, "{state}");
    let db = app.mongo().await;
    wait_for_samples(&db, &collar.serial, "each stored once", |s| s.len() == 3).await;
}

/// Deleting the pet hands the collar on as unpairing does: its time on the deleted pet stays
/// in the collar's history (with no pet), so the next owner is not given the backlog the
/// collar recorded then.
#[actix_web::test]
async fn a_backlog_from_a_deleted_pet_goes_to_no_pet() {
    let app = spawn_app().await;
    let (seller, buyer) = (app.register_someone().await, app.register_someone().await);
    let old_pet = string_at(&app.create_pet(&seller, "Rex").await, "/id");
    let new_pet = string_at(&app.create_pet(&buyer, "Fido").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    let paired = app.pair_collar(&seller, &old_pet, &serial, &code).await;
    let next_code = string_at(&expect_json(paired, StatusCode::OK).await, "/pairing_code");
    let link = CollarLink::connect(&app, &serial, false).await;
    let walk_ts = now_ms() - 60_000;

    let deleted = app
        .delete(&format!("/v1/pets/{old_pet}"), seller.bearer())
        .await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    let repaired = app.pair_collar(&buyer, &new_pet, &serial, &next_code).await;
    expect_json(repaired, StatusCode::OK).await;

    let backlog = json!({"v": 1, "samples": [
        {"seq": 1, "ts": walk_ts, "lat": 13.76, "lon": 100.51, "acc": 5.0, "steps": 40}]});
    link.publish_sample(&backlog).await;
    let db = app.mongo().await;
    let stored = wait_for_samples(&db, &serial, "the backlog", |s| s.len() == 1).await;
    let meta = stored[0].get_document("meta").expect("meta");
    assert!(
        meta.get_str("pet").is_err(),
        "stored with no pet: {}",
        stored[0]
    );
    assert!(track(&app, &buyer, &new_pet).await.is_empty());
}
