//! The feed: fan-out from the outbox into Redis timelines, read-time merging of popular
//! authors, rebuilds from PostgreSQL, unfollows, and a fan-out killed mid-drain.
//!
//! - `fan_out`: published posts reach every follower, pages walk them; a popular author's
//!   posts are merged at read time instead;
//! - `drain`: a fan-out killed mid-drain resumes without gaps or repeats;
//! - `timelines`: rebuilds (after a follow, after an eviction, with equal publication
//!   times) and unfollows;
//! - here: the helpers they share, what a page carries, and the page's validation.

mod caches;
mod drain;
mod fan_out;
mod media_urls;
mod timelines;

use std::collections::HashSet;
use std::time::Duration;

use deadpool_redis::redis;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, poll_until,
    publish_post_directly, spawn_app, TestApp, TestUser,
};

/// Longest a test waits for the fan-out (it polls the outbox every second).
const FAN_OUT_WAIT: Duration = Duration::from_secs(10);

/// One page of the user's feed: the post ids and the next cursor.
async fn feed_page(app: &TestApp, user: &TestUser, query: &str) -> (Vec<String>, Option<String>) {
    let page = expect_json(
        app.get(&format!("/v1/feed{query}"), user.bearer()).await,
        StatusCode::OK,
    )
    .await;
    let items = page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a feed page has items: {page}"));
    let ids = items
        .iter()
        .map(|item| item["id"].as_str().expect("a post has an id").to_owned())
        .collect();
    (ids, page["next_cursor"].as_str().map(str::to_owned))
}

/// The first 100 posts of the user's feed.
async fn feed_ids(app: &TestApp, user: &TestUser) -> Vec<String> {
    feed_page(app, user, "?limit=100").await.0
}

/// The whole feed, walked `limit` posts at a time; no post may appear twice.
async fn walk_feed(app: &TestApp, user: &TestUser, limit: u32) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit={limit}&cursor={cursor}"),
            None => format!("?limit={limit}"),
        };
        let (ids, next) = feed_page(app, user, &query).await;
        assert!(ids.len() <= limit as usize, "a page holds at most {limit}");
        all.extend(ids);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a post repeated: {all:?}");
    all
}

/// Polls until the user's feed is exactly `expected` (newest first).
async fn wait_for_feed(app: &TestApp, user: &TestUser, expected: &[String]) {
    poll_until("the feed", FAN_OUT_WAIT, || async {
        let ids = feed_ids(app, user).await;
        if ids == expected {
            Ok(())
        } else {
            Err(format!("feed {ids:?}, expected {expected:?}"))
        }
    })
    .await
}

/// The posts in the user's Redis timeline, oldest first (markers left out).
async fn timeline(redis: &pettysync::cache::Redis, user: &str) -> Vec<String> {
    let mut conn = redis.conn().await.expect("Redis is reachable");
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(redis.key(&format!("feed:{user}")))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("ZRANGE answers");
    members
        .into_iter()
        .filter(|member| member.parse::<Uuid>().is_ok())
        .collect()
}

async fn pending_outbox(pg: &sqlx::PgPool) -> i64 {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE processed_at IS NULL")
            .fetch_one(pg)
            .await
            .expect("the outbox can be counted");
    count
}

async fn wait_for_empty_outbox(pg: &sqlx::PgPool) {
    poll_until("the outbox to drain", FAN_OUT_WAIT, || async {
        match pending_outbox(pg).await {
            0 => Ok(()),
            pending => Err(format!("{pending} rows pending")),
        }
    })
    .await
}

async fn follow(app: &TestApp, follower: &TestUser, followee: &TestUser) {
    let path = format!("/v1/users/{}/follow", followee.id);
    let response = app.post(&path, follower.bearer(), &Value::Null).await;
    expect_status(response, StatusCode::NO_CONTENT).await;
}

/// Newest first: the reverse of publication order.
fn newest_first(published: &[Uuid]) -> Vec<String> {
    published.iter().rev().map(Uuid::to_string).collect()
}

#[actix_web::test]
async fn a_feed_page_carries_the_post_objects() {
    let app = spawn_app().await;
    let author = app.register_someone().await;
    let post = publish_post_directly(&app, &author).await;

    let page = expect_json(app.get("/v1/feed", author.bearer()).await, StatusCode::OK).await;
    let item = &page["items"][0];
    assert_eq!(item["id"], post.to_string(), "{page}");
    assert_eq!(item["author"]["id"], author.id.as_str(), "{page}");
    assert!(item["published_at"].is_i64(), "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
}

#[actix_web::test]
async fn the_feed_needs_a_user_and_a_valid_page() {
    let app = spawn_app().await;
    let user = app.register_someone().await;

    expect_problem(
        app.get("/v1/feed", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_field_error(app.get("/v1/feed?limit=0", user.bearer()).await, "limit").await;
    expect_field_error(
        app.get("/v1/feed?cursor=forged", user.bearer()).await,
        "cursor",
    )
    .await;
}
