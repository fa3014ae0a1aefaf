//! The social graph: follows, likes and comments, and one user's posts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, fake_jpeg, poll_until,
    spawn_app, string_at, TestApp, TestUser,
};

async fn follows(app: &TestApp, follower: &TestUser, followee: &TestUser) -> i64 {
    let id = |user: &TestUser| user.id.parse::<Uuid>().expect("user ids are UUIDs");
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(id(follower))
            .bind(id(followee))
            .fetch_one(&app.pg().await)
            .await
            .expect("follows can be read");
    count
}

async fn post_as(app: &TestApp, user: &TestUser, post_id: &str) -> Value {
    let response = app
        .get(&format!("/v1/posts/{post_id}"), user.bearer())
        .await;
    expect_json(response, StatusCode::OK).await
}

async fn comment(app: &TestApp, user: &TestUser, post_id: &str, text: &str) -> reqwest::Response {
    let path = format!("/v1/posts/{post_id}/comments");
    app.post(&path, user.bearer(), &json!({"text": text})).await
}

/// The `items` of a list response, after checking its status.
async fn items(response: reqwest::Response) -> (Vec<Value>, Value) {
    let page = expect_json(response, StatusCode::OK).await;
    let items = page["items"].as_array().expect("a list has items").clone();
    (items, page["next_cursor"].clone())
}

#[actix_web::test]
async fn following_and_unfollowing_are_idempotent() {
    let app = spawn_app().await;
    let (fan, star) = (app.register_someone().await, app.register_someone().await);
    let path = format!("/v1/users/{}/follow", star.id);

    for _ in 0..2 {
        let followed = app.post(&path, fan.bearer(), &json!({})).await;
        expect_status(followed, StatusCode::NO_CONTENT).await;
        assert_eq!(follows(&app, &fan, &star).await, 1);
    }
    for _ in 0..2 {
        expect_status(
            app.delete(&path, fan.bearer()).await,
            StatusCode::NO_CONTENT,
        )
        .await;
        assert_eq!(follows(&app, &fan, &star).await, 0);
    }
}

#[actix_web::test]
async fn following_yourself_or_nobody_is_refused() {
    let app = spawn_app().await;
    let user = app.register_someone().await;

    let own = format!("/v1/users/{}/follow", user.id);
    expect_field_error(app.post(&own, user.bearer(), &json!({})).await, "id").await;
    let unknown = format!("/v1/users/{}/follow", Uuid::new_v4());
    let response = app.post(&unknown, user.bearer(), &json!({})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.delete(&unknown, user.bearer()).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.post(&own, None, &json!({})).await;
    expect_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn likes_are_idempotent_and_counted_in_the_post() {
    let app = spawn_app().await;
    let (author, fan) = (app.register_someone().await, app.register_someone().await);
    let post_id = string_at(&app.publish_image(&author, fake_jpeg(32)).await, "/id");
    let path = format!("/v1/posts/{post_id}/like");

    for _ in 0..2 {
        let liked = app.post(&path, fan.bearer(), &json!({})).await;
        expect_status(liked, StatusCode::NO_CONTENT).await;
    }
    let seen = post_as(&app, &fan, &post_id).await;
    assert_eq!(
        (seen["like_count"].clone(), seen["liked_by_me"].clone()),
        (json!(1), json!(true))
    );
    let seen = post_as(&app, &author, &post_id).await;
    assert_eq!(
        (seen["like_count"].clone(), seen["liked_by_me"].clone()),
        (json!(1), json!(false))
    );

    for _ in 0..2 {
        expect_status(
            app.delete(&path, fan.bearer()).await,
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    let seen = post_as(&app, &fan, &post_id).await;
    assert_eq!(
        (seen["like_count"].clone(), seen["liked_by_me"].clone()),
        (json!(0), json!(false))
    );

    let unknown = format!("/v1/posts/{}/like", Uuid::new_v4());
    let response = app.post(&unknown, fan.bearer(), &json!({})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_pending_post_cannot_be_liked_or_commented_by_others() {
    let app = spawn_app().await;
    let (author, stranger) = (app.register_someone().await, app.register_someone().await);
    let created = app.declare_post(&author, "image/png", 16).await;
    let post_id = string_at(&expect_json(created, StatusCode::CREATED).await, "/post/id");

    let like = format!("/v1/posts/{post_id}/like");
    let response = app.post(&like, stranger.bearer(), &json!({})).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = comment(&app, &stranger, &post_id, "nice").await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .get(&format!("/v1/posts/{post_id}/comments"), stranger.bearer())
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_comment_is_1_to_1000_characters() {
    let app = spawn_app().await;
    let (author, fan) = (app.register_someone().await, app.register_someone().await);
    let post_id = string_at(&app.publish_image(&author, fake_jpeg(32)).await, "/id");

    for text in [String::new(), "   ".to_owned(), "x".repeat(1001)] {
        expect_field_error(comment(&app, &fan, &post_id, &text).await, "text").await;
    }
    let longest = "ü".repeat(1000);
    let created = expect_json(
        comment(&app, &fan, &post_id, &longest).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["text"], longest.as_str());
    assert_eq!(created["post_id"], post_id.as_str());
    assert_eq!(
        created["author"],
        json!({"id": fan.id, "display_name": "Tester"})
    );
    assert!(
        created["id"].is_string() && created["created_at"].is_i64(),
        "{created}"
    );
}

#[actix_web::test]
async fn comments_are_listed_oldest_first_page_by_page() {
    let app = spawn_app().await;
    let (author, fan) = (app.register_someone().await, app.register_someone().await);
    let post_id = string_at(&app.publish_image(&author, fake_jpeg(32)).await, "/id");
    for n in 0..5 {
        let commenter = if n % 2 == 0 { &fan } else { &author };
        let response = comment(&app, commenter, &post_id, &format!("comment {n}")).await;
        expect_status(response, StatusCode::CREATED).await;
    }

    let mut texts = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let path = format!("/v1/posts/{post_id}/comments?{query}");
        let (page, next) = items(app.get(&path, fan.bearer()).await).await;
        assert!(page.len() <= 2);
        texts.extend(page.iter().map(|c| string_at(c, "/text")));
        match next.as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("comment {n}")).collect();
    assert_eq!(texts, expected);
    assert_eq!(post_as(&app, &fan, &post_id).await["comment_count"], 5);
}

#[actix_web::test]
async fn a_users_published_posts_are_listed_newest_first() {
    let app = spawn_app().await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    let mut published = Vec::new();
    for _ in 0..3 {
        published.push(string_at(
            &app.publish_image(&author, fake_jpeg(32)).await,
            "/id",
        ));
    }
    expect_status(
        app.declare_post(&author, "image/jpeg", 8).await,
        StatusCode::CREATED,
    )
    .await;

    let path = format!("/v1/users/{}/posts?limit=2", author.id);
    let (first, next) = items(app.get(&path, reader.bearer()).await).await;
    let cursor = next.as_str().expect("a second page follows");
    let path = format!("/v1/users/{}/posts?limit=2&cursor={cursor}", author.id);
    let (second, next) = items(app.get(&path, reader.bearer()).await).await;
    assert!(next.is_null(), "two pages only");

    let listed: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|p| string_at(p, "/id"))
        .collect();
    published.reverse();
    assert_eq!(listed, published, "newest first, the pending post left out");
    assert!(first
        .iter()
        .all(|p| p["status"] == "published" && p["media"]["url"].is_string()));

    let unknown = format!("/v1/users/{}/posts", Uuid::new_v4());
    let response = app.get(&unknown, reader.bearer()).await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn following_brings_older_posts_into_the_feed_and_unfollowing_takes_them_out() {
    let app = spawn_app().await;
    let (fan, star) = (app.register_someone().await, app.register_someone().await);
    let older = string_at(&app.publish_image(&star, fake_jpeg(32)).await, "/id");
    let feed_ids = || async {
        let (posts, _) = items(app.get("/v1/feed", fan.bearer()).await).await;
        posts
            .iter()
            .map(|p| string_at(p, "/id"))
            .collect::<Vec<_>>()
    };
    assert!(feed_ids().await.is_empty(), "nobody followed yet");

    let path = format!("/v1/users/{}/follow", star.id);
    expect_status(
        app.post(&path, fan.bearer(), &json!({})).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(feed_ids().await, vec![older.clone()]);

    expect_status(
        app.delete(&path, fan.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert!(
        feed_ids().await.is_empty(),
        "unfollowed: gone from the feed"
    );
}

#[actix_web::test]
async fn the_followee_and_the_author_are_notified_once_per_change() {
    let app = spawn_app().await;
    let (fan, star) = (app.register_someone().await, app.register_someone().await);
    let post_id = string_at(&app.publish_image(&star, fake_jpeg(32)).await, "/id");
    let like = format!("/v1/posts/{post_id}/like");
    let own_like = app.post(&like, star.bearer(), &json!({})).await;
    expect_status(own_like, StatusCode::NO_CONTENT).await;

    let follow = format!("/v1/users/{}/follow", star.id);
    for path in [&follow, &follow, &like, &like] {
        let response = app.post(path, fan.bearer(), &json!({})).await;
        expect_status(response, StatusCode::NO_CONTENT).await;
    }
    let comment = expect_json(
        comment(&app, &fan, &post_id, "good dog").await,
        StatusCode::CREATED,
    )
    .await;

    let notifications = poll_until("three notifications", Duration::from_secs(10), || async {
        let (items, _) = items(app.get("/v1/notifications", star.bearer()).await).await;
        if items.len() >= 3 {
            Ok(items)
        } else {
            Err(format!("{items:?}"))
        }
    })
    .await;
    let mut kinds: Vec<&str> = notifications
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or(""))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["comment", "follow", "like"],
        "once each, none for the own like"
    );
    let by = json!({"id": fan.id, "display_name": "Tester"});
    for notification in &notifications {
        assert_eq!(notification["data"]["by"], by, "{notification}");
        if notification["kind"] != "follow" {
            assert_eq!(
                notification["data"]["post_id"],
                post_id.as_str(),
                "{notification}"
            );
        }
        if notification["kind"] == "comment" {
            assert_eq!(
                notification["data"]["comment_id"], comment["id"],
                "{notification}"
            );
        }
    }
}
