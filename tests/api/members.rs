//! Family members of a pet: adding by email (the same answer for any address; an account
//! joins at once, an address without one claims the invitation with its code once it has an
//! account — registering the address alone is not enough), listing, conflicts, removal.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    content_type, expect_field_error, expect_json, expect_problem, expect_status, read, spawn_app,
    string_at, unique_email,
};

/// The keys of a JSON object.
fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn a_member_added_by_email_is_listed_and_sees_the_pet() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");

    let added = app.add_member(&owner, &pet_id, &member.email).await;
    assert_eq!(added["pet_id"], pet_id.as_str());
    assert_eq!(added["email"], member.email.as_str());
    assert_eq!(added["role"], "family");
    assert!(added["created_at"].is_i64(), "{added}");

    let list = app
        .get(&format!("/v1/pets/{pet_id}/members"), owner.bearer())
        .await;
    let list = expect_json(list, StatusCode::OK).await;
    let items = list["items"].as_array().expect("a list has items");
    let listed = items
        .iter()
        .find(|m| m["user_id"] == member.id.as_str())
        .unwrap_or_else(|| panic!("the member is listed at once: {list}"));
    assert_eq!(listed["email"], member.email.as_str());
    assert_eq!(listed["display_name"], "Tester");
    assert_eq!(listed["role"], "family");
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
async fn a_bad_address_or_role_is_refused_by_field() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let member = app.register_someone().await;
    let members = format!(
        "/v1/pets/{}/members",
        string_at(&app.create_pet(&owner, "Rex").await, "/id")
    );

    let not_an_address = json!({"email": "rex at home", "role": "family"});
    expect_field_error(
        app.post(&members, owner.bearer(), &not_an_address).await,
        "email",
    )
    .await;
    let too_long = json!({"email": format!("{}@example.com", "a".repeat(250)), "role": "family"});
    expect_field_error(app.post(&members, owner.bearer(), &too_long).await, "email").await;
    let bad_role = json!({"email": member.email, "role": "admin"});
    expect_field_error(app.post(&members, owner.bearer(), &bad_role).await, "role").await;
    let own = json!({"email": owner.email.to_uppercase(), "role": "family"});
    expect_field_error(app.post(&members, owner.bearer(), &own).await, "email").await;
}

#[actix_web::test]
async fn adding_an_address_answers_the_same_whether_or_not_it_has_an_account() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let known = app.register_someone().await;
    let unknown = unique_email();
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let members = format!("/v1/pets/{pet_id}/members");

    let mut answers = Vec::new();
    for email in [known.email.as_str(), unknown.as_str()] {
        let body = json!({"email": email, "role": "family"});
        let (status, headers, text) = read(app.post(&members, owner.bearer(), &body).await).await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let answer: Value = serde_json::from_str(&text).expect("the answer is JSON");
        assert_eq!(answer["email"], email);
        assert_eq!(answer["pet_id"], pet_id.as_str());
        assert_eq!(answer["role"], "family");
        answers.push((content_type(&headers), keys(&answer)));
    }
    assert_eq!(answers[0], answers[1], "the same shape for both");
    assert!(!answers[0].1.contains("user_id"), "{answers:?}");
    assert!(!answers[0].1.contains("display_name"), "{answers:?}");

    // The account joined; the address without one did not join by registering.
    let pet = app.get(&format!("/v1/pets/{pet_id}"), known.bearer()).await;
    assert_eq!(expect_json(pet, StatusCode::OK).await["role"], "family");
    let newcomer = app.register(&unknown).await;
    let pet_path = format!("/v1/pets/{pet_id}");
    let pet = app.get(&pet_path, newcomer.bearer()).await;
    expect_problem(pet, StatusCode::NOT_FOUND, "not_found").await;
}

/// Nobody verifies that whoever registers an address owns it: the invitation is claimed
/// with the code the owner passed on, by an account with the invited address only.
#[actix_web::test]
async fn an_invitation_is_claimed_with_its_code_by_the_invited_address_only() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let address = unique_email();
    let added = app.add_member(&owner, &pet_id, &address).await;
    let code = string_at(&added, "/code");
    let claim = |code: &str| json!({"code": code});

    let stranger = app.register_someone().await;
    let by_stranger = app
        .post("/v1/invitations/claim", stranger.bearer(), &claim(&code))
        .await;
    expect_problem(by_stranger, StatusCode::NOT_FOUND, "not_found").await;
    let invitee = app.register(&address).await;
    let wrong = app
        .post(
            "/v1/invitations/claim",
            invitee.bearer(),
            &claim("not-the-code"),
        )
        .await;
    expect_problem(wrong, StatusCode::NOT_FOUND, "not_found").await;

    let joined = app
        .post("/v1/invitations/claim", invitee.bearer(), &claim(&code))
        .await;
    let joined = expect_json(joined, StatusCode::OK).await;
    assert_eq!(joined, json!({"pet_id": pet_id, "role": "family"}));
    let pet = app
        .get(&format!("/v1/pets/{pet_id}"), invitee.bearer())
        .await;
    assert_eq!(expect_json(pet, StatusCode::OK).await["role"], "family");
    // A code claims once.
    let again = app
        .post("/v1/invitations/claim", invitee.bearer(), &claim(&code))
        .await;
    expect_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_withdrawn_addition_cannot_be_claimed() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let address = unique_email();
    let added = app.add_member(&owner, &pet_id, &address).await;
    let code = string_at(&added, "/code");
    let withdraw = format!("/v1/pets/{pet_id}/invitations/{}", string_at(&added, "/id"));
    expect_status(
        app.delete(&withdraw, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    // Withdrawing again (or one that joined already) answers the same.
    expect_status(
        app.delete(&withdraw, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let stranger = app.register_someone().await;
    let by_stranger = app.delete(&withdraw, stranger.bearer()).await;
    expect_problem(by_stranger, StatusCode::NOT_FOUND, "not_found").await;

    let newcomer = app.register(&address).await;
    let claim = json!({"code": code});
    let claimed = app
        .post("/v1/invitations/claim", newcomer.bearer(), &claim)
        .await;
    expect_problem(claimed, StatusCode::NOT_FOUND, "not_found").await;
    let pet = app
        .get(&format!("/v1/pets/{pet_id}"), newcomer.bearer())
        .await;
    expect_problem(pet, StatusCode::NOT_FOUND, "not_found").await;
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
