//! The second round trip of a warm feed read: one script that, for the posts of a page,
//! answers each one's card, whether the reader may see it in their feed (published: a card
//! and not a tombstone; by the reader or someone they follow) and whether they like it.
//! Nothing is taken on trust: a post whose card, or a reader whose follows or likes, are not
//! cached makes the whole answer [`Checked::Incomplete`], and the reader asks PostgreSQL.

use deadpool_redis::redis;
use uuid::Uuid;

use super::viewer::follows_key;
use crate::cache::{eval, Redis};
use crate::ids::UserId;
use crate::store::posts::{card_key, liked_key, Card};

/// KEYS: follows set, liked set, then one card key per post; ARGV: the reader, then the post
/// ids. Four commands whatever the page's size (the cards in one MGET, likes and follows in
/// one SMISMEMBER each). Answers both sets' `~built`, then per post `m` (no card), `g` (deleted), `h` (by
/// someone the reader does not follow), or `l`/`n` (liked or not) followed by the card's JSON.
const CHECK_SCRIPT: &str = r"
local follows_built = redis.call('SISMEMBER', KEYS[1], '~built')
local liked_built = redis.call('SISMEMBER', KEYS[2], '~built')
local out = {follows_built, liked_built}
if #KEYS == 2 then
  return out
end
local cards = redis.call('MGET', unpack(KEYS, 3))
local liked = redis.call('SMISMEMBER', KEYS[2], unpack(ARGV, 2))
local authors = {}
for i, value in ipairs(cards) do
  authors[i] = value and string.sub(value, 1, 36) or ARGV[1]
end
local followed = redis.call('SMISMEMBER', KEYS[1], unpack(authors))
for i, value in ipairs(cards) do
  local state
  if not value then
    state = 'm'
  elseif value == '~gone' then
    state = 'g'
  elseif string.sub(value, 1, 1) == '~' then
    state = 'm'
  elseif authors[i] ~= ARGV[1] and followed[i] == 0 then
    state = 'h'
  elseif liked[i] == 1 then
    state = 'l' .. string.sub(value, 38)
  else
    state = 'n' .. string.sub(value, 38)
  end
  out[#out + 1] = state
end
return out
";

/// What the cache says about a page's posts.
#[derive(Debug)]
pub enum Checked {
    /// Every post is known: the ones the reader sees in their feed, with their cards and
    /// whether the reader likes them.
    Complete(Vec<(Card, bool)>),
    /// The posts without a card (to fill), and whether the reader's follows and liked sets
    /// are missing.
    Incomplete {
        missing_cards: Vec<Uuid>,
        follows_missing: bool,
        liked_missing: bool,
    },
}

/// Checks `posts` for `reader` in one round trip.
pub async fn check_posts(redis: &Redis, reader: UserId, posts: &[Uuid]) -> anyhow::Result<Checked> {
    let mut keys = Vec::with_capacity(posts.len() + 2);
    keys.push(follows_key(redis, reader));
    keys.push(liked_key(redis, reader));
    keys.extend(posts.iter().map(|post| card_key(redis, *post)));
    let mut args = Vec::with_capacity(posts.len() + 1);
    args.push(reader.to_string());
    args.extend(posts.iter().map(Uuid::to_string));
    let mut conn = redis.conn().await?;
    let answer: Vec<redis::Value> = eval(CHECK_SCRIPT, &keys, &args)
        .query_async(&mut conn)
        .await?;
    let mut answer = answer.into_iter();
    let follows_built = matches!(answer.next(), Some(redis::Value::Int(1)));
    let liked_built = matches!(answer.next(), Some(redis::Value::Int(1)));
    let mut visible = Vec::with_capacity(posts.len());
    let mut missing_cards = Vec::new();
    for (post, state) in posts.iter().zip(answer) {
        let state: String = redis::from_redis_value(&state)?;
        match state.split_at_checked(1) {
            Some(("g" | "h", _)) => {}
            Some((liked @ ("l" | "n"), json)) => match serde_json::from_str::<Card>(json) {
                Ok(card) => visible.push((card, liked == "l")),
                // A card this version cannot read is as good as none: it is filled again.
                Err(_) => missing_cards.push(*post),
            },
            _ => missing_cards.push(*post),
        }
    }
    if follows_built && liked_built && missing_cards.is_empty() {
        return Ok(Checked::Complete(visible));
    }
    Ok(Checked::Incomplete {
        missing_cards,
        follows_missing: !follows_built,
        liked_missing: !liked_built,
    })
}
