//! Creating, listing and revoking share links, and who may.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::collar::now_ms;
use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, spawn_app, string_at,
};

#[actix_web::test]
async fn a_link_has_a_random_token_shown_once_and_stored_only_hashed() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");

    let before = now_ms();
    let body = json!({
        "label": "Dr. Vega", "expires_in_s": 3600,
        "scopes": ["vitals", "location"], "precision": "approximate",
    });
    let link = expect_json(
        app.create_share_link(&owner, &pet_id, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let token = string_at(&link, "/token");
    let raw = URL_SAFE_NO_PAD
        .decode(&token)
        .unwrap_or_else(|e| panic!("the token is base64url ({e}): {token}"));
    assert!(raw.len() >= 16, "at least 128 random bits: {token}");
    assert_eq!(
        link["url"],
        format!(
            "{}/s/{token}",
            app.settings.public_url.trim_end_matches('/')
        )
    );
    assert_eq!(link["label"], "Dr. Vega");
    assert_eq!(link["scopes"], json!(["location", "vitals"]));
    assert_eq!(link["precision"], "approximate");
    let expires_at = link["expires_at"].as_i64().unwrap();
    assert!(
        (before + 3_600_000..=now_ms() + 3_600_000).contains(&expires_at),
        "{link}"
    );

    let pg = app.pg().await;
    let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT token_hash FROM share_links WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&string_at(&link, "/id")).unwrap())
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_ne!(stored, token.as_bytes());
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
    let (mentions,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM share_links WHERE share_links::text LIKE $1")
            .bind(format!("%{token}%"))
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(mentions, 0, "no column holds the token itself");

    let second = app
        .share_link(&owner, &pet_id, &["alerts"], "exact", 60)
        .await;
    assert_ne!(second["token"], link["token"]);
    let list = expect_json(
        app.get(&format!("/v1/pets/{pet_id}/share-links"), owner.bearer())
            .await,
        StatusCode::OK,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(list["next_cursor"], json!(null));
    for item in items {
        assert!(
            item.get("token").is_none(),
            "a list never shows tokens: {item}"
        );
        assert!(!item.to_string().contains(&token));
        assert_eq!(item["active"], true);
        assert_eq!(item["revoked_at"], json!(null));
    }
    assert_eq!(items[0]["id"], link["id"], "oldest first");
}

#[actix_web::test]
async fn owner_and_family_may_share_and_revoke_and_a_stranger_sees_nothing() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let family = app.register_someone().await;
    let stranger = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    app.add_member(&owner, &pet_id, &family.email).await;

    let by_family = app
        .share_link(&family, &pet_id, &["location"], "exact", 60)
        .await;
    let body = json!({"scopes": ["location"], "precision": "exact", "expires_in_s": 60});
    let refused = app.create_share_link(&stranger, &pet_id, &body).await;
    expect_problem(refused, StatusCode::NOT_FOUND, "not_found").await;
    let listed = app
        .get(&format!("/v1/pets/{pet_id}/share-links"), stranger.bearer())
        .await;
    expect_problem(listed, StatusCode::NOT_FOUND, "not_found").await;

    let path = format!("/v1/share-links/{}", string_at(&by_family, "/id"));
    let revoked = app.delete(&path, stranger.bearer()).await;
    expect_problem(revoked, StatusCode::NOT_FOUND, "not_found").await;
    expect_status(
        app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        app.delete(&path, family.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let unknown = format!("/v1/share-links/{}", uuid::Uuid::new_v4());
    let missing = app.delete(&unknown, owner.bearer()).await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not_found").await;

    let list = expect_json(
        app.get(&format!("/v1/pets/{pet_id}/share-links"), owner.bearer())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"][0]["active"], false, "{list}");
    assert!(list["items"][0]["revoked_at"].is_i64(), "{list}");
}

#[actix_web::test]
async fn the_list_says_who_created_each_link_and_a_removed_members_links_are_revoked() {
    let app = spawn_app().await;
    let owner = app.register_someone().await;
    let family = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    app.add_member(&owner, &pet_id, &family.email).await;
    let by_owner = app
        .share_link(&owner, &pet_id, &["location"], "exact", 60)
        .await;
    let by_family = app
        .share_link(&family, &pet_id, &["location"], "exact", 60)
        .await;
    let links = format!("/v1/pets/{pet_id}/share-links");
    let list = expect_json(app.get(&links, owner.bearer()).await, StatusCode::OK).await;
    let creators: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| (link["id"].clone(), link["created_by"].clone()))
        .collect();
    assert_eq!(
        creators,
        [
            (by_owner["id"].clone(), json!(owner.id)),
            (by_family["id"].clone(), json!(family.id)),
        ]
    );

    let removal = format!("/v1/pets/{pet_id}/members/{}", family.id);
    expect_status(
        app.delete(&removal, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let list = expect_json(app.get(&links, owner.bearer()).await, StatusCode::OK).await;
    let active: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| (link["created_by"].clone(), link["active"].clone()))
        .collect();
    assert_eq!(
        active,
        [
            (json!(owner.id), json!(true)),
            (json!(family.id), json!(false))
        ]
    );
}

#[actix_web::test]
async fn a_link_needs_a_named_expiry_known_scopes_and_a_precision() {
    let app = spawn_app_with_max_expiry(600).await;
    let owner = app.register_someone().await;
    let pet_id = string_at(&app.create_pet(&owner, "Rex").await, "/id");
    let ok = json!({"scopes": ["location"], "precision": "exact", "expires_in_s": 600});
    let cases = [
        ("expires_in_s", json!({"expires_in_s": 0})),
        ("expires_in_s", json!({"expires_in_s": 601})),
        ("scopes", json!({"scopes": []})),
        ("scopes", json!({"scopes": ["location", "location"]})),
        ("scopes", json!({"scopes": ["history"]})),
        ("precision", json!({"precision": "street"})),
        ("label", json!({"label": "x".repeat(101)})),
    ];
    for (field, change) in cases {
        let mut body = ok.clone();
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = app.create_share_link(&owner, &pet_id, &body).await;
        expect_field_error(response, field).await;
    }
    let created = app.create_share_link(&owner, &pet_id, &ok).await;
    expect_json(created, StatusCode::CREATED).await;
}

async fn spawn_app_with_max_expiry(max: u64) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|settings| settings.share_max_expiry_s = max).await
}
