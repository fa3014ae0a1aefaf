//! The feed's storage: per-user timelines in Redis, the fan-out outbox, and the read-time
//! query that checks a timeline page against PostgreSQL and merges in the authors with too
//! many followers to fan out.
//!
//! A timeline is the sorted set `feed:{user}`: member = post id, score = `published_at` in
//! microseconds. A double holds those exactly (until the year 2255), and equal scores order
//! by member, whose UUID text orders like the UUID's bytes, so Redis orders a timeline exactly
//! like PostgreSQL's `ORDER BY published_at DESC, id DESC`, and one cursor serves both.
//!
//! Two marker members with score `+inf` tell a timeline's state: [`BUILT`] (complete, as of
//! its rebuild plus every fan-out since) and [`REBUILDING`] (a reader is loading it). Fan-out
//! writes only into timelines that exist, so an idle user costs nothing, and a reader creates
//! the key before it reads PostgreSQL, so a post fanned out during a rebuild is not lost.
//! Everything here can be rebuilt from PostgreSQL: losing a timeline costs one rebuild.

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::cache::Redis;
use crate::ids::UserId;

/// Most posts a timeline holds; older ones fall off, and the feed ends there.
pub const TIMELINE_CAP: usize = 800;
/// A timeline not read for this long expires; the next read rebuilds it.
const TIMELINE_TTL_S: u64 = 7 * 24 * 3600;
/// Most post insertions one fan-out script makes, so Redis is never blocked for long.
const WRITES_PER_SCRIPT: usize = 1000;
/// Marker member: the timeline is complete.
const BUILT: &str = "~built";
/// Marker member: a reader is rebuilding the timeline; fan-outs write into it meanwhile.
const REBUILDING: &str = "~rebuilding";

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

/// A post's place in feeds: its id and its publication time, the feed's sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedEntry {
    pub id: Uuid,
    pub published_at: DateTime<Utc>,
}

impl FeedEntry {
    /// The sort key: feeds run from the largest to the smallest.
    pub fn key(&self) -> (DateTime<Utc>, Uuid) {
        (self.published_at, self.id)
    }

    fn score(&self) -> i64 {
        self.published_at.timestamp_micros()
    }
}

/// A page's worth of a timeline, below a cursor.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TimelineSlice {
    /// Entries below the cursor, newest first.
    pub entries: Vec<FeedEntry>,
    /// More entries follow the last of `entries`.
    pub truncated: bool,
    /// The oldest entry when the timeline is full: older posts fell off it.
    pub horizon: Option<(DateTime<Utc>, Uuid)>,
}

impl TimelineSlice {
    /// The slice of a whole timeline (newest first, as a rebuild loads it) below `before`.
    pub fn of(timeline: &[FeedEntry], before: (DateTime<Utc>, Uuid), fetch: usize) -> Self {
        let mut below = timeline.iter().filter(|entry| entry.key() < before);
        let entries: Vec<FeedEntry> = below.by_ref().take(fetch).copied().collect();
        Self {
            entries,
            truncated: below.next().is_some(),
            horizon: (timeline.len() >= TIMELINE_CAP)
                .then(|| timeline.last().map(FeedEntry::key))
                .flatten(),
        }
    }
}

fn timeline_key(redis: &Redis, user: UserId) -> String {
    redis.key(&format!("feed:{user}"))
}

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

/// The user's timeline below `before`, up to `fetch` entries; `None` when it is not built.
/// One round trip; a read also keeps the timeline from expiring.
pub async fn read_timeline(
    redis: &Redis,
    user: UserId,
    before: (DateTime<Utc>, Uuid),
    fetch: usize,
) -> anyhow::Result<Option<TimelineSlice>> {
    type Scored = Vec<(String, f64)>;
    let key = timeline_key(redis, user);
    let bound = before.0.timestamp_micros();
    let mut conn = redis.conn().await?;
    let (built, below, ties, posts, oldest, _): (
        Option<String>,
        Scored,
        Scored,
        usize,
        Scored,
        i64,
    ) = redis::pipe()
        .cmd("ZSCORE")
        .arg(&key)
        .arg(BUILT)
        .cmd("ZREVRANGEBYSCORE")
        .arg(&key)
        .arg(format!("({bound}"))
        .arg("-inf")
        .arg("WITHSCORES")
        .arg("LIMIT")
        .arg(0)
        .arg(fetch)
        // Entries at the cursor's very microsecond: those with a smaller id are below it.
        .cmd("ZREVRANGEBYSCORE")
        .arg(&key)
        .arg(bound)
        .arg(bound)
        .arg("WITHSCORES")
        .arg("LIMIT")
        .arg(0)
        .arg(TIMELINE_CAP)
        .cmd("ZCOUNT")
        .arg(&key)
        .arg("-inf")
        .arg("(+inf")
        .cmd("ZRANGE")
        .arg(&key)
        .arg(0)
        .arg(0)
        .arg("WITHSCORES")
        .cmd("EXPIRE")
        .arg(&key)
        .arg(TIMELINE_TTL_S)
        .query_async(&mut conn)
        .await?;
    if built.is_none() {
        return Ok(None);
    }
    let below = parse_entries(below);
    let mut entries: Vec<FeedEntry> = parse_entries(ties)
        .into_iter()
        .filter(|entry| entry.id < before.1)
        .collect();
    let truncated = below.len() >= fetch || entries.len() + below.len() > fetch;
    entries.extend(below);
    entries.truncate(fetch);
    let horizon = (posts >= TIMELINE_CAP)
        .then(|| parse_entries(oldest).first().map(FeedEntry::key))
        .flatten();
    Ok(Some(TimelineSlice {
        entries,
        truncated,
        horizon,
    }))
}

/// Post members with their scores; markers (and anything else that is not a post) are skipped.
fn parse_entries(scored: Vec<(String, f64)>) -> Vec<FeedEntry> {
    scored
        .into_iter()
        .filter_map(|(member, score)| {
            let id = member.parse::<Uuid>().ok()?;
            // Scores are microseconds written from i64s below 2^53, so they convert back exactly.
            let published_at = DateTime::from_timestamp_micros(score as i64)?;
            Some(FeedEntry { id, published_at })
        })
        .collect()
}

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
async fn recent_posts(pg: &PgPool, user: UserId) -> Result<Vec<FeedEntry>, sqlx::Error> {
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

/// One query for a feed page: the timeline's `listed` posts that are still published and by
/// the user or someone they still follow (a fan-out can race an unfollow), plus the posts
/// below `before` of followees with more than `max_followers` followers (never fanned out).
/// Newest first, at most `fetch`.
pub async fn page_posts(
    pg: &PgPool,
    user: UserId,
    listed: &[Uuid],
    before: (DateTime<Utc>, Uuid),
    max_followers: u64,
    fetch: i64,
) -> Result<Vec<FeedEntry>, sqlx::Error> {
    sqlx::query_as(
        "WITH listed AS (
             SELECT p.id, p.published_at FROM posts p
             WHERE p.id = ANY($2) AND p.status = 'published' AND p.published_at IS NOT NULL
               AND (p.author_id = $1 OR EXISTS (
                   SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = p.author_id))
         ),
         big_authors AS (
             -- Bounded: no author's followers are counted past the threshold.
             SELECT f.followee_id AS author_id FROM follows f
             WHERE f.follower_id = $1
               AND EXISTS (SELECT 1 FROM follows g WHERE g.followee_id = f.followee_id OFFSET $6)
         ),
         merged AS (
             SELECT p.id, p.published_at FROM big_authors b
             CROSS JOIN LATERAL (
                 SELECT id, published_at FROM posts
                 WHERE author_id = b.author_id AND status = 'published'
                   AND published_at IS NOT NULL AND (published_at, id) < ($3, $4)
                 ORDER BY published_at DESC, id DESC LIMIT $5
             ) p
         )
         SELECT id, published_at FROM listed
         UNION
         SELECT id, published_at FROM merged
         ORDER BY published_at DESC, id DESC
         LIMIT $5",
    )
    .bind(user)
    .bind(listed)
    .bind(before.0)
    .bind(before.1)
    .bind(fetch)
    .bind(i64::try_from(max_followers).unwrap_or(i64::MAX))
    .fetch_all(pg)
    .await
}

/// An outbox row being drained, with its post's publication time when the post is
/// (still) published.
#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub post_id: Uuid,
    pub author_id: UserId,
    pub published_at: Option<DateTime<Utc>>,
}

/// Locks up to `max_rows` unprocessed outbox rows, oldest first, skipping rows another
/// drain (on this node or another) holds.
pub async fn claim_outbox(
    tx: &mut PgConnection,
    max_rows: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, o.post_id, o.author_id, p.published_at
         FROM feed_outbox o
         LEFT JOIN posts p ON p.id = o.post_id AND p.status = 'published'
         WHERE o.processed_at IS NULL
         ORDER BY o.id
         LIMIT $1
         FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(max_rows)
    .fetch_all(tx)
    .await
}

pub async fn mark_processed(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE feed_outbox SET processed_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}

/// Unprocessed outbox rows, for the backlog gauge.
pub async fn pending_outbox(pg: &PgPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feed_outbox WHERE processed_at IS NULL")
            .fetch_one(pg)
            .await?;
    Ok(count)
}

/// Deletes up to `max_rows` rows processed more than `keep_s` seconds ago.
pub async fn prune_outbox(pg: &PgPool, keep_s: u64, max_rows: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM feed_outbox WHERE id IN (
             SELECT id FROM feed_outbox
             WHERE processed_at < now() - make_interval(secs => $1)
             ORDER BY id LIMIT $2)",
    )
    .bind(keep_s as f64)
    .bind(max_rows)
    .execute(pg)
    .await?;
    Ok(done.rows_affected())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(micros: i64) -> FeedEntry {
        FeedEntry {
            id: Uuid::new_v4(),
            published_at: DateTime::from_timestamp_micros(micros).unwrap(),
        }
    }

    #[test]
    fn a_slice_of_a_rebuilt_timeline_starts_below_the_cursor() {
        let timeline: Vec<FeedEntry> = (0..5).rev().map(|n| entry(1_000 + n)).collect();
        let slice = TimelineSlice::of(&timeline, timeline[1].key(), 2);
        assert_eq!(slice.entries, timeline[2..4]);
        assert!(slice.truncated);
        assert_eq!(slice.horizon, None);

        let rest = TimelineSlice::of(&timeline, timeline[3].key(), 2);
        assert_eq!(rest.entries, timeline[4..]);
        assert!(!rest.truncated);
    }

    #[test]
    fn a_full_rebuilt_timeline_has_a_horizon() {
        let timeline: Vec<FeedEntry> = (0..TIMELINE_CAP as i64).rev().map(entry).collect();
        let slice = TimelineSlice::of(&timeline, (DateTime::<Utc>::MAX_UTC, Uuid::max()), 3);
        assert_eq!(slice.horizon, timeline.last().map(FeedEntry::key));
    }

    #[test]
    fn markers_are_not_posts_and_scores_come_back_exactly() {
        let post = entry(1_764_151_500_123_457);
        let scored = vec![
            (BUILT.to_owned(), f64::INFINITY),
            (post.id.to_string(), post.score() as f64),
        ];
        assert_eq!(parse_entries(scored), vec![post]);
    }
}
