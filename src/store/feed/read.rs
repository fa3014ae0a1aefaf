//! Reading a feed page: the timeline's slice below a cursor from Redis in one round trip,
//! then one PostgreSQL query that keeps what is still published and followed and merges in
//! the posts of followees too popular to fan out.

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use sqlx::PgPool;
use uuid::Uuid;

use super::{timeline_key, FeedEntry, TimelineSlice, BUILT, TIMELINE_CAP, TIMELINE_TTL_S};
use crate::cache::Redis;
use crate::ids::UserId;

/// The user's timeline below `before`, up to `fetch` entries; `None` when it is not built.
/// One round trip; a read also keeps the timeline from expiring.
pub async fn read_timeline(
    redis: &Redis,
    user: UserId,
    before: (DateTime<Utc>, Uuid),
    fetch: usize,
) -> anyhow::Result<Option<TimelineSlice>> {
    let pipe = timeline_pipe(redis, user, before, fetch);
    let mut conn = redis.conn().await?;
    let read: TimelineRead = pipe.query_async(&mut conn).await?;
    Ok(slice_of(read, before, fetch))
}

/// [`read_timeline`] and, in the same round trip, the user's popular followees as cached
/// (`None` when they are not: see `viewer`).
pub async fn read_timeline_and_popular(
    redis: &Redis,
    user: UserId,
    before: (DateTime<Utc>, Uuid),
    fetch: usize,
) -> anyhow::Result<(Option<TimelineSlice>, Option<Vec<UserId>>)> {
    let mut pipe = timeline_pipe(redis, user, before, fetch);
    pipe.cmd("GET").arg(super::viewer::popular_key(redis, user));
    let mut conn = redis.conn().await?;
    let (built, below, ties, posts, oldest, expiry, popular): (
        Option<String>,
        Scored,
        Scored,
        usize,
        Scored,
        i64,
        Option<String>,
    ) = pipe.query_async(&mut conn).await?;
    let slice = slice_of((built, below, ties, posts, oldest, expiry), before, fetch);
    // An unreadable list is as good as none: the reader fills it again.
    let popular = popular.and_then(|json| serde_json::from_str(&json).ok());
    Ok((slice, popular))
}

type Scored = Vec<(String, f64)>;
/// The answers of [`timeline_pipe`]'s commands.
type TimelineRead = (Option<String>, Scored, Scored, usize, Scored, i64);

/// The commands that read a timeline's slice below `before` and keep it from expiring.
fn timeline_pipe(
    redis: &Redis,
    user: UserId,
    before: (DateTime<Utc>, Uuid),
    fetch: usize,
) -> redis::Pipeline {
    let key = timeline_key(redis, user);
    let bound = before.0.timestamp_micros();
    let mut pipe = redis::pipe();
    pipe.cmd("ZSCORE")
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
        .arg(TIMELINE_TTL_S);
    pipe
}

/// The slice the pipeline's answers describe; `None` when the timeline is not built.
fn slice_of(
    (built, below, ties, posts, oldest, _): TimelineRead,
    before: (DateTime<Utc>, Uuid),
    fetch: usize,
) -> Option<TimelineSlice> {
    built.as_ref()?;
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
    Some(TimelineSlice {
        entries,
        truncated,
        horizon,
    })
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

/// The published posts below `before` of `authors` (the popular followees, whose posts are
/// merged in at read time), newest first, at most `fetch`.
pub async fn popular_posts(
    pg: &PgPool,
    authors: &[UserId],
    before: (DateTime<Utc>, Uuid),
    fetch: i64,
) -> Result<Vec<FeedEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.published_at FROM UNNEST($1::uuid[]) AS a(author_id)
         CROSS JOIN LATERAL (
             SELECT id, published_at FROM posts
             WHERE author_id = a.author_id AND status = 'published'
               AND published_at IS NOT NULL AND (published_at, id) < ($2, $3)
             ORDER BY published_at DESC, id DESC LIMIT $4
         ) p
         ORDER BY p.published_at DESC, p.id DESC
         LIMIT $4",
    )
    .bind(authors)
    .bind(before.0)
    .bind(before.1)
    .bind(fetch)
    .fetch_all(pg)
    .await
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
    fn markers_are_not_posts_and_scores_come_back_exactly() {
        let post = entry(1_764_151_500_123_457);
        let scored = vec![
            (BUILT.to_owned(), f64::INFINITY),
            (post.id.to_string(), post.score() as f64),
        ];
        assert_eq!(parse_entries(scored), vec![post]);
    }
}
