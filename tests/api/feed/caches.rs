//! The feed's caches: a warm read needs no PostgreSQL, and everything that changes what a
//! reader may see (a deletion, a like, a comment, a new post, an unfollow) shows in a warm
//! feed at once; without Redis the feed still answers, from PostgreSQL.

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::{feed_ids, follow, newest_first, wait_for_feed};
use crate::faults::postgres_switch;
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{
    expect_json, expect_status, publish_post_directly, spawn_app, spawn_app_with, TestApp, TestUser,
};

/// The user's first feed page.
async fn feed(app: &TestApp, user: &TestUser) -> Value {
    expect_json(
        app.get("/v1/feed?limit=100", user.bearer()).await,
        StatusCode::OK,
    )
    .await
}

/// Reads the feed until it stops changing, so the caches are filled.
async fn warm(app: &TestApp, user: &TestUser) -> Value {
    let mut last = feed(app, user).await;
    for _ in 0..3 {
        let page = feed(app, user).await;
        if page == last {
            return page;
        }
        last = page;
    }
    last
}

#[actix_web::test]
async fn a_warm_feed_read_needs_no_postgresql() {
    let switch = postgres_switch().await;
    let app = spawn_app_with(|s| switch.route_postgres(s)).await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &reader, &author).await;
    let posts = vec![
        publish_post_directly(&app, &author).await,
        publish_post_directly(&app, &reader).await,
    ];
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;
    let before = warm(&app, &reader).await;

    switch.set(false);
    let during = feed(&app, &reader).await;
    switch.set(true);

    assert_eq!(during, before);
}

#[actix_web::test]
async fn a_deleted_post_leaves_a_warm_feed_at_once() {
    let app = spawn_app().await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &reader, &author).await;
    let posts = vec![
        publish_post_directly(&app, &author).await,
        publish_post_directly(&app, &author).await,
    ];
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;
    warm(&app, &reader).await;

    let response = app
        .delete(&format!("/v1/posts/{}", posts[1]), author.bearer())
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;

    assert_eq!(feed_ids(&app, &reader).await, vec![posts[0].to_string()]);
}

#[actix_web::test]
async fn likes_and_comments_show_in_a_warm_feed_at_once() {
    let app = spawn_app().await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &reader, &author).await;
    let post = publish_post_directly(&app, &author).await;
    wait_for_feed(&app, &reader, &[post.to_string()]).await;
    warm(&app, &reader).await;
    warm(&app, &author).await;

    let like = format!("/v1/posts/{post}/like");
    expect_status(
        app.post(&like, reader.bearer(), &Value::Null).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let comment = json!({"text": "good dog"});
    let path = format!("/v1/posts/{post}/comments");
    expect_status(
        app.post(&path, author.bearer(), &comment).await,
        StatusCode::CREATED,
    )
    .await;

    let seen = feed(&app, &reader).await;
    assert_eq!(seen["items"][0]["like_count"], 1, "{seen}");
    assert_eq!(seen["items"][0]["comment_count"], 1, "{seen}");
    assert_eq!(seen["items"][0]["liked_by_me"], true, "{seen}");
    let by_author = feed(&app, &author).await;
    assert_eq!(by_author["items"][0]["liked_by_me"], false, "{by_author}");
    assert_eq!(by_author["items"][0]["like_count"], 1, "{by_author}");

    expect_status(
        app.delete(&like, reader.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let seen = feed(&app, &reader).await;
    assert_eq!(seen["items"][0]["like_count"], 0, "{seen}");
    assert_eq!(seen["items"][0]["liked_by_me"], false, "{seen}");
}

#[actix_web::test]
async fn a_new_post_and_an_unfollow_show_in_a_warm_feed() {
    let app = spawn_app().await;
    let (alice, bob, reader) = (
        app.register_someone().await,
        app.register_someone().await,
        app.register_someone().await,
    );
    follow(&app, &reader, &alice).await;
    follow(&app, &reader, &bob).await;
    let mut posts = vec![
        publish_post_directly(&app, &alice).await,
        publish_post_directly(&app, &bob).await,
    ];
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;
    warm(&app, &reader).await;

    posts.push(publish_post_directly(&app, &alice).await);
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;

    let path = format!("/v1/users/{}/follow", bob.id);
    expect_status(
        app.delete(&path, reader.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        feed_ids(&app, &reader).await,
        newest_first(&[posts[0], posts[2]])
    );
}

/// A server that reaches Redis through a switch the test can turn off.
async fn app_behind_redis_switch() -> (TcpSwitch, TestApp) {
    let base = pettysync::config::Settings::load().expect("settings load");
    let (switch, _) = TcpSwitch::in_front_of(base.redis_url.expose_secret()).await;
    let app = spawn_app_with(|s| {
        s.redis_url = SecretString::from(switch.route(s.redis_url.expose_secret()));
    })
    .await;
    (switch, app)
}

#[actix_web::test]
async fn without_redis_the_feed_answers_from_postgresql() {
    let (switch, app) = app_behind_redis_switch().await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &reader, &author).await;
    let posts = vec![
        publish_post_directly(&app, &author).await,
        publish_post_directly(&app, &reader).await,
    ];
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;
    let before = warm(&app, &reader).await;

    switch.set(false);
    let during = feed(&app, &reader).await;
    switch.set(true);

    let ids = |page: &Value| page["items"].as_array().map(|items| items.len());
    assert_eq!(ids(&during), Some(2), "{during}");
    assert_eq!(during["items"][0]["id"], before["items"][0]["id"]);
    assert_eq!(during["items"][1]["id"], before["items"][1]["id"]);
}

/// A like and a comment written while Redis is away are answered as done (the write is in
/// PostgreSQL; only the cache could not be told), so a client never repeats a comment.
#[actix_web::test]
async fn without_redis_a_like_and_a_comment_are_stored_and_answered_once() {
    let (switch, app) = app_behind_redis_switch().await;
    let author = app.register_someone().await;
    let post = publish_post_directly(&app, &author).await;
    switch.set(false);
    let like = app
        .post(
            &format!("/v1/posts/{post}/like"),
            author.bearer(),
            &json!({}),
        )
        .await;
    let comment = app
        .post(
            &format!("/v1/posts/{post}/comments"),
            author.bearer(),
            &json!({"text": "good dog"}),
        )
        .await;
    switch.set(true);
    assert_eq!(like.status(), StatusCode::NO_CONTENT);
    assert_eq!(comment.status(), StatusCode::CREATED);
    let comments = expect_json(
        app.get(&format!("/v1/posts/{post}/comments"), author.bearer())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        comments["items"].as_array().map(Vec::len),
        Some(1),
        "{comments}"
    );
}
