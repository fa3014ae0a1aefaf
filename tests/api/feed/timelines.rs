//! Timelines rebuilt from PostgreSQL (after a follow, after an eviction, with equal
//! publication times) and trimmed by an unfollow.

use deadpool_redis::redis;
use reqwest::StatusCode;
use uuid::Uuid;

use super::{feed_ids, follow, newest_first, timeline, wait_for_feed, walk_feed};
use crate::helpers::{expect_status, publish_post_directly, server_redis, spawn_app};

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
