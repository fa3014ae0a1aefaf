//! The feed: fan-out from the outbox into Redis timelines, read-time merging of popular
//! authors, rebuilds from PostgreSQL, unfollows, and a fan-out killed mid-drain.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_redis::redis;
use pettysync::actors::feed::{drain_once, fan_out_post};
use pettysync::auth::JwtKeys;
use pettysync::ids::UserId;
use pettysync::store::feed::rebuild_timeline;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    expect_field_error, expect_json, expect_problem, expect_status, poll_until,
    publish_post_directly, publish_post_on, server_redis, spawn_app, spawn_app_on, spawn_app_with,
    Isolation, TestApp, TestUser,
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
async fn published_posts_reach_every_follower_newest_first_and_pages_walk_them() {
    let app = spawn_app().await;
    let (alice, bob) = (app.register_someone().await, app.register_someone().await);
    let (carol, dave) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &carol, &alice).await;
    follow(&app, &carol, &bob).await;
    follow(&app, &dave, &alice).await;
    // Read once, so every timeline exists and the posts can only arrive by fan-out.
    for user in [&alice, &bob, &carol, &dave] {
        assert!(feed_ids(&app, user).await.is_empty());
    }

    let mut published = Vec::new();
    for _ in 0..4 {
        for author in [&alice, &bob] {
            published.push((author.id.clone(), publish_post_directly(&app, author).await));
        }
    }
    let by = |author: &TestUser| -> Vec<Uuid> {
        published
            .iter()
            .filter(|(id, _)| *id == author.id)
            .map(|(_, post)| *post)
            .collect()
    };
    let everything: Vec<Uuid> = published.iter().map(|(_, post)| *post).collect();

    wait_for_feed(&app, &carol, &newest_first(&everything)).await;
    wait_for_feed(&app, &dave, &newest_first(&by(&alice))).await;
    wait_for_feed(&app, &alice, &newest_first(&by(&alice))).await;
    wait_for_feed(&app, &bob, &newest_first(&by(&bob))).await;

    for limit in [1, 3, 8] {
        assert_eq!(
            walk_feed(&app, &carol, limit).await,
            newest_first(&everything),
            "pages of {limit}"
        );
    }
    let (first, next) = feed_page(&app, &carol, "?limit=2").await;
    assert_eq!(first.len(), 2);
    assert!(next.is_some(), "more pages follow");
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
async fn a_new_follower_sees_older_posts_after_the_rebuild() {
    let app = spawn_app().await;
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    let mut older = Vec::new();
    for _ in 0..3 {
        older.push(publish_post_directly(&app, &author).await);
    }
    assert!(feed_ids(&app, &reader).await.is_empty());

    follow(&app, &reader, &author).await;

    // No waiting: the follow dropped the timeline and this read rebuilds it from PostgreSQL.
    assert_eq!(feed_ids(&app, &reader).await, newest_first(&older));
}

#[actix_web::test]
async fn a_fan_out_killed_mid_drain_resumes_without_gaps_or_repeats() {
    // Set up the databases before any server runs, so no fan-out actor drains behind the test.
    let isolation = Isolation::new();
    let settings = isolation.settings(|_| {});
    pettysync::migrate::run(&settings)
        .await
        .expect("migrations apply to a fresh database");
    let pg = pettysync::startup::pg_pool(&settings)
        .await
        .expect("PostgreSQL is reachable");
    let redis = server_redis(&settings);
    let author = insert_user(&pg).await;
    let followers = [insert_user(&pg).await, insert_user(&pg).await];
    for follower in followers {
        sqlx::query("INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)")
            .bind(follower)
            .bind(author)
            .execute(&pg)
            .await
            .expect("the follow is inserted");
    }
    for user in [author, followers[0], followers[1]] {
        rebuild_timeline(&pg, &redis, UserId(user))
            .await
            .expect("an empty timeline builds");
    }
    let mut posts = Vec::new();
    for _ in 0..5 {
        posts.push(publish_post_on(&pg, author).await);
    }

    // The first drain takes two of five rows, then "dies".
    let taken = drain_once(&pg, &redis, &settings, 2)
        .await
        .expect("a drain runs");
    assert_eq!(taken, 2);
    assert_eq!(pending_outbox(&pg).await, 3);
    let first_two: Vec<String> = posts[..2].iter().map(Uuid::to_string).collect();
    for follower in followers {
        assert_eq!(timeline(&redis, &follower.to_string()).await, first_two);
    }
    // A replay of a processed row, and the third post written to Redis by a drain that
    // crashed before its commit (its row is still pending).
    for post in [posts[0], posts[0], posts[2]] {
        assert!(fan_out_post(&pg, &redis, &settings, post)
            .await
            .expect("a fan-out runs"));
    }
    let first_three: Vec<String> = posts[..3].iter().map(Uuid::to_string).collect();
    assert_eq!(
        timeline(&redis, &followers[0].to_string()).await,
        first_three
    );

    // A fresh server on the same databases resumes from the rows still pending.
    let app = spawn_app_on(&isolation, settings.clone()).await;
    wait_for_empty_outbox(&pg).await;
    let all: Vec<String> = posts.iter().map(Uuid::to_string).collect();
    let keys = JwtKeys::new(
        settings
            .require_jwt_secret()
            .expect("tests set a JWT secret"),
    );
    for user in [followers[0], followers[1], author] {
        assert_eq!(timeline(&redis, &user.to_string()).await, all);
        let reader = TestUser {
            id: user.to_string(),
            email: String::new(),
            access_token: keys.issue(user).expect("a token is issued"),
            refresh_token: String::new(),
        };
        assert_eq!(walk_feed(&app, &reader, 2).await, newest_first(&posts));
    }
}

/// A user row, for a test that has no server to register with yet.
async fn insert_user(pg: &sqlx::PgPool) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, $2, 'none', 'Tester')",
    )
    .bind(id)
    .bind(format!("user-{}@example.com", id.simple()))
    .execute(pg)
    .await
    .expect("the user is inserted");
    id
}

#[actix_web::test]
async fn a_popular_authors_posts_are_merged_at_read_time_instead_of_fanned_out() {
    let app = spawn_app_with(|settings| settings.feed_fanout_max_followers = 1).await;
    let redis = server_redis(&app.settings);
    let pg = app.pg().await;
    let (popular, modest) = (app.register_someone().await, app.register_someone().await);
    let (xavier, yvonne) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &xavier, &popular).await;
    follow(&app, &yvonne, &popular).await;
    follow(&app, &xavier, &modest).await;
    for user in [&popular, &modest, &xavier, &yvonne] {
        assert!(feed_ids(&app, user).await.is_empty());
    }

    let first = publish_post_directly(&app, &popular).await;
    let other = publish_post_directly(&app, &modest).await;
    let second = publish_post_directly(&app, &popular).await;
    wait_for_empty_outbox(&pg).await;

    // Two followers is over the threshold of one: only the author's own timeline holds them.
    assert_eq!(timeline(&redis, &xavier.id).await, vec![other.to_string()]);
    assert!(timeline(&redis, &yvonne.id).await.is_empty());
    assert_eq!(
        timeline(&redis, &popular.id).await,
        vec![first.to_string(), second.to_string()]
    );
    // Yet the feeds show them, in order, across pages.
    let expected = newest_first(&[first, other, second]);
    assert_eq!(feed_ids(&app, &xavier).await, expected);
    assert_eq!(walk_feed(&app, &xavier, 1).await, expected);
    assert_eq!(
        walk_feed(&app, &yvonne, 1).await,
        newest_first(&[first, second])
    );
}

#[actix_web::test]
async fn an_evicted_timeline_is_rebuilt_identically() {
    let app = spawn_app().await;
    let redis = server_redis(&app.settings);
    let (alice, bob, reader) = (
        app.register_someone().await,
        app.register_someone().await,
        app.register_someone().await,
    );
    follow(&app, &reader, &alice).await;
    follow(&app, &reader, &bob).await;
    assert!(feed_ids(&app, &reader).await.is_empty());
    let mut posts = Vec::new();
    for author in [&alice, &bob, &reader, &alice] {
        posts.push(publish_post_directly(&app, author).await);
    }
    wait_for_feed(&app, &reader, &newest_first(&posts)).await;
    let before = timeline(&redis, &reader.id).await;

    let mut conn = redis.conn().await.expect("Redis is reachable");
    let _: () = redis::cmd("DEL")
        .arg(redis.key(&format!("feed:{}", reader.id)))
        .query_async(&mut conn)
        .await
        .expect("DEL answers");
    assert!(timeline(&redis, &reader.id).await.is_empty());

    assert_eq!(walk_feed(&app, &reader, 3).await, newest_first(&posts));
    assert_eq!(timeline(&redis, &reader.id).await, before);
}

#[actix_web::test]
async fn unfollowing_removes_that_authors_posts_from_the_feed() {
    let app = spawn_app().await;
    let redis = server_redis(&app.settings);
    let (alice, bob, reader) = (
        app.register_someone().await,
        app.register_someone().await,
        app.register_someone().await,
    );
    follow(&app, &reader, &alice).await;
    follow(&app, &reader, &bob).await;
    assert!(feed_ids(&app, &reader).await.is_empty());
    let from_alice = publish_post_directly(&app, &alice).await;
    let from_bob = publish_post_directly(&app, &bob).await;
    wait_for_feed(&app, &reader, &newest_first(&[from_alice, from_bob])).await;

    let path = format!("/v1/users/{}/follow", alice.id);
    expect_status(
        app.delete(&path, reader.bearer()).await,
        StatusCode::NO_CONTENT,
    )
    .await;

    assert_eq!(feed_ids(&app, &reader).await, vec![from_bob.to_string()]);
    assert_eq!(
        timeline(&redis, &reader.id).await,
        vec![from_bob.to_string()]
    );
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

#[actix_web::test]
async fn posts_published_in_the_same_instant_page_without_gaps() {
    let app = spawn_app().await;
    let redis = server_redis(&app.settings);
    let (author, reader) = (app.register_someone().await, app.register_someone().await);
    follow(&app, &reader, &author).await;
    let mut posts = Vec::new();
    for _ in 0..5 {
        posts.push(publish_post_directly(&app, &author).await);
    }
    // One publication time for all (as a bulk import could give), then a rebuild with it.
    let pg = app.pg().await;
    sqlx::query(
        "UPDATE posts SET published_at = (SELECT min(published_at) FROM posts WHERE author_id = $1)
         WHERE author_id = $1",
    )
    .bind(author.id.parse::<Uuid>().expect("a user id is a UUID"))
    .execute(&pg)
    .await
    .expect("the times are changed");
    let mut conn = redis.conn().await.expect("Redis is reachable");
    let _: () = redis::cmd("DEL")
        .arg(redis.key(&format!("feed:{}", reader.id)))
        .query_async(&mut conn)
        .await
        .expect("DEL answers");

    // Equal times order by id, newest-first meaning the largest id first.
    let mut expected: Vec<String> = posts.iter().map(Uuid::to_string).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    for limit in [1, 2] {
        assert_eq!(
            walk_feed(&app, &reader, limit).await,
            expected,
            "pages of {limit}"
        );
    }
}
