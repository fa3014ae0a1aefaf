//! Posts: their rows in PostgreSQL, their media objects in S3 (reached only through presigned
//! URLs and metadata checks), and [`load_views`], the one way a post is rendered for a viewer
//! (the post routes and the feed both use it).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use crate::config::Settings;
use crate::http::pagination::Page;
use crate::ids::{PetId, UserId};
use crate::store::millis;

/// A post waiting for its upload.
pub const PENDING: &str = "pending";
/// A post everyone signed in can see.
pub const PUBLISHED: &str = "published";

/// A published (or the viewer's own pending) post as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PostView {
    pub id: Uuid,
    pub author: AuthorView,
    pub pet_id: Option<PetId>,
    pub caption: String,
    pub media: MediaView,
    pub like_count: i64,
    pub comment_count: i64,
    pub liked_by_me: bool,
    /// `pending` (waiting for its upload; only the author sees it) or `published`.
    pub status: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
}

/// Who wrote a post or a comment.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuthorView {
    pub id: UserId,
    pub display_name: String,
}

/// The media object of a post.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MediaView {
    pub content_type: String,
    pub size_bytes: i64,
    /// presigned GET, short-lived
    pub url: String,
}

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

/// A media object: where it lives and what it must be.
#[derive(Debug, Clone)]
pub struct Media {
    pub key: String,
    pub content_type: String,
    pub size_bytes: i64,
}

/// The S3 key of a post's media: `media/{author_id}/{post_id}.{ext}`.
pub fn media_key(author: UserId, post: Uuid, extension: &str) -> String {
    format!("media/{author}/{post}.{extension}")
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

/// Renders the given posts for `viewer`, in the order of `ids`, skipping ids that no longer exist or are not published.
pub async fn load_views(
    pg: &PgPool,
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    viewer: UserId,
    ids: &[Uuid],
) -> anyhow::Result<Vec<PostView>> {
    let rows = rows_by_ids(pg, viewer, ids, false).await?;
    let mut by_id: HashMap<Uuid, PostRow> = rows.into_iter().map(|row| (row.id, row)).collect();
    let mut views = Vec::with_capacity(by_id.len());
    for id in ids {
        if let Some(row) = by_id.remove(id) {
            views.push(render(s3, settings, row).await?);
        }
    }
    Ok(views)
}

/// Shapes a row for the API, with a fresh presigned download URL for its media.
pub async fn render(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    row: PostRow,
) -> anyhow::Result<PostView> {
    let url = presign_download(s3, settings, &row.media_key).await?;
    Ok(PostView {
        id: row.id,
        author: AuthorView {
            id: row.author_id,
            display_name: row.author_name,
        },
        pet_id: row.pet_id,
        caption: row.caption,
        media: MediaView {
            content_type: row.media_content_type,
            size_bytes: row.media_size_bytes,
            url,
        },
        like_count: row.like_count,
        comment_count: row.comment_count,
        liked_by_me: row.liked_by_me,
        status: row.status,
        created_at: millis(row.created_at),
        published_at: row.published_at.map(millis),
    })
}

/// A presigned GET of a media object, valid for `media_url_ttl_s`. Local computation only.
async fn presign_download(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    key: &str,
) -> anyhow::Result<String> {
    let config = PresigningConfig::expires_in(Duration::from_secs(settings.media_url_ttl_s))?;
    let request = s3
        .get_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .presigned(config)
        .await
        .context("presigning a media download")?;
    Ok(request.uri().to_owned())
}

/// Where and how the client uploads a post's media.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub url: String,
    /// Exactly the headers the client must send: the ones bound into the signature.
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// A presigned PUT of the media object, valid for `upload_url_ttl_s`, with its content type
/// and length signed: S3 refuses any other type or length.
pub async fn presign_upload(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    media: &Media,
) -> anyhow::Result<UploadTicket> {
    let start = SystemTime::now();
    let ttl = Duration::from_secs(settings.upload_url_ttl_s);
    let config = PresigningConfig::builder()
        .start_time(start)
        .expires_in(ttl)
        .build()?;
    let request = s3
        .put_object()
        .bucket(&settings.s3_bucket)
        .key(&media.key)
        .content_type(&media.content_type)
        .content_length(media.size_bytes)
        .presigned(config)
        .await
        .context("presigning a media upload")?;
    let headers = request
        .headers()
        .map(|(name, value)| (header_case(name), value.to_owned()))
        .collect();
    Ok(UploadTicket {
        url: request.uri().to_owned(),
        headers,
        expires_at: DateTime::<Utc>::from(start + ttl),
    })
}

/// `content-length` → `Content-Length`: HTTP names are case-insensitive; this is for people.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// What S3 holds under a media key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredMedia {
    Missing,
    Present {
        size_bytes: Option<i64>,
        content_type: Option<String>,
    },
}

/// Looks at the object's metadata (HeadObject), without reading it.
pub async fn head_media(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    key: &str,
) -> anyhow::Result<StoredMedia> {
    let result = s3
        .head_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .send()
        .await;
    match result {
        Ok(head) => Ok(StoredMedia::Present {
            size_bytes: head.content_length(),
            content_type: head.content_type().map(str::to_owned),
        }),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|service| service.is_not_found()) =>
        {
            Ok(StoredMedia::Missing)
        }
        Err(error) => Err(anyhow::Error::new(error).context("checking a media upload")),
    }
}

/// Deletes the media object; deleting one that is not there succeeds.
pub async fn delete_media(
    s3: &aws_sdk_s3::Client,
    settings: &Settings,
    key: &str,
) -> anyhow::Result<()> {
    s3.delete_object()
        .bucket(&settings.s3_bucket)
        .key(key)
        .send()
        .await
        .context("deleting a post's media")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_shown_in_their_usual_case() {
        assert_eq!(header_case("content-length"), "Content-Length");
        assert_eq!(header_case("content-type"), "Content-Type");
        assert_eq!(header_case("x-amz-acl"), "X-Amz-Acl");
    }

    #[test]
    fn a_media_key_names_the_author_and_the_post() {
        let (author, post) = (UserId::new(), Uuid::new_v4());
        assert_eq!(
            media_key(author, post, "jpg"),
            format!("media/{author}/{post}.jpg")
        );
    }
}
