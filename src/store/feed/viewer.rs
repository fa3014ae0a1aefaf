//! Whom a reader follows, cached in Redis for the warm feed read: the set
//! `feed:{user}:follows` (the followees' ids and the marker `~built`) and the string
//! `feed:{user}:popular` (a JSON list of the followees too popular to fan out, whose posts the
//! read merges in). Both are filled together, guarded by a filling marker like the cards (see
//! `posts::cards`), dropped together on the user's follow or unfollow, and live
//! [`FOLLOWS_TTL_S`]: an author who becomes popular through others' follows is merged in
//! (and no longer fanned out) at most that long after.
//!
//! Users following more than [`FOLLOWS_CAP`] authors have no cached follows: their feed
//! reads ask PostgreSQL.

use deadpool_redis::redis;
use sqlx::PgPool;

use crate::cache::{eval, Redis};
use crate::ids::UserId;
use crate::store::posts::MARK_SET;

/// How long a reader's cached follows live.
pub const FOLLOWS_TTL_S: u64 = 60;
/// Users following more authors than this have no cached follows.
pub const FOLLOWS_CAP: usize = 10_000;
/// How long a filling marker lives.
const FILL_MARK_TTL_S: u64 = 30;

/// Completes the follows set and writes the popular list if the marker is still there.
/// KEYS: follows, popular; ARGV: marker, TTL, popular JSON, then the followee ids.
const FILL_FOLLOWS: &str = r"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return 0
end
for i = 4, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
end
redis.call('SADD', KEYS[1], '~built')
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1
";

/// The key of the user's follows set.
pub fn follows_key(redis: &Redis, user: UserId) -> String {
    redis.key(&format!("feed:{user}:follows"))
}

/// The key of the user's popular followees.
pub fn popular_key(redis: &Redis, user: UserId) -> String {
    redis.key(&format!("feed:{user}:popular"))
}

/// Places `marker` in the user's follows set when it is missing (a stale set without its
/// popular list is dropped first); true when this reader may fill it.
pub async fn mark_follows(redis: &Redis, user: UserId, marker: &str) -> anyhow::Result<bool> {
    let (follows, popular) = (follows_key(redis, user), popular_key(redis, user));
    let mut conn = redis.conn().await?;
    let popular_there: bool = redis::cmd("EXISTS")
        .arg(&popular)
        .query_async(&mut conn)
        .await?;
    if !popular_there {
        let _: () = redis::cmd("DEL")
            .arg(&follows)
            .query_async(&mut conn)
            .await?;
    }
    let placed: i64 = eval(
        MARK_SET,
        &[follows],
        &[marker.to_owned(), FILL_MARK_TTL_S.to_string()],
    )
    .query_async(&mut conn)
    .await?;
    Ok(placed == 1)
}

/// Stores the user's followees and the popular ones among them, read after the marker.
pub async fn fill_follows(
    redis: &Redis,
    user: UserId,
    followees: &[(UserId, bool)],
    marker: &str,
) -> anyhow::Result<()> {
    let popular: Vec<UserId> = followees
        .iter()
        .filter(|(_, popular)| *popular)
        .map(|(id, _)| *id)
        .collect();
    let keys = [follows_key(redis, user), popular_key(redis, user)];
    let mut args = vec![
        marker.to_owned(),
        FOLLOWS_TTL_S.to_string(),
        serde_json::to_string(&popular)?,
    ];
    args.extend(followees.iter().map(|(followee, _)| followee.to_string()));
    let mut conn = redis.conn().await?;
    let _filled: i64 = eval(FILL_FOLLOWS, &keys, &args)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// Drops the user's cached follows (after a follow or an unfollow, once PostgreSQL has it).
pub async fn forget_follows(redis: &Redis, user: UserId) -> anyhow::Result<()> {
    let mut conn = redis.conn().await?;
    let _: () = redis::cmd("DEL")
        .arg(follows_key(redis, user))
        .arg(popular_key(redis, user))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// The user's followees, each with whether it has more than `max_followers` followers
/// (counted no further than that); at most [`FOLLOWS_CAP`] + 1 of them.
pub async fn followees(
    pg: &PgPool,
    user: UserId,
    max_followers: u64,
) -> Result<Vec<(UserId, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.followee_id,
                EXISTS (SELECT 1 FROM follows g WHERE g.followee_id = f.followee_id OFFSET $2)
         FROM follows f WHERE f.follower_id = $1 LIMIT $3",
    )
    .bind(user)
    .bind(i64::try_from(max_followers).unwrap_or(i64::MAX))
    .bind(FOLLOWS_CAP as i64 + 1)
    .fetch_all(pg)
    .await
}
