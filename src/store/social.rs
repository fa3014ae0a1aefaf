//! The social graph: follows, likes and comments. Every write is idempotent where the API
//! promises it (`ON CONFLICT DO NOTHING`) and says whether it changed anything, so callers
//! notify only on a real change.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::page::Page;
use crate::ids::UserId;

/// Makes `follower` follow `followee`; false when it already did.
pub async fn follow(pg: &PgPool, follower: UserId, followee: UserId) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(follower)
    .bind(followee)
    .execute(pg)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Ends a follow; false when there was none.
pub async fn unfollow(
    pg: &PgPool,
    follower: UserId,
    followee: UserId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
        .bind(follower)
        .bind(followee)
        .execute(pg)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Records that `user` likes the post; false when they already did.
pub async fn like(pg: &PgPool, post: Uuid, user: UserId) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("INSERT INTO likes (post_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(post)
            .bind(user)
            .execute(pg)
            .await?;
    Ok(result.rows_affected() > 0)
}

/// Takes a like back; false when there was none.
pub async fn unlike(pg: &PgPool, post: Uuid, user: UserId) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM likes WHERE post_id = $1 AND user_id = $2")
        .bind(post)
        .bind(user)
        .execute(pg)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// A comment with its author's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: Uuid,
    pub post_id: Uuid,
    pub author_id: UserId,
    pub author_name: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

const COMMENT_SELECT: &str = "
    SELECT c.id, c.post_id, c.author_id, u.display_name AS author_name, c.text, c.created_at
    FROM comments c JOIN users u ON u.id = c.author_id";

/// Adds a comment and returns it.
pub async fn add_comment(
    pg: &PgPool,
    post: Uuid,
    author: UserId,
    text: &str,
) -> Result<CommentRow, sqlx::Error> {
    sqlx::query_as(
        "WITH c AS (
             INSERT INTO comments (id, post_id, author_id, text) VALUES ($1, $2, $3, $4)
             RETURNING id, post_id, author_id, text, created_at
         )
         SELECT c.id, c.post_id, c.author_id, u.display_name AS author_name, c.text, c.created_at
         FROM c JOIN users u ON u.id = c.author_id",
    )
    .bind(Uuid::new_v4())
    .bind(post)
    .bind(author)
    .bind(text)
    .fetch_one(pg)
    .await
}

/// A post's comments, oldest first, keyed by `(created_at, id)`.
pub async fn list_comments(
    pg: &PgPool,
    post: Uuid,
    page: &Page,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{COMMENT_SELECT} WHERE c.post_id = $1 AND (c.created_at, c.id) > ($2, $3)
         ORDER BY c.created_at, c.id LIMIT $4"
    )))
    .bind(post)
    .bind(page.after_at())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}
