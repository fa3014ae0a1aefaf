//! Collar provisioning (admin only) and pairing collars to pets.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, spawn_app, string_at,
    unique_serial, TestApp,
};

async fn provision(app: &TestApp, token: Option<&str>, serial: &str) -> reqwest::Response {
    app.post("/v1/admin/collars", token, &json!({"serial": serial}))
        .await
}

/// A problem without the members that may legitimately differ between two requests.
fn comparable(mut problem: Value) -> Value {
    if let Some(members) = problem.as_object_mut() {
        members.remove("instance");
    }
    problem
}

/// The same code with its last character changed to another of the same kind.
fn altered(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let last = chars.pop().expect("a pairing code is not empty");
    let replacement = match last {
        '0'..='8' => ((last as u8) + 1) as char,
        '9' => '0',
        'a'..='y' | 'A'..='Y' => ((last as u8) + 1) as char,
        'z' => 'a',
        'Z' => 'A',
        _ => '0',
    };
    chars.push(replacement);
    chars.into_iter().collect()
}

#[actix_web::test]
async fn provisioning_a_collar_requires_the_admin_token() {
    let app = spawn_app().await;
    let user = app.register_someone().await;
    let serial = unique_serial();

    for token in [None, Some("not-the-admin-token"), user.bearer()] {
        let response = provision(&app, token, &serial).await;
        expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }

    let collar = expect_json(
        provision(&app, Some(&app.admin_token), &serial).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(collar["serial"], serial.as_str());
    assert!(
        collar["pairing_code"]
            .as_str()
            .is_some_and(|code| !code.is_empty()),
        "{collar}"
    );
}

#[actix_web::test]
async fn provisioning_the_same_serial_twice_is_a_conflict() {
    let app = spawn_app().await;
    let serial = unique_serial();
    app.provision_collar(&serial).await;

    let again = provision(&app, Some(&app.admin_token), &serial).await;
    expect_problem(again, StatusCode::CONFLICT, "collar_exists").await;
}

#[actix_web::test]
async fn a_malformed_serial_is_refused() {
    let app = spawn_app().await;

    for serial in [
        "abc".to_string(),
        "S".repeat(65),
        "has space".into(),
        "ünïcode-1".into(),
    ] {
        let response = provision(&app, Some(&app.admin_token), &serial).await;
        expect_field_error(response, "serial").await;
    }
    for serial in ["abcd".to_string(), "S".repeat(64), "Ab_9-z".into()] {
        let response = provision(&app, Some(&app.admin_token), &serial).await;
        expect_status(response, StatusCode::CREATED).await;
    }
}

#[actix_web::test]
async fn pairing_with_the_right_code_attaches_the_collar_to_the_pet() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;

    let pairing = app.pair_collar(&owner, &pet_id, &serial, &code).await;
    let pairing = expect_json(pairing, StatusCode::OK).await;
    assert_eq!(pairing["serial"], serial.as_str());
    assert_eq!(pairing["pet_id"], pet_id.as_str());
    assert!(pairing["paired_at"].is_i64(), "{pairing}");
    assert!(pairing["interval_s"].is_u64(), "{pairing}");

    let pet = app.get(&format!("/v1/pets/{pet_id}"), owner.bearer()).await;
    assert_eq!(
        expect_json(pet, StatusCode::OK).await["collar_serial"],
        serial.as_str()
    );
}

#[actix_web::test]
async fn a_failed_pairing_does_not_reveal_whether_the_serial_exists() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;

    let wrong = app
        .pair_collar(&owner, &pet_id, &serial, &altered(&code))
        .await;
    let wrong = expect_problem(wrong, StatusCode::UNPROCESSABLE_ENTITY, "pairing_failed").await;
    let unknown = app
        .pair_collar(&owner, &pet_id, &unique_serial(), &code)
        .await;
    let unknown = expect_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "pairing_failed").await;
    assert_eq!(comparable(wrong), comparable(unknown));

    let pet = app.get(&format!("/v1/pets/{pet_id}"), owner.bearer()).await;
    assert!(expect_json(pet, StatusCode::OK).await["collar_serial"].is_null());
}

#[actix_web::test]
async fn a_collar_cannot_be_paired_to_two_pets() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let first = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let second = string_at(&app.create_pet(&owner, "Fido").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    let paired = expect_json(
        app.pair_collar(&owner, &first, &serial, &code).await,
        StatusCode::OK,
    )
    .await;
    // Even with the collar's current code (the one used is spent), it stays on one pet.
    let next_code = string_at(&paired, "/pairing_code");
    let twice = app.pair_collar(&owner, &second, &serial, &next_code).await;
    expect_problem(twice, StatusCode::CONFLICT, "collar_already_paired").await;
    let pet = app.get(&format!("/v1/pets/{second}"), owner.bearer()).await;
    assert!(expect_json(pet, StatusCode::OK).await["collar_serial"].is_null());
}

#[actix_web::test]
async fn a_pet_cannot_wear_two_collars() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let (first, second) = (unique_serial(), unique_serial());
    let first_code = app.provision_collar(&first).await;
    let second_code = app.provision_collar(&second).await;
    expect_status(
        app.pair_collar(&owner, &pet_id, &first, &first_code).await,
        StatusCode::OK,
    )
    .await;

    let another = app
        .pair_collar(&owner, &pet_id, &second, &second_code)
        .await;
    expect_problem(another, StatusCode::CONFLICT, "pet_has_collar").await;
}

#[actix_web::test]
async fn unpairing_removes_the_collar_from_the_pet() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let collar_path = format!("/v1/pets/{pet_id}/collar");
    expect_problem(
        app.delete(&collar_path, owner.bearer()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    expect_status(
        app.pair_collar(&owner, &pet_id, &serial, &code).await,
        StatusCode::OK,
    )
    .await;

    expect_status(
        app.delete(&collar_path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    let pet = app.get(&format!("/v1/pets/{pet_id}"), owner.bearer()).await;
    assert!(expect_json(pet, StatusCode::OK).await["collar_serial"].is_null());
    let again = app.delete(&collar_path, owner.bearer()).await;
    expect_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn pairing_spends_the_code_and_shows_the_next_one_once() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let serial = unique_serial();
    let code = app.provision_collar(&serial).await;
    let paired = expect_json(
        app.pair_collar(&owner, &pet_id, &serial, &code).await,
        StatusCode::OK,
    )
    .await;
    let next_code = string_at(&paired, "/pairing_code");
    assert_ne!(next_code, code, "a new code replaces the one used");
    let path = format!("/v1/pets/{pet_id}/collar");
    expect_status(
        app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    // The collar changes hands: the code on its box no longer pairs it, the new one does.
    let buyer = app.register_someone().await;
    let their_pet = string_at(&app.create_pet(&buyer, "Fido").await, "/id");
    let with_old = app.pair_collar(&buyer, &their_pet, &serial, &code).await;
    expect_problem(with_old, StatusCode::UNPROCESSABLE_ENTITY, "pairing_failed").await;
    let with_new = app
        .pair_collar(&buyer, &their_pet, &serial, &next_code)
        .await;
    let repaired = expect_json(with_new, StatusCode::OK).await;
    assert_ne!(string_at(&repaired, "/pairing_code"), next_code);
}
