//! Fan-out: published posts reach every follower's timeline, newest first; a popular
//! author's posts are merged at read time instead of fanned out.

use uuid::Uuid;

use super::{feed_ids, feed_page, follow, newest_first, timeline, wait_for_empty_outbox};
use super::{wait_for_feed, walk_feed};
use crate::helpers::{publish_post_directly, server_redis, spawn_app, spawn_app_with, TestUser};

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
