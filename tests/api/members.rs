//! Family members of a pet: adding by email, listing, conflicts and removal.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, spawn_app, string_at,
    unique_email,
};

#[actix_web::test]
async fn a_member_added_by_email_is_listed_and_sees_the_pet() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");

    let added = app.add_member(&owner, &pet_id, &member.email).await;
    assert_eq!(added["pet_id"], pet_id.as_str());
    assert_eq!(added["user_id"], member.id.as_str());
    assert_eq!(added["email"], member.email.as_str());
    assert_eq!(added["display_name"], "Tester");
    assert_eq!(added["role"], "family");
    assert!(added["created_at"].is_i64(), "{added}");

    let list = app
        .get(&format!("/v1/pets/{pet_id}/members"), owner.bearer())
        .await;
    let list = expect_json(list, StatusCode::OK).await;
    let items = list["items"].as_array().expect("a list has items");
    assert!(
        items.iter().any(|m| m["user_id"] == member.id.as_str()),
        "{list}"
    );
    assert!(list.get("next_cursor").is_some(), "{list}");

    let pet = app
        .get(&format!("/v1/pets/{pet_id}"), member.bearer())
        .await;
    assert_eq!(expect_json(pet, StatusCode::OK).await["role"], "family");
}

#[actix_web::test]
async fn adding_the_same_member_twice_is_a_conflict() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    app.add_member(&owner, &pet_id, &member.email).await;

    let body = json!({"email": member.email, "role": "family"});
    let again = app
        .post(&format!("/v1/pets/{pet_id}/members"), owner.bearer(), &body)
        .await;
    expect_problem(again, StatusCode::CONFLICT, "already_member").await;
}

#[actix_web::test]
async fn an_unknown_email_or_role_is_refused_by_field() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let members = format!(
        "/v1/pets/{}/members",
        string_at(&app.create_pet(&owner, "Rex").await, "/id")
    );

    let unknown = json!({"email": unique_email(), "role": "family"});
    expect_field_error(app.post(&members, owner.bearer(), &unknown).await, "email").await;
    let bad_role = json!({"email": member.email, "role": "admin"});
    expect_field_error(app.post(&members, owner.bearer(), &bad_role).await, "role").await;
}

#[actix_web::test]
async fn a_removed_member_no_longer_sees_the_pet() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    app.add_member(&owner, &pet_id, &member.email).await;

    let membership = format!("/v1/pets/{pet_id}/members/{}", member.id);
    expect_status(
        app.delete(&membership, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    let pet = app
        .get(&format!("/v1/pets/{pet_id}"), member.bearer())
        .await;
    expect_problem(pet, StatusCode::NOT_FOUND, "not_found").await;
    let list = expect_json(app.get("/v1/pets", member.bearer()).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([]));
}
