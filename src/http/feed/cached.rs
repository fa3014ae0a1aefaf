//! The feed read through the Redis caches: the timeline slice and the reader's popular
//! followees in one round trip, the page's posts checked (cards, follows, likes) in a second,
//! and no PostgreSQL query when everything is cached (unless the reader follows popular
//! authors, whose posts below the cursor take one query). What is missing is filled from
//! PostgreSQL and the read tried again; after [`FILL_ROUNDS`] fills the page is read from
//! PostgreSQL as before.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::{assemble, encode_cursor, find_page, render_page, FeedPage};
use crate::cache::Redis;
use crate::config::Settings;
use crate::http::pagination::{Page, Paged};
use crate::ids::UserId;
use crate::store::feed::{self, Checked, FeedEntry, TimelineSlice};
use crate::store::posts::{self, Card, MediaUrls, PostView};

/// Fills before a read gives up on the cache and asks PostgreSQL.
const FILL_ROUNDS: usize = 2;

/// One reader's feed read and what it needs.
pub(super) struct Reader<'a> {
    pub pg: &'a PgPool,
    pub redis: &'a Redis,
    pub urls: &'a MediaUrls,
    pub settings: &'a Settings,
    pub user: UserId,
}

/// What a cached read lacked.
#[derive(Debug, Default)]
struct Missing {
    cards: Vec<Uuid>,
    follows: bool,
    liked: bool,
}

enum Attempt {
    Page(Paged<PostView>),
    Missing(Missing),
}

impl Reader<'_> {
    /// The page, from the caches when they hold it. An error means Redis (or PostgreSQL)
    /// failed: the caller reads from PostgreSQL alone.
    pub async fn read(&self, page: &Page) -> anyhow::Result<Paged<PostView>> {
        for round in 0..=FILL_ROUNDS {
            match self.attempt(page).await? {
                Attempt::Page(paged) => {
                    metrics::counter!("pettysync_feed_reads_total", "path" => "warm").increment(1);
                    return Ok(paged);
                }
                Attempt::Missing(missing) if round < FILL_ROUNDS => self.fill(missing).await?,
                Attempt::Missing(_) => break,
            }
        }
        metrics::counter!("pettysync_feed_reads_total", "path" => "postgres").increment(1);
        let found = find_page(self.pg, self.redis, self.settings, self.user, page).await?;
        render_page(self.pg, self.urls, self.user, found).await
    }

    async fn attempt(&self, page: &Page) -> anyhow::Result<Attempt> {
        let before = (page.before_at(), page.before_id());
        let fetch = page.fetch() as usize;
        let (slice, popular) =
            feed::read_timeline_and_popular(self.redis, self.user, before, fetch).await?;
        let slice = match slice {
            Some(slice) => slice,
            None => {
                let timeline = feed::rebuild_timeline(self.pg, self.redis, self.user).await?;
                TimelineSlice::of(&timeline, before, fetch)
            }
        };
        let mut ids: Vec<Uuid> = slice.entries.iter().map(|entry| entry.id).collect();
        let popular_missing = popular.is_none();
        let popular = popular.unwrap_or_default();
        if !popular.is_empty() {
            let merged = feed::popular_posts(self.pg, &popular, before, page.fetch()).await?;
            for entry in merged {
                if !ids.contains(&entry.id) {
                    ids.push(entry.id);
                }
            }
        }
        let visible = match feed::check_posts(self.redis, self.user, &ids).await? {
            Checked::Incomplete {
                missing_cards,
                follows_missing,
                liked_missing,
            } => {
                return Ok(Attempt::Missing(Missing {
                    cards: missing_cards,
                    follows: follows_missing || popular_missing,
                    liked: liked_missing,
                }))
            }
            Checked::Complete(_) if popular_missing => {
                return Ok(Attempt::Missing(Missing {
                    follows: true,
                    ..Missing::default()
                }))
            }
            Checked::Complete(visible) => visible,
        };
        let found = cut(&slice, &visible, fetch, page.limit as usize);
        Ok(Attempt::Page(self.render(found, visible).await?))
    }

    /// Renders the page's posts from their cards, in the page's order.
    async fn render(
        &self,
        found: FeedPage,
        visible: Vec<(Card, bool)>,
    ) -> anyhow::Result<Paged<PostView>> {
        let mut cards: HashMap<Uuid, (Card, bool)> = visible
            .into_iter()
            .map(|(card, liked)| (card.id, (card, liked)))
            .collect();
        let mut items = Vec::with_capacity(found.entries.len());
        for entry in &found.entries {
            if let Some((card, liked)) = cards.remove(&entry.id) {
                items.push(posts::render(self.urls, card.into_row(liked)).await?);
            }
        }
        Ok(Paged {
            items,
            next_cursor: found.next.map(encode_cursor),
        })
    }

    /// Fills what the read lacked from PostgreSQL, each part guarded by a filling marker.
    async fn fill(&self, missing: Missing) -> anyhow::Result<()> {
        metrics::counter!("pettysync_feed_cache_fills_total").increment(1);
        let (pg, redis, user) = (self.pg, self.redis, self.user);
        let marker = posts::fill_marker();
        let follows = missing.follows && feed::mark_follows(redis, user, &marker).await?;
        let liked = missing.liked && posts::mark_liked(redis, user, &marker).await?;
        let cards = posts::mark_cards(redis, &missing.cards, &marker).await?;
        if follows {
            let max = self.settings.feed_fanout_max_followers;
            let followees = feed::followees(pg, user, max).await?;
            if followees.len() <= feed::FOLLOWS_CAP {
                feed::fill_follows(redis, user, &followees, &marker).await?;
            }
        }
        if liked {
            let liked = posts::liked_posts(pg, user).await?;
            if liked.len() <= posts::LIKED_CAP {
                posts::fill_liked(redis, user, &liked, &marker).await?;
            }
        }
        if !cards.is_empty() {
            let rows = posts::published_rows(pg, user, &cards).await?;
            posts::fill_cards(redis, &cards, &rows, &marker).await?;
        }
        Ok(())
    }
}

/// The page among the visible posts (the slice's and the popular authors'), newest first,
/// cut as the PostgreSQL read cuts it.
fn cut(slice: &TimelineSlice, visible: &[(Card, bool)], fetch: usize, limit: usize) -> FeedPage {
    let mut entries: Vec<FeedEntry> = visible
        .iter()
        .filter_map(|(card, _)| {
            Some(FeedEntry {
                id: card.id,
                published_at: card.published_at?,
            })
        })
        .collect();
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.key()));
    entries.truncate(fetch);
    assemble(slice, entries, limit)
}
