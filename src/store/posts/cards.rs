//! Posts as every reader sees them ("cards"), and the posts each user liked, cached in Redis
//! so that a warm feed read needs no PostgreSQL query.
//!
//! - `post:{id}`: a published post's card: `{author id}|{json}`, the JSON holding everything
//!   of the post that is the same for every reader (author, caption, media, times, like and
//!   comment counts), for [`CARD_TTL_S`]; or [`GONE`] once the post is deleted, for
//!   [`GONE_TTL_S`] (longer than a timeline lives, so a deleted post still listed somewhere
//!   never costs a query).
//! - `liked:{user}`: the ids of the posts the user likes, with the marker [`BUILT`]; only
//!   for users with at most [`LIKED_CAP`] likes.
//!
//! Every write that changes what a card or a liked set says drops it after its PostgreSQL
//! change (a like, an unlike, a comment), and a deletion writes [`GONE`] *before* the row
//! goes, so a deleted post is never served from a card. A reader fills a missing entry in
//! three steps: it places a filling marker, reads PostgreSQL, then stores what it read only
//! if its marker is still there. A write in between drops the marker, so a fill never stores
//! what was read before a change that happened after the marker.

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::PostRow;
use crate::cache::{eval, Redis};
use crate::ids::{PetId, UserId};

/// How long a card lives without being dropped (it also bounds how long a card could show a
/// deleted pet's id: the post row's `pet_id` is cleared then, the card is not).
pub const CARD_TTL_S: u64 = 3600;
/// How long a deleted post's tombstone lives: longer than a timeline.
pub const GONE_TTL_S: u64 = 8 * 24 * 3600;
/// How long a liked set lives.
pub const LIKED_TTL_S: u64 = 3600;
/// Users with more likes than this have no liked set; their feed reads ask PostgreSQL.
pub const LIKED_CAP: usize = 10_000;
/// How long a filling marker lives (a reader that died mid-fill leaves it behind).
const FILL_MARK_TTL_S: u64 = 30;
/// A deleted post's card.
pub const GONE: &str = "~gone";

/// Stores a card (or a tombstone) only if the reader's marker is still there.
/// KEYS: card keys; ARGV: the marker, then per key its value and TTL.
const FILL_CARDS: &str = r"
local filled = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('SET', key, ARGV[2 * i], 'EX', ARGV[2 * i + 1])
    filled = filled + 1
  end
end
return filled
";

/// Completes a liked set if the reader's marker is still in it.
/// KEYS[1]: the set; ARGV: marker, TTL, then the liked post ids.
const FILL_SET: &str = r"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return 0
end
for i = 3, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
end
redis.call('SADD', KEYS[1], '~built')
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Places a filling marker in a set that does not exist yet. KEYS[1]; ARGV: marker, TTL.
pub const MARK_SET: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// What a card holds: a published post as every reader sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    pub id: Uuid,
    pub author_id: UserId,
    pub author_name: String,
    pub pet_id: Option<PetId>,
    pub caption: String,
    pub media_key: String,
    pub media_content_type: String,
    pub media_size_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub like_count: i64,
    pub comment_count: i64,
}

impl Card {
    /// The card of a published post's row (the viewer's `liked_by_me` is left out).
    pub fn of(row: &PostRow) -> Self {
        Self {
            id: row.id,
            author_id: row.author_id,
            author_name: row.author_name.clone(),
            pet_id: row.pet_id,
            caption: row.caption.clone(),
            media_key: row.media_key.clone(),
            media_content_type: row.media_content_type.clone(),
            media_size_bytes: row.media_size_bytes,
            created_at: row.created_at,
            published_at: row.published_at,
            like_count: row.like_count,
            comment_count: row.comment_count,
        }
    }

    /// The row a viewer sees, given whether they like the post.
    pub fn into_row(self, liked_by_me: bool) -> PostRow {
        PostRow {
            id: self.id,
            author_id: self.author_id,
            author_name: self.author_name,
            pet_id: self.pet_id,
            caption: self.caption,
            media_key: self.media_key,
            media_content_type: self.media_content_type,
            media_size_bytes: self.media_size_bytes,
            status: super::PUBLISHED.to_owned(),
            created_at: self.created_at,
            published_at: self.published_at,
            like_count: self.like_count,
            comment_count: self.comment_count,
            liked_by_me,
        }
    }

    /// The stored value: the author's id first, so a script can check it without JSON.
    fn encode(&self) -> anyhow::Result<String> {
        Ok(format!(
            "{}|{}",
            self.author_id,
            serde_json::to_string(self)?
        ))
    }
}

/// The key of a post's card.
pub fn card_key(redis: &Redis, post: Uuid) -> String {
    redis.key(&format!("post:{post}"))
}

/// The key of a user's liked set.
pub fn liked_key(redis: &Redis, user: UserId) -> String {
    redis.key(&format!("liked:{user}"))
}

/// A marker unique to one fill.
pub fn fill_marker() -> String {
    format!("~filling:{}", Uuid::new_v4().simple())
}

/// Places `marker` on each missing card; returns the posts this reader may fill.
pub async fn mark_cards(redis: &Redis, posts: &[Uuid], marker: &str) -> anyhow::Result<Vec<Uuid>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for post in posts {
        pipe.cmd("SET")
            .arg(card_key(redis, *post))
            .arg(marker)
            .arg("NX")
            .arg("EX")
            .arg(FILL_MARK_TTL_S);
    }
    let mut conn = redis.conn().await?;
    let placed: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
    Ok(posts
        .iter()
        .zip(placed)
        .filter_map(|(post, placed)| placed.map(|_| *post))
        .collect())
}

/// Stores the cards of `marked` posts read from PostgreSQL after the marker was placed:
/// a card for each row found, a tombstone for each post not found (deleted).
pub async fn fill_cards(
    redis: &Redis,
    marked: &[Uuid],
    rows: &[PostRow],
    marker: &str,
) -> anyhow::Result<()> {
    if marked.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = marked.iter().map(|post| card_key(redis, *post)).collect();
    let mut args = vec![marker.to_owned()];
    for post in marked {
        match rows.iter().find(|row| row.id == *post) {
            Some(row) => args.extend([Card::of(row).encode()?, CARD_TTL_S.to_string()]),
            None => args.extend([GONE.to_owned(), GONE_TTL_S.to_string()]),
        }
    }
    let mut conn = redis.conn().await?;
    let _filled: i64 = eval(FILL_CARDS, &keys, &args)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Places `marker` in the user's liked set if it is missing; true when this reader may fill it.
pub async fn mark_liked(redis: &Redis, user: UserId, marker: &str) -> anyhow::Result<bool> {
    let mut conn = redis.conn().await?;
    let args = [marker.to_owned(), FILL_MARK_TTL_S.to_string()];
    let placed: i64 = eval(MARK_SET, &[liked_key(redis, user)], &args)
        .query_async(&mut conn)
        .await?;
    Ok(placed == 1)
}

/// Completes the user's liked set with the posts read after the marker was placed.
pub async fn fill_liked(
    redis: &Redis,
    user: UserId,
    liked: &[Uuid],
    marker: &str,
) -> anyhow::Result<()> {
    let mut args = vec![marker.to_owned(), LIKED_TTL_S.to_string()];
    args.extend(liked.iter().map(Uuid::to_string));
    let mut conn = redis.conn().await?;
    let _filled: i64 = eval(FILL_SET, &[liked_key(redis, user)], &args)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Drops what a like or an unlike changed: the post's card (its count) and the user's liked
/// set. Call after the PostgreSQL change.
pub async fn forget_like(redis: &Redis, post: Uuid, user: UserId) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let _: () = redis::cmd("DEL")
        .arg(card_key(redis, post))
        .arg(liked_key(redis, user))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Drops a post's card (its comment count changed). Call after the PostgreSQL change.
pub async fn forget_card(redis: &Redis, post: Uuid) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let _: () = redis::cmd("DEL")
        .arg(card_key(redis, post))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Marks a post deleted in the cache. Call *before* the row is deleted: from then on no
/// reader is served its card and no fill stores one.
pub async fn bury_card(redis: &Redis, post: Uuid) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let _: () = redis::cmd("SET")
        .arg(card_key(redis, post))
        .arg(GONE)
        .arg("EX")
        .arg(GONE_TTL_S)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// The posts `user` likes, at most [`LIKED_CAP`] + 1 of them (PostgreSQL).
pub async fn liked_posts(pg: &sqlx::PgPool, user: UserId) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> =
        sqlx::query_as("SELECT post_id FROM likes WHERE user_id = $1 LIMIT $2")
            .bind(user)
            .bind(LIKED_CAP as i64 + 1)
            .fetch_all(pg)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
