//! Rebuilding a timeline from PostgreSQL: the reader marks it as rebuilding (so fan-outs
//! write into it meanwhile), loads the newest posts of the user and their followees, and
//! completes it unless it was invalidated in between.

use deadpool_redis::redis;
use sqlx::PgPool;

use super::{timeline_key, FeedEntry, REBUILDING, TIMELINE_CAP, TIMELINE_TTL_S};
use crate::cache::Redis;
use crate::ids::UserId;

/// Completes a rebuild unless the timeline was invalidated meanwhile (its REBUILDING marker
/// is gone): adds the posts, marks it built, trims it. ARGV: cap, ttl, then score/member pairs.
const REBUILD_SCRIPT: &str = r"
local key = KEYS[1]
if not redis.call('ZSCORE', key, '~rebuilding') then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', key, '+inf', '~built')
redis.call('ZREM', key, '~rebuilding')
redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[1]) + 2))
redis.call('EXPIRE', key, ARGV[2])
return 1
";

/// Rebuilds a user's timeline from PostgreSQL: their own and their followees' newest
/// published posts. Returns the timeline, newest first, whether or not Redis took it (it
/// does not when the timeline was invalidated meanwhile; the next read rebuilds again).
pub async fn rebuild_timeline(
    pg: &PgPool,
    redis: &Redis,
    user: UserId,
) -> anyhow::Result<Vec<FeedEntry>> {
    let key = timeline_key(redis, user);
    let mut conn = redis.conn().await?;
    // The key exists from here on, so fan-outs after this point write into it.
    let _: () = redis::pipe()
        .cmd("ZADD")
        .arg(&key)
        .arg("+inf")
        .arg(REBUILDING)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(TIMELINE_TTL_S)
        .query_async(&mut conn)
        .await?;
    let timeline = recent_posts(pg, user).await?;
    let mut eval = redis::cmd("EVAL");
    eval.arg(REBUILD_SCRIPT)
        .arg(1)
        .arg(&key)
        .arg(TIMELINE_CAP)
        .arg(TIMELINE_TTL_S);
    for entry in &timeline {
        eval.arg(entry.score()).arg(entry.id.to_string());
    }
    let _stored: i64 = eval.query_async(&mut conn).await?;
    metrics::counter!("pettysync_feed_rebuilds_total").increment(1);
    Ok(timeline)
}

/// The newest [`TIMELINE_CAP`] published posts of the user and of everyone they follow.
pub async fn recent_posts(pg: &PgPool, user: UserId) -> Result<Vec<FeedEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.published_at
         FROM (SELECT $1::uuid AS author_id
               UNION ALL SELECT followee_id FROM follows WHERE follower_id = $1) a
         CROSS JOIN LATERAL (
             SELECT id, published_at FROM posts
             WHERE author_id = a.author_id AND status = 'published' AND published_at IS NOT NULL
             ORDER BY published_at DESC, id DESC LIMIT $2
         ) p
         ORDER BY p.published_at DESC, p.id DESC
         LIMIT $2",
    )
    .bind(user)
    .bind(TIMELINE_CAP as i64)
    .fetch_all(pg)
    .await
}
