//! Push devices: each is an SNS platform endpoint on the configured application.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::PushApp;
use crate::helpers::{expect_field_error, expect_json, expect_problem, expect_status};

#[actix_web::test]
async fn registering_a_device_creates_an_sns_endpoint_and_again_reuses_it() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let token = format!("token-{}", Uuid::new_v4().simple());

    let device = expect_json(
        push.register(&owner, "apns", &token).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(device["platform"], "apns", "{device}");
    assert_eq!(device["enabled"], true, "{device}");
    assert!(device["created_at"].is_i64(), "{device}");
    assert!(
        device.get("token").is_none() && device.get("endpoint_arn").is_none(),
        "{device}"
    );
    let endpoints = push.endpoints("apns").await;
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0].1, token);
    assert!(endpoints[0].2, "the endpoint is enabled");

    let again = expect_json(push.register(&owner, "apns", &token).await, StatusCode::OK).await;
    assert_eq!(
        again["id"], device["id"],
        "the same token is the same device"
    );
    assert_eq!(
        push.endpoints("apns").await.len(),
        1,
        "and the same endpoint"
    );

    let fcm = expect_json(
        push.register(&owner, "fcm", "another-token").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(fcm["platform"], "fcm");
    let listed = expect_json(
        push.app.get("/v1/push-devices", owner.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(
        listed["items"][0]["id"], fcm["id"],
        "newest first: {listed}"
    );
}

#[actix_web::test]
async fn deleting_a_device_deletes_its_endpoint_and_only_its_owner_may() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let stranger = push.app.register_someone().await;
    let phone = push.phone(&owner, "fcm").await;
    let path = format!("/v1/push-devices/{}", phone.id);

    let refused = push.app.delete(&path, stranger.bearer()).await;
    expect_problem(refused, StatusCode::NOT_FOUND, "not_found").await;
    assert!(push.endpoint("fcm", &phone.token).await.is_some());

    expect_status(
        push.app.delete(&path, owner.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(
        push.endpoint("fcm", &phone.token).await.is_none(),
        "the endpoint is deleted"
    );
    let listed = expect_json(
        push.app.get("/v1/push-devices", owner.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let again = push.app.delete(&path, owner.bearer()).await;
    expect_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_token_registered_by_someone_else_moves_to_the_caller() {
    let push = PushApp::start().await;
    let (seller, buyer) = (
        push.app.register_someone().await,
        push.app.register_someone().await,
    );
    let phone = push.phone(&seller, "apns").await;

    let moved = expect_json(
        push.register(&buyer, "apns", &phone.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["id"], phone.id.as_str(), "{moved}");
    let sellers = expect_json(
        push.app.get("/v1/push-devices", seller.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sellers["items"], json!([]), "{sellers}");
    let buyers = expect_json(
        push.app.get("/v1/push-devices", buyer.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(buyers["items"][0]["id"], phone.id.as_str(), "{buyers}");
    assert_eq!(push.endpoints("apns").await.len(), 1);
}

#[actix_web::test]
async fn a_device_for_an_unconfigured_platform_or_with_a_bad_token_is_refused() {
    let push = PushApp::start_with(|s| s.sns_fcm_app_arn = None).await;
    let user = push.app.register_someone().await;

    let unconfigured = push.register(&user, "fcm", "some-token").await;
    let problem = expect_field_error(unconfigured, "platform").await;
    assert!(problem.to_string().contains("not configured"), "{problem}");
    expect_field_error(push.register(&user, "sms", "some-token").await, "platform").await;
    expect_field_error(push.register(&user, "apns", "  ").await, "token").await;
    let long = "a".repeat(4097);
    expect_field_error(push.register(&user, "apns", &long).await, "token").await;
    let missing = push
        .app
        .post(
            "/v1/push-devices",
            user.bearer(),
            &json!({"platform": "apns"}),
        )
        .await;
    expect_field_error(missing, "token").await;
    let anonymous = push
        .app
        .post(
            "/v1/push-devices",
            None,
            &json!({"platform": "apns", "token": "t"}),
        )
        .await;
    expect_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        push.endpoints("apns").await.is_empty(),
        "no endpoint was made"
    );
}
