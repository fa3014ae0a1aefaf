//! A starting collar actor's snapshot from Redis, and how long the registry waits for Redis
//! before it starts an actor afresh.

use std::time::{Duration, Instant};

use super::CollarRegistry;
use crate::actors::collar::{snapshot_key, Snapshot};

/// How long collar actors wait for Redis to read their snapshot before they start afresh
/// (their alert rules then forget what they raised: a low battery may alert once more).
/// Meanwhile their messages wait parked; longer would risk the broker's queue.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// The last snapshot of a collar, if Redis has one that parses. An error when Redis cannot
/// say: the collar's actor is then not started from fresh rules (a low battery would alert
/// again), and its messages wait to be tried again.
pub async fn read_snapshot(
    redis: &crate::cache::Redis,
    serial: &str,
) -> anyhow::Result<Option<Snapshot>> {
    let mut snapshots = read_snapshots(redis, &[serial.to_owned()]).await?;
    Ok(snapshots.pop().flatten())
}

/// The last snapshots of many collars in one `MGET`, in the order of `serials`.
pub async fn read_snapshots(
    redis: &crate::cache::Redis,
    serials: &[String],
) -> anyhow::Result<Vec<Option<Snapshot>>> {
    if serials.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = redis.conn().await?;
    let mut mget = deadpool_redis::redis::cmd("MGET");
    for serial in serials {
        mget.arg(snapshot_key(redis, serial));
    }
    let found: Vec<Option<String>> = mget.query_async(&mut conn).await?;
    Ok(serials
        .iter()
        .zip(found)
        .map(|(serial, json)| {
            serde_json::from_str(&json?)
                .map_err(|error| {
                    // Written by another version, or damaged: starting afresh is all one can do.
                    tracing::warn!(collar = %serial, %error, "a live-state snapshot does not parse; starting afresh");
                })
                .ok()
        })
        .collect())
}

impl CollarRegistry {
    /// The snapshot read for a starting actor; when Redis could not say, an error (the
    /// lookup is tried again) until Redis has failed for [`SNAPSHOT_WAIT`], then none.
    pub(super) fn snapshot_or_wait(
        &mut self,
        serial: &str,
        read: anyhow::Result<Option<Snapshot>>,
    ) -> anyhow::Result<Option<Snapshot>> {
        let error = match read {
            Ok(snapshot) => {
                self.snapshots_failing_since = None;
                return Ok(snapshot);
            }
            Err(error) => error,
        };
        let since = *self
            .snapshots_failing_since
            .get_or_insert_with(Instant::now);
        if since.elapsed() < SNAPSHOT_WAIT {
            return Err(error.context("reading the collar's snapshot"));
        }
        metrics::counter!("pettysync_collar_started_without_snapshot_total").increment(1);
        tracing::warn!(collar = %serial, error = ?error, "Redis has been away too long; the collar starts afresh");
        Ok(None)
    }
}
