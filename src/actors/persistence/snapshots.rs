//! Writes collar snapshots to Redis after the messages behind them are stored. Only the
//! newest snapshot of each collar matters, so pending ones are kept one per collar (a newer
//! one replaces an older one not yet written) and written in rounds by one task, in the
//! order they were stored: a slow Redis costs writes, never memory or order. A snapshot is
//! best effort: if Redis is down it is lost, and a restarted actor resumes from an older one
//! (alerts raised again have the same ids and are stored once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis;
use tokio::sync::Notify;

use crate::actors::collar::{snapshot_key, SnapshotWrite};
use crate::cache::Redis;

/// Snapshots outlive a stopped actor by this much.
pub const SNAPSHOT_TTL_S: u64 = 7 * 24 * 3600;
/// Longest one round of writes may take before it is given up (Redis is away).
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// The newest stored-but-unwritten snapshot of each collar.
#[derive(Clone)]
pub struct SnapshotWriter {
    pending: Arc<Mutex<HashMap<String, SnapshotWrite>>>,
    wake: Arc<Notify>,
}

impl SnapshotWriter {
    /// Starts the writing task on the current runtime.
    pub fn start(redis: Redis) -> Self {
        let writer = Self {
            pending: Arc::default(),
            wake: Arc::new(Notify::new()),
        };
        let task = writer.clone();
        tokio::spawn(async move { task.run(redis).await });
        writer
    }

    /// Queues a snapshot; it replaces the collar's previous one if that was not written yet.
    pub fn push(&self, write: SnapshotWrite) {
        self.lock().insert(write.serial.clone(), write);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SnapshotWrite>> {
        // A panic while holding this lock leaves a plain map behind: still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self, redis: Redis) {
        loop {
            self.wake.notified().await;
            let round: Vec<SnapshotWrite> = self.lock().drain().map(|(_, w)| w).collect();
            if round.is_empty() {
                continue;
            }
            let count = round.len();
            match tokio::time::timeout(ROUND_TIMEOUT, write(&redis, round)).await {
                Ok(Ok(())) => {
                    metrics::counter!("pettysync_snapshots_written_total").increment(count as u64)
                }
                Ok(Err(error)) => {
                    metrics::counter!("pettysync_snapshot_failures_total").increment(count as u64);
                    tracing::warn!(error = ?error, count, "could not write live-state snapshots");
                }
                Err(_) => {
                    metrics::counter!("pettysync_snapshot_failures_total").increment(count as u64);
                    tracing::warn!(count, "writing live-state snapshots timed out");
                }
            }
        }
    }
}

async fn write(redis: &Redis, round: Vec<SnapshotWrite>) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    for write in &round {
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
