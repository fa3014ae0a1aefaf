//! Pets: create, read, patch, delete, validation and the paginated list.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, spawn_app, string_at,
};

#[actix_web::test]
async fn creating_a_pet_returns_it_with_the_owner_role() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let body = json!({
        "name": "Rex", "species": "dog", "breed": "Beagle",
        "birth_date": "2020-02-29", "weight_kg": 12.5,
    });
    let pet = expect_json(
        app.post("/v1/pets", owner.bearer(), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert!(pet["id"].is_string(), "{pet}");
    assert_eq!(pet["name"], "Rex");
    assert_eq!(pet["species"], "dog");
    assert_eq!(pet["breed"], "Beagle");
    assert_eq!(pet["birth_date"], "2020-02-29");
    assert_eq!(pet["weight_kg"], 12.5);
    assert_eq!(pet["owner_id"], owner.id.as_str());
    assert_eq!(pet["role"], "owner");
    assert!(pet["collar_serial"].is_null(), "{pet}");
    assert!(
        pet["created_at"].is_i64() && pet["updated_at"].is_i64(),
        "{pet}"
    );

    let read = app
        .get(
            &format!("/v1/pets/{}", string_at(&pet, "/id")),
            owner.bearer(),
        )
        .await;
    assert_eq!(expect_json(read, StatusCode::OK).await, pet);
}

#[actix_web::test]
async fn optional_pet_fields_default_to_null() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    let pet = app.create_pet(&owner, "Tom").await;
    for field in ["breed", "birth_date", "weight_kg"] {
        assert!(pet[field].is_null(), "{field} in {pet}");
    }
}

#[actix_web::test]
async fn patching_a_pet_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet = app.create_pet(&owner, "Rex").await;
    let path = format!("/v1/pets/{}", string_at(&pet, "/id"));

    let patched = app
        .patch(&path, owner.bearer(), &json!({"weight_kg": 14.5}))
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["weight_kg"], 14.5);
    assert_eq!(patched["name"], "Rex");
    assert_eq!(patched["species"], "dog");

    let invalid = app
        .patch(&path, owner.bearer(), &json!({"species": "dragon"}))
        .await;
    expect_field_error(invalid, "species").await;
}

#[actix_web::test]
async fn a_deleted_pet_is_gone() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet = app.create_pet(&owner, "Rex").await;
    let path = format!("/v1/pets/{}", string_at(&pet, "/id"));

    expect_status(
        app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    expect_problem(
        app.get(&path, owner.bearer()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list = expect_json(app.get("/v1/pets", owner.bearer()).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([]));
}

#[actix_web::test]
async fn each_invalid_pet_field_is_named() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let cases = [
        ("species", json!("dragon")),
        ("species", Value::Null),
        ("name", json!("")),
        ("name", json!("n".repeat(101))),
        ("name", json!(7)),
        ("weight_kg", json!(0)),
        ("weight_kg", json!(-1.5)),
        ("weight_kg", json!(200.5)),
        ("weight_kg", json!("heavy")),
        ("birth_date", json!("2020-13-01")),
        ("birth_date", json!("yesterday")),
    ];
    for (field, value) in cases {
        let mut body = json!({"name": "Rex", "species": "dog"});
        body[field] = value.clone();
        let response = app.post("/v1/pets", owner.bearer(), &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} = {value}"
        );
        expect_field_error(response, field).await;
    }

    let missing = app
        .post("/v1/pets", owner.bearer(), &json!({"name": "Rex"}))
        .await;
    expect_field_error(missing, "species").await;
}

#[actix_web::test]
async fn the_pet_list_is_paginated_with_an_opaque_cursor() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let mut created = Vec::new();
    for name in ["One", "Two", "Three"] {
        created.push(string_at(&app.create_pet(&owner, name).await, "/id"));
    }

    let first = app.get("/v1/pets?limit=2", owner.bearer()).await;
    let first = expect_json(first, StatusCode::OK).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2), "{first}");
    let cursor: String =
        url::form_urlencoded::byte_serialize(string_at(&first, "/next_cursor").as_bytes())
            .collect();
    let second = app
        .get(&format!("/v1/pets?limit=2&cursor={cursor}"), owner.bearer())
        .await;
    let second = expect_json(second, StatusCode::OK).await;
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert!(second["next_cursor"].is_null(), "{second}");

    let mut seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().expect("items").clone())
        .map(|pet| string_at(&pet, "/id"))
        .collect();
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every pet exactly once");
}

#[actix_web::test]
async fn out_of_range_limits_and_forged_cursors_are_refused() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;

    for query in ["limit=0", "limit=101"] {
        let response = app.get(&format!("/v1/pets?{query}"), owner.bearer()).await;
        expect_field_error(response, "limit").await;
    }
    let response = app
        .get("/v1/pets?cursor=not-a-cursor", owner.bearer())
        .await;
    expect_field_error(response, "cursor").await;
    let response = app.get("/v1/pets?limit=100", owner.bearer()).await;
    expect_status(response, StatusCode::OK).await;
}
