//! Alerts raised by a real collar become notifications and pushes: one per enabled device
//! of the owner and family, none to a disabled endpoint, one per burst, and none lost while
//! SNS is down.

use pettysync::config::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{battery, payload, PushApp};
use crate::collar::{TestCollar, SETTLE};
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{expect_json, poll_until};

#[actix_web::test]
async fn an_alert_is_pushed_once_to_each_enabled_device_of_the_owner_and_family() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let family = push.app.register_someone().await;
    let stranger = push.app.register_someone().await;
    let collar = TestCollar::paired(&push.app, &owner).await;
    push.app
        .add_member(&owner, &collar.pet_id, &family.email)
        .await;
    let phones = [
        push.phone(&owner, "apns").await,
        push.phone(&owner, "fcm").await,
        push.phone(&family, "fcm").await,
    ];
    let strangers = push.phone(&stranger, "apns").await;

    battery(&collar, 1, &[10]).await;

    for user in [&owner, &family] {
        let listed = push.notifications(user, 1).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        let notification = &listed[0];
        assert_eq!(notification["kind"], "battery_low", "{notification}");
        assert_eq!(notification["read_at"], Value::Null);
        assert_eq!(notification["data"]["pet_id"], collar.pet_id.as_str());
        assert_eq!(notification["data"]["details"]["pct"], 10);
    }
    push.settled().await;
    let pet_name = push.notifications(&owner, 1).await[0]["data"]["pet_name"].clone();
    let pet_name = pet_name
        .as_str()
        .expect("the pet's name is in the data")
        .to_owned();
    for phone in &phones {
        let messages = push.published(&phone.endpoint_arn).await;
        assert_eq!(messages.len(), 1, "one publish per device: {messages:?}");
        let message = &messages[0];
        let body = format!("{pet_name}'s collar battery is low (10 %)");
        assert_eq!(message["default"], body.as_str(), "{message}");
        let apns = payload(message, "APNS");
        assert_eq!(apns["aps"]["alert"]["body"], body.as_str(), "{apns}");
        assert_eq!(apns["kind"], "battery_low");
        assert_eq!(payload(message, "APNS_SANDBOX"), apns);
        let gcm = payload(message, "GCM");
        assert_eq!(gcm["notification"]["body"], body.as_str(), "{gcm}");
        assert_eq!(gcm["data"]["pet_id"], collar.pet_id.as_str(), "{gcm}");
    }
    assert!(push.published(&strangers.endpoint_arn).await.is_empty());
    let listed = expect_json(
        push.app.get("/v1/notifications", stranger.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"], json!([]), "{listed}");
}

#[actix_web::test]
async fn a_disabled_endpoint_is_marked_and_never_used_again() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let collar = TestCollar::paired(&push.app, &owner).await;
    let (dead, alive) = (
        push.phone(&owner, "apns").await,
        push.phone(&owner, "fcm").await,
    );
    push.sns
        .set_endpoint_attributes()
        .endpoint_arn(&dead.endpoint_arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("SNS disables the endpoint");

    battery(&collar, 1, &[10]).await;
    push.notifications(&owner, 1).await;
    push.settled().await;
    assert_eq!(push.published(&alive.endpoint_arn).await.len(), 1);
    assert!(push.published(&dead.endpoint_arn).await.is_empty());
    let devices = expect_json(
        push.app.get("/v1/push-devices", owner.bearer()).await,
        StatusCode::OK,
    )
    .await;
    let device = |id: &str| {
        devices["items"]
            .as_array()
            .and_then(|items| items.iter().find(|d| d["id"] == id).cloned())
            .unwrap_or_else(|| panic!("device {id} is listed: {devices}"))
    };
    assert_eq!(device(&dead.id)["enabled"], false, "{devices}");
    assert!(device(&dead.id)["disabled_at"].is_i64(), "{devices}");
    assert_eq!(device(&alive.id)["enabled"], true, "{devices}");
    let tried = push.outbox_of(&dead.id).await;
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert!(!tried[0].1, "not delivered");
    assert!(
        tried[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("EndpointDisabled")),
        "{tried:?}"
    );

    // Another kind of alert, so dedupe has nothing to do with it.
    for seq in 2..=4 {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 220})))
            .await;
    }
    let listed = push.notifications(&owner, 2).await;
    assert_eq!(listed[0]["kind"], "heart_rate_high", "{listed:?}");
    push.settled().await;
    assert_eq!(push.published(&alive.endpoint_arn).await.len(), 2);
    assert_eq!(
        push.outbox_of(&dead.id).await.len(),
        1,
        "the disabled device is not tried again"
    );

    // The phone registers again (the app got a fresh start): the device and its endpoint
    // are enabled again.
    let again = expect_json(
        push.register(&owner, "apns", &dead.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], dead.id.as_str());
    assert_eq!(again["enabled"], true, "{again}");
    assert_eq!(
        push.endpoint("apns", &dead.token).await,
        Some((dead.endpoint_arn.clone(), true))
    );
}

#[actix_web::test]
async fn a_burst_of_identical_alerts_pushes_once() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let collar = TestCollar::paired(&push.app, &owner).await;
    let phones = [
        push.phone(&owner, "apns").await,
        push.phone(&owner, "fcm").await,
    ];

    // The battery rule fires once per discharge; a charge to 60 % re-arms it.
    battery(&collar, 1, &[10, 60, 10, 60, 10]).await;

    let listed = push.notifications(&owner, 3).await;
    assert_eq!(listed.len(), 3, "every alert is a notification: {listed:?}");
    assert!(
        listed.iter().all(|n| n["kind"] == "battery_low"),
        "{listed:?}"
    );
    push.settled().await;
    for phone in &phones {
        let messages = push.published(&phone.endpoint_arn).await;
        assert_eq!(messages.len(), 1, "pushed once: {messages:?}");
    }
}

#[actix_web::test]
async fn a_push_owed_while_sns_is_down_is_delivered_when_it_is_back() {
    let sns_url = Settings::load()
        .expect("settings load")
        .sns_endpoint
        .expect("SNS is set");
    // SNS going down for real: a TCP proxy between the server and SNS, switched off.
    let (switch, proxy) = TcpSwitch::in_front_of(&sns_url).await;
    let push = PushApp::start_with(|s| s.sns_endpoint = Some(proxy)).await;
    let owner = push.app.register_someone().await;
    let collar = TestCollar::paired(&push.app, &owner).await;
    let phone = push.phone(&owner, "apns").await;

    switch.set(false);
    battery(&collar, 1, &[10]).await;
    push.notifications(&owner, 1).await;
    let failed = poll_until("a failed attempt", SETTLE * 3, || async {
        let rows = push.outbox_of(&phone.id).await;
        match rows.first() {
            Some(row) if row.0 >= 1 => Ok(row.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(!failed.1, "not delivered while SNS is down");
    assert!(
        failed.2.as_deref().is_some_and(|e| e.starts_with("SNS")),
        "{failed:?}"
    );
    assert!(push.published(&phone.endpoint_arn).await.is_empty());

    switch.set(true);
    let messages = poll_until("the push once SNS is back", SETTLE * 6, || async {
        let messages = push.published(&phone.endpoint_arn).await;
        if messages.is_empty() {
            Err(format!("outbox: {:?}", push.outbox_of(&phone.id).await))
        } else {
            Ok(messages)
        }
    })
    .await;
    assert_eq!(payload(&messages[0], "APNS")["kind"], "battery_low");
    push.settled().await;
    let rows = push.outbox_of(&phone.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1, "delivered: {rows:?}");
    assert_eq!(
        push.published(&phone.endpoint_arn).await.len(),
        1,
        "exactly once"
    );
}
