//! Posts: their rows in PostgreSQL, their media objects in S3 (reached only through presigned
//! URLs and metadata checks), and [`load_views`], the one way a post is rendered for a viewer
//! (the post routes and the feed both use it).
//!
//! - here: the post rows and their queries (create, read, list, publish with its outbox row,
//!   delete);
//! - `views`: a post as the API shows it, rendered for a viewer;
//! - `media`: media keys, presigned uploads, metadata checks, deletion;
//! - `media_urls`: presigned downloads, cached per object while fresh enough;
//! - `cards`: posts as every reader sees them and each user's likes, cached in Redis.

mod cards;
mod media;
mod media_urls;
mod views;

pub use self::cards::{
    bury_card, card_key, fill_cards, fill_liked, fill_marker, forget_card, forget_like, liked_key,
    liked_posts, mark_cards, mark_liked, Card, LIKED_CAP, MARK_SET,
};
pub use self::media::{
    delete_media, head_media, media_key, presign_upload, Media, StoredMedia, UploadTicket,
};
pub use self::media_urls::{MediaUrls, MEDIA_URL_CACHE_CAP};
pub use self::views::{load_views, render, AuthorView, MediaView, PostView};

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::domain::page::Page;
use crate::ids::{PetId, UserId};

/// A post waiting for its upload.
pub const PENDING: &str = "pending";
/// A post everyone signed in can see.
pub const PUBLISHED: &str = "published";

/// A post as stored, with its author's name and its counts as `viewer` sees them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostRow {
    pub id: Uuid,
    pub author_id: UserId,
    pub author_name: String,
    pub pet_id: Option<PetId>,
    pub caption: String,
    pub media_key: String,
    pub media_content_type: String,
    pub media_size_bytes: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub like_count: i64,
    pub comment_count: i64,
    pub liked_by_me: bool,
}

/// Every column of [`PostRow`]; `$1` is the viewer.
const VIEW_SELECT: &str = "
    SELECT p.id, p.author_id, u.display_name AS author_name, p.pet_id, p.caption, p.media_key,
           p.media_content_type, p.media_size_bytes, p.status, p.created_at, p.published_at,
           (SELECT count(*) FROM likes l WHERE l.post_id = p.id) AS like_count,
           (SELECT count(*) FROM comments c WHERE c.post_id = p.id) AS comment_count,
           EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = $1) AS liked_by_me
    FROM posts p JOIN users u ON u.id = p.author_id";

/// What a new post declares about itself before its media exists.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub id: Uuid,
    pub author: UserId,
    pub pet_id: Option<PetId>,
    pub caption: String,
    pub media: Media,
}

/// Inserts a pending post.
pub async fn create(pg: &PgPool, post: &NewPost) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO posts (id, author_id, pet_id, caption, media_key, media_content_type, media_size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(post.id)
    .bind(post.author)
    .bind(post.pet_id)
    .bind(&post.caption)
    .bind(&post.media.key)
    .bind(&post.media.content_type)
    .bind(post.media.size_bytes)
    .execute(pg)
    .await?;
    Ok(())
}

/// The post if `viewer` may see it: published, or the viewer's own.
pub async fn get(pg: &PgPool, viewer: UserId, post: Uuid) -> Result<Option<PostRow>, sqlx::Error> {
    let mut rows = rows_by_ids(pg, viewer, &[post], true).await?;
    Ok(rows.pop())
}

/// The post if `author` wrote it (pending or published).
pub async fn get_own(
    pg: &PgPool,
    author: UserId,
    post: Uuid,
) -> Result<Option<PostRow>, sqlx::Error> {
    Ok(get(pg, author, post)
        .await?
        .filter(|row| row.author_id == author))
}

/// The published posts among `ids`, unordered, with `viewer`'s `liked_by_me`.
pub async fn published_rows(
    pg: &PgPool,
    viewer: UserId,
    ids: &[Uuid],
) -> Result<Vec<PostRow>, sqlx::Error> {
    rows_by_ids(pg, viewer, ids, false).await
}

/// Published posts (and, with `own_pending`, the viewer's pending ones) among `ids`, unordered.
async fn rows_by_ids(
    pg: &PgPool,
    viewer: UserId,
    ids: &[Uuid],
    own_pending: bool,
) -> Result<Vec<PostRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{VIEW_SELECT} WHERE p.id = ANY($2) AND (p.status = '{PUBLISHED}' OR ($3 AND p.author_id = $1))"
    )))
    .bind(viewer)
    .bind(ids)
    .bind(own_pending)
    .fetch_all(pg)
    .await
}

/// One author's published posts, newest first, keyed by `(published_at, id)`.
pub async fn list_by_author(
    pg: &PgPool,
    viewer: UserId,
    author: UserId,
    page: &Page,
) -> Result<Vec<PostRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{VIEW_SELECT} WHERE p.author_id = $2 AND p.status = '{PUBLISHED}'
           AND (p.published_at, p.id) < ($3, $4)
         ORDER BY p.published_at DESC, p.id DESC LIMIT $5"
    )))
    .bind(viewer)
    .bind(author)
    .bind(page.before_at())
    .bind(page.before_id())
    .bind(page.fetch())
    .fetch_all(pg)
    .await
}

/// Publishes a pending post and queues its fan-out, in one transaction (the transactional
/// outbox). False when the post was not pending, so a repeated publish queues nothing.
pub async fn publish(pg: &PgPool, post: Uuid, author: UserId) -> Result<bool, sqlx::Error> {
    let mut tx = pg.begin().await?;
    let published = sqlx::query(AssertSqlSafe(format!(
        "UPDATE posts SET status = '{PUBLISHED}', published_at = now()
         WHERE id = $1 AND author_id = $2 AND status = '{PENDING}'"
    )))
    .bind(post)
    .bind(author)
    .execute(&mut *tx)
    .await?;
    if published.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT INTO feed_outbox (post_id, author_id) VALUES ($1, $2)")
        .bind(post)
        .bind(author)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes the post row; its likes and comments go with it.
pub async fn delete(pg: &PgPool, post: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM posts WHERE id = $1")
        .bind(post)
        .execute(pg)
        .await?;
    Ok(())
}
