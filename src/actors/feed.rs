//! `FeedFanout`: drains the feed outbox into Redis timelines. A post and its outbox row
//! commit together; a drain locks a batch of unprocessed rows, adds each post to the
//! timelines of its author and followers, and marks the rows processed in the same
//! transaction. A crash before the commit leaves the rows unprocessed, and the next drain
//! (on this node after a restart, or on another) repeats them: adding a post to a timeline
//! twice changes nothing, so nothing is lost and nothing repeats.
//!
//! Authors with more than `feed_fanout_max_followers` followers are written only to their own
//! timeline; readers merge their posts in at read time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::Redis;
use crate::config::Settings;
use crate::ids::UserId;
use crate::retry::Backoff;
use crate::store::feed::{self, FeedEntry};

/// Most outbox rows one drain takes.
pub const MAX_BATCH: i64 = 100;
/// How often the outbox is checked without a nudge (a post published on another node, or
/// a nudge lost to a restart).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Waits after a failed drain: doubled per failure up to the second.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// How often processed rows are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// How long processed rows are kept (to see what was fanned out when), in seconds.
const KEEP_PROCESSED_S: u64 = 7 * 24 * 3600;
/// Most processed rows one prune deletes.
const PRUNE_BATCH: i64 = 10_000;

/// A post was published (its transaction committed): drain now rather than at the next poll.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Nudge;

pub struct FeedFanout {
    pg: PgPool,
    redis: Redis,
    settings: Settings,
    /// A drain is in flight; only one at a time.
    draining: bool,
    /// A nudge came during the drain in flight: its post may have committed after the
    /// drain's query, so drain again when it ends.
    nudged: bool,
    failures: u32,
    /// No drain before this, after a failure.
    retry_at: Option<Instant>,
}

impl FeedFanout {
    /// Starts the fan-out supervisor. A fresh one (after a crash or on another node) simply
    /// resumes from the unprocessed outbox rows.
    pub fn start(pg: PgPool, redis: Redis, settings: &Settings) -> Addr<FeedFanout> {
        let settings = settings.clone();
        Supervisor::start(move |_| FeedFanout {
            pg,
            redis,
            settings,
            draining: false,
            nudged: false,
            failures: 0,
            retry_at: None,
        })
    }

    fn drain(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            self.nudged = true;
            return;
        }
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        self.draining = true;
        self.nudged = false;
        let (pg, redis, settings) = (self.pg.clone(), self.redis.clone(), self.settings.clone());
        let started = Instant::now();
        let work = async move {
            let taken = drain_once(&pg, &redis, &settings, MAX_BATCH).await?;
            let pending = feed::pending_outbox(&pg).await?;
            Ok::<_, anyhow::Error>((taken, pending))
        };
        ctx.spawn(
            crate::rt::guarded(work)
                .into_actor(self)
                .map(move |result, actor, ctx| actor.drained(result, started, ctx)),
        );
    }

    fn drained(
        &mut self,
        result: anyhow::Result<(usize, i64)>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        self.draining = false;
        metrics::histogram!("pettysync_feed_drain_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok((taken, pending)) => {
                self.failures = 0;
                self.retry_at = None;
                metrics::gauge!("pettysync_feed_outbox_pending").set(pending as f64);
                // A full batch means more is probably waiting: no need to wait for the poll.
                if taken as i64 >= MAX_BATCH || self.nudged {
                    self.drain(ctx);
                }
            }
            Err(error) => {
                self.failures += 1;
                let backoff = RETRY_BACKOFF.after(self.failures);
                self.retry_at = Some(Instant::now() + backoff);
                metrics::counter!("pettysync_feed_drain_failures_total").increment(1);
                tracing::warn!(error = ?error, ?backoff, "feed fan-out failed; retrying");
            }
        }
    }

    fn prune(&mut self, ctx: &mut Context<Self>) {
        let pg = self.pg.clone();
        let work = async move { feed::prune_outbox(&pg, KEEP_PROCESSED_S, PRUNE_BATCH).await };
        ctx.spawn(
            crate::rt::guarded(work)
                .into_actor(self)
                .map(|result, _, _| match result {
                    Ok(pruned) => tracing::debug!(pruned, "pruned the feed outbox"),
                    Err(error) => tracing::warn!(error = ?error, "could not prune the feed outbox"),
                }),
        );
    }
}

impl Actor for FeedFanout {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Rows left unprocessed by a previous run go first.
        self.drain(ctx);
        ctx.run_interval(POLL_INTERVAL, |actor, ctx| actor.drain(ctx));
        ctx.run_interval(PRUNE_INTERVAL, |actor, ctx| actor.prune(ctx));
    }
}

impl Supervised for FeedFanout {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The restart dropped the drain in flight; its rows stay unprocessed and are retaken.
        self.draining = false;
        self.nudged = false;
    }
}

impl Handler<Nudge> for FeedFanout {
    type Result = ();

    fn handle(&mut self, _: Nudge, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }
}

/// One drain: in a transaction, takes up to `max_rows` unprocessed outbox rows (skipping
/// rows another drain holds), fans their posts out, marks them processed and commits.
/// Returns the rows taken. An error leaves every row it took unprocessed.
pub async fn drain_once(
    pg: &PgPool,
    redis: &Redis,
    settings: &Settings,
    max_rows: i64,
) -> anyhow::Result<usize> {
    let mut tx = pg.begin().await?;
    let rows = feed::claim_outbox(&mut tx, max_rows).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // A post deleted (or unpublished) since has nothing to fan out; its row is still done.
    let posts: Vec<(UserId, FeedEntry)> = rows
        .iter()
        .filter_map(|row| {
            let published_at = row.published_at?;
            Some((
                row.author_id,
                FeedEntry {
                    id: row.post_id,
                    published_at,
                },
            ))
        })
        .collect();
    fan_out(pg, redis, settings, &posts).await?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    feed::mark_processed(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Fans one published post out now, outside the outbox; `false` when it is not published.
/// Idempotent, as every fan-out is: a replay adds nothing twice.
pub async fn fan_out_post(
    pg: &PgPool,
    redis: &Redis,
    settings: &Settings,
    post: Uuid,
) -> anyhow::Result<bool> {
    let Some(published) = feed::published_post(pg, post).await? else {
        return Ok(false);
    };
    fan_out(pg, redis, settings, &[published]).await?;
    Ok(true)
}

/// Adds each post to its author's timeline and, unless the author has too many followers,
/// to each follower's; one follower query per author.
async fn fan_out(
    pg: &PgPool,
    redis: &Redis,
    settings: &Settings,
    posts: &[(UserId, FeedEntry)],
) -> anyhow::Result<()> {
    let mut by_author: BTreeMap<UserId, Vec<FeedEntry>> = BTreeMap::new();
    for (author, entry) in posts {
        by_author.entry(*author).or_default().push(*entry);
    }
    for (author, entries) in by_author {
        let followers =
            feed::fan_out_followers(pg, author, settings.feed_fanout_max_followers).await?;
        let mut audience = followers.unwrap_or_else(|| {
            metrics::counter!("pettysync_feed_merged_at_read_total")
                .increment(entries.len() as u64);
            Vec::new()
        });
        audience.push(author);
        let written = feed::add_to_timelines(redis, &audience, &entries).await?;
        metrics::counter!("pettysync_feed_fanouts_total").increment(entries.len() as u64);
        metrics::counter!("pettysync_feed_timeline_writes_total").increment(written as u64);
    }
    Ok(())
}
