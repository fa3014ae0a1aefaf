//! Collar snapshots to Redis, written after the batch that carried them is stored and
//! before its messages are acknowledged: a restarted actor resumes from the state of the
//! last message the broker will not redeliver, so re-applying the redelivered ones raises
//! the same alerts (same ids, stored once) and no others. Only the newest snapshot of each
//! collar in a batch is written. If Redis is away the batch is acknowledged anyway (ingest
//! must not stop for a cache); a restart after a crash in that window may resume from an
//! older snapshot (counted in `pettysync_snapshot_failures_total`). After a failure, writes
//! pause for [`PAUSE_AFTER_FAILURE`], so a Redis that hangs costs ingest one timeout per
//! pause rather than one per batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis;

use crate::actors::collar::{snapshot_key, SnapshotWrite};
use crate::cache::Redis;

/// Snapshots outlive a stopped actor by this much.
pub const SNAPSHOT_TTL_S: u64 = 7 * 24 * 3600;
/// Longest a batch's snapshot write may take before its messages are acknowledged anyway.
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long snapshot writes are skipped (and counted as failures) after one failed.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Writes snapshots for persistence, pausing after a failure.
#[derive(Clone)]
pub struct SnapshotWriter {
    redis: Redis,
    paused_until: Arc<Mutex<Option<Instant>>>,
}

impl SnapshotWriter {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            paused_until: Arc::default(),
        }
    }

    /// Writes the newest of `writes` per collar; failures are logged and counted.
    pub async fn write(&self, writes: Vec<SnapshotWrite>) {
        if writes.is_empty() {
            return;
        }
        let newest: HashMap<String, SnapshotWrite> = writes
            .into_iter()
            .map(|write| (write.serial.clone(), write))
            .collect();
        let count = newest.len() as u64;
        if self.paused() {
            metrics::counter!("pettysync_snapshot_failures_total").increment(count);
            return;
        }
        let error = match tokio::time::timeout(WRITE_TIMEOUT, write(&self.redis, newest)).await {
            Ok(Ok(())) => {
                metrics::counter!("pettysync_snapshots_written_total").increment(count);
                return;
            }
            Ok(Err(error)) => error,
            Err(_) => anyhow::anyhow!("timed out after {WRITE_TIMEOUT:?}"),
        };
        metrics::counter!("pettysync_snapshot_failures_total").increment(count);
        tracing::warn!(error = ?error, count, pause = ?PAUSE_AFTER_FAILURE, "could not write live-state snapshots");
        *self.paused_until.lock().expect("never poisoned") =
            Some(Instant::now() + PAUSE_AFTER_FAILURE);
    }

    fn paused(&self) -> bool {
        let paused_until = *self.paused_until.lock().expect("never poisoned");
        paused_until.is_some_and(|until| Instant::now() < until)
    }
}

async fn write(redis: &Redis, newest: HashMap<String, SnapshotWrite>) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    for write in newest.values() {
        let json = serde_json::to_string(&write.snapshot)?;
        pipe.cmd("SET")
            .arg(snapshot_key(redis, &write.serial))
            .arg(json)
            .arg("EX")
            .arg(SNAPSHOT_TTL_S)
            .ignore();
    }
    let mut conn = redis.conn().await?;
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(())
}
