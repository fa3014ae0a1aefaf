//! Social events become notifications and pushes (within the hourly limit); the caller's
//! notifications list, newest first.

use pettysync::actors::events::{SocialEvent, SocialKind};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{battery, payload, user_id, PushApp};
use crate::collar::SETTLE;
use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, string_at, unique_suffix,
};

#[actix_web::test]
async fn a_social_event_becomes_a_notification_and_a_push() {
    let push = PushApp::start().await;
    let (author, fan) = (
        push.app.register_someone().await,
        push.app.register_someone().await,
    );
    let phone = push.phone(&author, "fcm").await;
    let supervisor = push.supervisor().await;

    supervisor.do_send(SocialEvent {
        kind: SocialKind::Follow,
        actor: user_id(&fan),
        recipient: user_id(&author),
        data: json!({}),
    });
    let listed = push.notifications(&author, 1).await;
    let notification = &listed[0];
    assert_eq!(notification["kind"], "follow", "{notification}");
    assert_eq!(
        notification["data"]["actor_id"],
        fan.id.as_str(),
        "{notification}"
    );
    assert_eq!(notification["data"]["body"], "Tester started following you");
    push.settled().await;
    let messages = push.published(&phone.endpoint_arn).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let gcm = payload(&messages[0], "GCM");
    assert_eq!(
        gcm["notification"]["body"], "Tester started following you",
        "{gcm}"
    );
    assert_eq!(gcm["data"]["kind"], "follow", "{gcm}");

    // Nobody is notified of their own doing.
    supervisor.do_send(SocialEvent {
        kind: SocialKind::Like,
        actor: user_id(&fan),
        recipient: user_id(&fan),
        data: json!({}),
    });
    // The next event to the same user shows the earlier one was dropped, not just slower.
    supervisor.do_send(SocialEvent {
        kind: SocialKind::Follow,
        actor: user_id(&author),
        recipient: user_id(&fan),
        data: json!({}),
    });
    let own = push.notifications(&fan, 1).await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["kind"], "follow", "{own:?}");
}

#[actix_web::test]
async fn following_someone_through_the_api_notifies_and_pushes_to_them() {
    let push = PushApp::start().await;
    let (author, fan) = (
        push.app.register_someone().await,
        push.app.register_someone().await,
    );
    let phone = push.phone(&author, "apns").await;

    let path = format!("/v1/users/{}/follow", author.id);
    expect_status(
        push.app.post(&path, fan.bearer(), &json!({})).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    let listed = push.notifications(&author, 1).await;
    assert_eq!(listed[0]["kind"], "follow", "{listed:?}");
    assert_eq!(listed[0]["data"]["actor_id"], fan.id.as_str(), "{listed:?}");
    push.settled().await;
    let messages = push.published(&phone.endpoint_arn).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let apns = payload(&messages[0], "APNS");
    assert_eq!(
        apns["aps"]["alert"]["body"], "Tester started following you",
        "{apns}"
    );
    assert_eq!(apns["actor_id"], fan.id.as_str(), "{apns}");
}

#[actix_web::test]
async fn pushes_over_the_hourly_limit_are_stored_but_not_sent() {
    let push = PushApp::start_with(|s| s.push_rate_limit_per_hour = 2).await;
    let (author, fan) = (
        push.app.register_someone().await,
        push.app.register_someone().await,
    );
    let phone = push.phone(&author, "apns").await;
    let supervisor = push.supervisor().await;

    for n in 0..3 {
        supervisor.do_send(SocialEvent {
            kind: SocialKind::Comment,
            actor: user_id(&fan),
            recipient: user_id(&author),
            data: json!({"post_id": Uuid::new_v4().to_string(), "text": format!("nice {n}")}),
        });
    }
    let listed = push.notifications(&author, 3).await;
    assert_eq!(listed.len(), 3, "every event is a notification: {listed:?}");
    push.settled().await;
    assert_eq!(
        push.published(&phone.endpoint_arn).await.len(),
        2,
        "two pushes an hour"
    );
}

#[actix_web::test]
async fn notifications_are_the_callers_own_newest_first_and_paginated() {
    let push = PushApp::start().await;
    let (me, other, fan) = (
        push.app.register_someone().await,
        push.app.register_someone().await,
        push.app.register_someone().await,
    );
    let supervisor = push.supervisor().await;
    let mut posts = Vec::new();
    // One at a time, so the order they were made in is known.
    for n in 1..=5 {
        let post = format!("post-{n}-{}", unique_suffix());
        supervisor.do_send(SocialEvent {
            kind: SocialKind::Like,
            actor: user_id(&fan),
            recipient: user_id(&me),
            data: json!({"post_id": post}),
        });
        push.notifications(&me, n).await;
        posts.push(post);
    }
    supervisor.do_send(SocialEvent {
        kind: SocialKind::Follow,
        actor: user_id(&fan),
        recipient: user_id(&other),
        data: json!({}),
    });
    push.notifications(&other, 1).await;

    let mut seen = Vec::new();
    let mut path = "/v1/notifications?limit=2".to_owned();
    loop {
        let page = expect_json(push.app.get(&path, me.bearer()).await, StatusCode::OK).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/notifications?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let order: Vec<&str> = seen
        .iter()
        .map(|n| n["data"]["post_id"].as_str().unwrap_or(""))
        .collect();
    let newest_first: Vec<&str> = posts.iter().rev().map(String::as_str).collect();
    assert_eq!(order, newest_first, "only mine, newest first");

    let id = string_at(&seen[0], "/id");
    let path = format!("/v1/notifications/{id}/read");
    let theirs = push.app.post(&path, other.bearer(), &json!({})).await;
    expect_problem(theirs, StatusCode::NOT_FOUND, "not_found").await;
    expect_status(
        push.app.post(&path, me.bearer(), &json!({})).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let first = expect_json(
        push.app.get("/v1/notifications?limit=1", me.bearer()).await,
        StatusCode::OK,
    )
    .await;
    assert!(first["items"][0]["read_at"].is_i64(), "{first}");
    let bad = push
        .app
        .get("/v1/notifications?limit=500", me.bearer())
        .await;
    expect_field_error(bad, "limit").await;
}

#[actix_web::test]
async fn sixty_follow_toggles_neither_flood_the_victim_nor_silence_an_alert_push() {
    let push = PushApp::start().await;
    let owner = push.app.register_someone().await;
    let troll = push.app.register_someone().await;
    let phone = push.phone(&owner, "apns").await;
    let collar = crate::collar::TestCollar::paired(&push.app, &owner).await;
    let follow = format!("/v1/users/{}/follow", owner.id);
    for _ in 0..61 {
        expect_status(
            push.app.post(&follow, troll.bearer(), &json!({})).await,
            StatusCode::NO_CONTENT,
        )
        .await;
        expect_status(
            push.app.delete(&follow, troll.bearer()).await,
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    // The social queue has taken every toggle: the count of follow notifications settles.
    let follows =
        crate::helpers::poll_until("the follow notifications to settle", SETTLE, || async {
            let first = push.notifications(&owner, 1).await.len();
            actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
            let listed = push.notifications(&owner, 1).await;
            if listed.len() == first {
                Ok(listed)
            } else {
                Err(format!("{} then {}", first, listed.len()))
            }
        })
        .await;
    assert_eq!(
        follows.len() as u64,
        pettysync::actors::notifications::gate::SOCIAL_PER_ACTOR_PER_HOUR,
        "one actor notifies one user a bounded number of times an hour"
    );

    battery(&collar, 1, &[10]).await;
    let pushed = crate::helpers::poll_until("the alert's push", SETTLE * 2, || async {
        let messages = push.published(&phone.endpoint_arn).await;
        let alerts: Vec<Value> = messages
            .into_iter()
            .filter(|m| payload(m, "APNS")["kind"] == "battery_low")
            .collect();
        if alerts.is_empty() {
            Err("not pushed yet".to_owned())
        } else {
            Ok(alerts)
        }
    })
    .await;
    assert_eq!(pushed.len(), 1);
}
