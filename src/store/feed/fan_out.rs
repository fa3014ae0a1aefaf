//! Fan-out writes: posts added to the timelines that exist (in scripts of bounded size),
//! a timeline dropped after a follow, an author's posts taken out after an unfollow; and the
//! PostgreSQL reads the fan-out needs (a post's author, an author's followers).

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use sqlx::PgPool;
use uuid::Uuid;

use super::{timeline_key, FeedEntry, TIMELINE_CAP};
use crate::cache::Redis;
use crate::ids::UserId;

/// Most post insertions one fan-out script makes, so Redis is never blocked for long.
const WRITES_PER_SCRIPT: usize = 1000;

/// Adds posts to each timeline (KEYS) that exists and trims it to its cap.
/// ARGV: cap, then score/member pairs. Returns how many timelines it wrote.
const FAN_OUT_SCRIPT: &str = r"
local cap = tonumber(ARGV[1])
local written = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    for i = 2, #ARGV, 2 do
      redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
    end
    local markers = redis.call('ZCOUNT', key, '+inf', '+inf')
    redis.call('ZREMRANGEBYRANK', key, 0, -(cap + markers + 1))
    written = written + 1
  end
end
return written
";

/// Drops a user's timeline; their next read rebuilds it (after a follow, so the new
/// followee's older posts appear).
pub async fn invalidate_timeline(redis: &Redis, user: UserId) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let _: () = redis::cmd("DEL")
        .arg(timeline_key(redis, user))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Takes an author's posts out of a user's timeline (after an unfollow). Only the author's
/// newest [`TIMELINE_CAP`] posts can be in it.
pub async fn remove_author_from_timeline(
    pg: &PgPool,
    redis: &Redis,
    user: UserId,
    author: UserId,
) -> anyhow::Result<()> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM posts WHERE author_id = $1 AND status = 'published'
         ORDER BY published_at DESC, id DESC LIMIT $2",
    )
    .bind(author)
    .bind(TIMELINE_CAP as i64)
    .fetch_all(pg)
    .await?;
    if ids.is_empty() {
        return Ok(());
    }
    let mut conn = redis.conn().await?;
    let mut zrem = redis::cmd("ZREM");
    zrem.arg(timeline_key(redis, user));
    for (id,) in &ids {
        zrem.arg(id.to_string());
    }
    let _: () = zrem.query_async(&mut conn).await?;
    Ok(())
}

/// Adds posts to the timelines of `users` that exist (a missing one is rebuilt when read),
/// in scripts of bounded size. Adding a post twice changes nothing. Returns the timelines written.
pub async fn add_to_timelines(
    redis: &Redis,
    users: &[UserId],
    posts: &[FeedEntry],
) -> anyhow::Result<usize> {
    if posts.is_empty() {
        return Ok(0);
    }
    let keys_per_script = (WRITES_PER_SCRIPT / posts.len()).max(1);
    let mut conn = redis.conn().await?;
    let mut written = 0;
    for chunk in users.chunks(keys_per_script) {
        let mut eval = redis::cmd("EVAL");
        eval.arg(FAN_OUT_SCRIPT).arg(chunk.len());
        for user in chunk {
            eval.arg(timeline_key(redis, *user));
        }
        eval.arg(TIMELINE_CAP);
        for post in posts {
            eval.arg(post.score()).arg(post.id.to_string());
        }
        let count: usize = eval.query_async(&mut conn).await?;
        written += count;
    }
    Ok(written)
}

/// The author's followers when there are at most `max_followers` of them; `None` when there
/// are more (the author's posts are merged at read time instead).
pub async fn fan_out_followers(
    pg: &PgPool,
    author: UserId,
    max_followers: u64,
) -> Result<Option<Vec<UserId>>, sqlx::Error> {
    let limit = i64::try_from(max_followers)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let rows: Vec<(UserId,)> =
        sqlx::query_as("SELECT follower_id FROM follows WHERE followee_id = $1 LIMIT $2")
            .bind(author)
            .bind(limit)
            .fetch_all(pg)
            .await?;
    if rows.len() as u64 > max_followers {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().map(|(id,)| id).collect()))
}

/// A published post as the fan-out needs it: its author and feed entry.
pub async fn published_post(
    pg: &PgPool,
    post: Uuid,
) -> Result<Option<(UserId, FeedEntry)>, sqlx::Error> {
    let row: Option<(UserId, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT author_id, id, published_at FROM posts
         WHERE id = $1 AND status = 'published' AND published_at IS NOT NULL",
    )
    .bind(post)
    .fetch_optional(pg)
    .await?;
    Ok(row.map(|(author, id, published_at)| (author, FeedEntry { id, published_at })))
}
