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
//!
//! - here: the timeline's vocabulary ([`FeedEntry`], [`TimelineSlice`]) and its key;
//! - `read`: a page of a timeline from Redis, and the PostgreSQL query that checks it and
//!   merges in the popular authors;
//! - `rebuild`: a timeline rebuilt from PostgreSQL;
//! - `fan_out`: posts written into the timelines that exist, posts taken out, the audience
//!   of a post;
//! - `outbox`: the fan-out outbox rows that published posts leave in PostgreSQL;
//! - `viewer`: whom a reader follows (and which of them are popular), cached for warm reads;
//! - `warm`: the one-script check of a page's posts against the cached cards and sets.

mod fan_out;
mod outbox;
mod read;
mod rebuild;
mod viewer;
mod warm;

pub use self::fan_out::{
    add_to_timelines, fan_out_followers, invalidate_timeline, published_post,
    remove_author_from_timeline,
};
pub use self::outbox::{claim_outbox, mark_processed, pending_outbox, prune_outbox, OutboxRow};
pub use self::read::{page_posts, popular_posts, read_timeline, read_timeline_and_popular};
pub use self::rebuild::{rebuild_timeline, recent_posts};
pub use self::viewer::{
    fill_follows, followees, forget_follows, mark_follows, FOLLOWS_CAP, FOLLOWS_TTL_S,
};
pub use self::warm::{check_posts, Checked};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::cache::Redis;
use crate::ids::UserId;

/// Most posts a timeline holds; older ones fall off, and the feed ends there.
pub const TIMELINE_CAP: usize = 800;
/// A timeline not read for this long expires; the next read rebuilds it.
const TIMELINE_TTL_S: u64 = 7 * 24 * 3600;

/// Marker member: the timeline is complete.
const BUILT: &str = "~built";
/// Marker member: a reader is rebuilding the timeline; fan-outs write into it meanwhile.
const REBUILDING: &str = "~rebuilding";

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
}
