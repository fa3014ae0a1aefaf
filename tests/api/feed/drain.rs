//! The outbox drain: a fan-out killed mid-drain, replayed rows and a crash before the commit
//! leave no gaps or repeats once a fresh server resumes.

use pettysync::actors::feed::{drain_once, fan_out_post};
use pettysync::auth::JwtKeys;
use pettysync::ids::UserId;
use pettysync::store::feed::rebuild_timeline;
use uuid::Uuid;

use super::{newest_first, pending_outbox, timeline, wait_for_empty_outbox, walk_feed};
use crate::helpers::{publish_post_on, server_redis, spawn_app_on, Isolation, TestUser};

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
