//! A post as the API shows it: its author, its media with a fresh presigned download URL,
//! its counts as the viewer sees them. [`load_views`] is the one way a post is rendered for a
//! viewer (the post routes and the feed both use it).

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::media_urls::MediaUrls;
use super::{rows_by_ids, PostRow};
use crate::ids::{PetId, UserId};
use crate::store::millis;

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

/// Renders the given posts for `viewer`, in the order of `ids`, skipping ids that no longer exist or are not published.
pub async fn load_views(
    pg: &PgPool,
    urls: &MediaUrls,
    viewer: UserId,
    ids: &[Uuid],
) -> anyhow::Result<Vec<PostView>> {
    let rows = rows_by_ids(pg, viewer, ids, false).await?;
    let mut by_id: HashMap<Uuid, PostRow> = rows.into_iter().map(|row| (row.id, row)).collect();
    let mut views = Vec::with_capacity(by_id.len());
    for id in ids {
        if let Some(row) = by_id.remove(id) {
            views.push(render(urls, row).await?);
        }
    }
    Ok(views)
}

/// Shapes a row for the API, with a presigned download URL for its media (a cached one while
/// it is fresh enough: see `media_urls`).
pub async fn render(urls: &MediaUrls, row: PostRow) -> anyhow::Result<PostView> {
    let url = urls.url(&row.media_key).await?;
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
