//! `GET /v1/feed`: the caller's own and followed users' posts, newest first. One Redis read
//! (the caller's timeline), one SQL query (that page checked against PostgreSQL, plus the
//! posts of followed authors too popular to fan out) and one render query; a missing
//! timeline is rebuilt from PostgreSQL first.

use actix_web::{get, web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::Redis;
use crate::config::Settings;
use crate::http::authz::AuthUser;
use crate::http::error::ApiError;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::UserId;
use crate::store::feed::{self, FeedEntry, TimelineSlice};
use crate::store::posts::{self, PostView};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_feed);
}

/// The caller's feed: their own and followed users' published posts, newest first.
#[utoipa::path(get, path = "/v1/feed", tag = "social", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Paged<PostView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query))]
#[get("/v1/feed")]
async fn get_feed(
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    s3: web::Data<aws_sdk_s3::Client>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let found = find_page(&pg, &redis, &settings, caller.id, &page).await?;
    let ids: Vec<Uuid> = found.entries.iter().map(|entry| entry.id).collect();
    let items = posts::load_views(&pg, &s3, &settings, caller.id, &ids).await?;
    Ok(HttpResponse::Ok().json(Paged {
        items,
        next_cursor: found.next.map(encode_cursor),
    }))
}

/// A feed page before rendering: its posts, and the key the next page starts below.
#[derive(Debug, PartialEq, Eq)]
struct FeedPage {
    entries: Vec<FeedEntry>,
    next: Option<(DateTime<Utc>, Uuid)>,
}

/// Reads the caller's timeline below the cursor (rebuilding it when missing), checks it and
/// merges the popular authors' posts in one query, and cuts the page.
async fn find_page(
    pg: &PgPool,
    redis: &Redis,
    settings: &Settings,
    user: UserId,
    page: &Page,
) -> anyhow::Result<FeedPage> {
    let before = (page.before_at(), page.before_id());
    let fetch = page.fetch() as usize;
    let slice = match feed::read_timeline(redis, user, before, fetch).await? {
        Some(slice) => slice,
        None => {
            let timeline = feed::rebuild_timeline(pg, redis, user).await?;
            TimelineSlice::of(&timeline, before, fetch)
        }
    };
    let listed: Vec<Uuid> = slice.entries.iter().map(|entry| entry.id).collect();
    let posts = feed::page_posts(
        pg,
        user,
        &listed,
        before,
        settings.feed_fanout_max_followers,
        page.fetch(),
    )
    .await?;
    Ok(assemble(&slice, posts, page.limit as usize))
}

/// Cuts a page from the checked posts (newest first). Where the timeline slice stopped
/// early, posts below its last entry wait for the next page: timeline entries between there
/// and them were not read yet. The feed ends at the timeline's horizon.
fn assemble(slice: &TimelineSlice, mut posts: Vec<FeedEntry>, limit: usize) -> FeedPage {
    let floor = slice
        .truncated
        .then(|| slice.entries.last().map(FeedEntry::key))
        .flatten();
    if let Some(lowest) = floor.or(slice.horizon) {
        posts.retain(|post| post.key() >= lowest);
    }
    if posts.len() > limit {
        posts.truncate(limit);
        let next = posts.last().map(FeedEntry::key);
        return FeedPage {
            entries: posts,
            next,
        };
    }
    // A short page (timeline entries that failed the check) still goes on past the floor.
    FeedPage {
        entries: posts,
        next: floor,
    }
}

/// The cursor of the pagination module (`micros:uuid`, base64url), so `Page` decodes it.
fn encode_cursor((at, id): (DateTime<Utc>, Uuid)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", at.timestamp_micros(), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(micros: i64) -> FeedEntry {
        FeedEntry {
            id: Uuid::new_v4(),
            published_at: DateTime::from_timestamp_micros(micros).unwrap(),
        }
    }

    /// Entries with descending times, newest first.
    fn entries(times: &[i64]) -> Vec<FeedEntry> {
        times.iter().map(|&micros| entry(micros)).collect()
    }

    #[test]
    fn a_cursor_decodes_with_the_pagination_module() {
        let key = (
            DateTime::from_timestamp_micros(1_764_151_500_123_456).unwrap(),
            Uuid::new_v4(),
        );
        let query = PageQuery {
            limit: None,
            cursor: Some(encode_cursor(key)),
        };
        let page = Page::try_from(query).unwrap();
        assert_eq!((page.before_at(), page.before_id()), key);
    }

    #[test]
    fn a_full_page_ends_at_its_last_post() {
        let posts = entries(&[50, 40, 30]);
        let slice = TimelineSlice {
            entries: posts.clone(),
            truncated: false,
            horizon: None,
        };
        let page = assemble(&slice, posts.clone(), 2);
        assert_eq!(page.entries, posts[..2]);
        assert_eq!(page.next, Some(posts[1].key()));
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let posts = entries(&[50, 40]);
        let slice = TimelineSlice {
            entries: posts.clone(),
            truncated: false,
            horizon: None,
        };
        assert_eq!(assemble(&slice, posts.clone(), 2).next, None);
    }

    #[test]
    fn merged_posts_below_a_cut_timeline_wait_for_the_next_page() {
        let timeline = entries(&[50, 40, 30]);
        let merged = entry(20);
        // Two of three timeline entries failed the check (deleted posts, say).
        let checked = vec![timeline[0], merged];
        let slice = TimelineSlice {
            entries: timeline.clone(),
            truncated: true,
            horizon: None,
        };
        let page = assemble(&slice, checked, 2);
        assert_eq!(page.entries, vec![timeline[0]]);
        assert_eq!(page.next, Some(timeline[2].key()));
    }

    #[test]
    fn the_feed_ends_at_the_timeline_horizon() {
        let timeline = entries(&[50, 40]);
        let older = entry(10);
        let slice = TimelineSlice {
            entries: timeline.clone(),
            truncated: false,
            horizon: Some(timeline[1].key()),
        };
        let page = assemble(&slice, vec![timeline[0], timeline[1], older], 5);
        assert_eq!(page.entries, timeline);
        assert_eq!(page.next, None);
    }
}
