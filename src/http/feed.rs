//! `GET /v1/feed`: the caller's own and followed users' posts, newest first.
//!
//! A warm read is two Redis round trips and no PostgreSQL query: the caller's timeline slice
//! (with their cached popular followees), then one script that checks the page's posts
//! against the cached cards, follows and likes (`cached`). Whatever is not cached is filled
//! from PostgreSQL first; what cannot be (over a cap, another reader filling it) is read
//! from PostgreSQL as before: the timeline page checked in one query, rendered in another.
//! Without Redis the whole page comes from PostgreSQL.

mod cached;

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
use crate::store::posts::{self, MediaUrls, PostView};

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
    urls: web::Data<MediaUrls>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let reader = cached::Reader {
        pg: &pg,
        redis: &redis,
        urls: &urls,
        settings: &settings,
        user: caller.id,
    };
    let paged = match reader.read(&page).await {
        Ok(paged) => paged,
        Err(error) => {
            // Redis (or PostgreSQL) failed on the way: PostgreSQL alone still answers.
            metrics::counter!("pettysync_feed_cache_failures_total").increment(1);
            tracing::warn!(error = ?error, "feed read from PostgreSQL only");
            from_postgres(&pg, &urls, &settings, caller.id, &page).await?
        }
    };
    Ok(HttpResponse::Ok().json(paged))
}

/// The page without Redis: the timeline as a rebuild would load it, checked and rendered.
async fn from_postgres(
    pg: &PgPool,
    urls: &MediaUrls,
    settings: &Settings,
    user: UserId,
    page: &Page,
) -> anyhow::Result<Paged<PostView>> {
    let before = (page.before_at(), page.before_id());
    let timeline = feed::recent_posts(pg, user).await?;
    let slice = TimelineSlice::of(&timeline, before, page.fetch() as usize);
    let found = checked_page(pg, settings, user, page, slice).await?;
    render_page(pg, urls, user, found).await
}

/// Renders a page's posts from PostgreSQL.
async fn render_page(
    pg: &PgPool,
    urls: &MediaUrls,
    user: UserId,
    found: FeedPage,
) -> anyhow::Result<Paged<PostView>> {
    let ids: Vec<Uuid> = found.entries.iter().map(|entry| entry.id).collect();
    Ok(Paged {
        items: posts::load_views(pg, urls, user, &ids).await?,
        next_cursor: found.next.map(encode_cursor),
    })
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
    checked_page(pg, settings, user, page, slice).await
}

/// Checks a timeline slice against PostgreSQL and merges the popular authors' posts in one
/// query, then cuts the page.
async fn checked_page(
    pg: &PgPool,
    settings: &Settings,
    user: UserId,
    page: &Page,
    slice: TimelineSlice,
) -> anyhow::Result<FeedPage> {
    let listed: Vec<Uuid> = slice.entries.iter().map(|entry| entry.id).collect();
    let posts = feed::page_posts(
        pg,
        user,
        &listed,
        (page.before_at(), page.before_id()),
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
