//! `PersistenceSupervisor`: writes raw samples, dead letters and the alerts they raised to
//! MongoDB in batches, marks the roll-up hours the samples change stale (one statement per
//! batch; a failure there is retried like a failed write), then the collar snapshots the batch's messages left to Redis, and
//! only then acknowledges the messages, so a crash before the write means the broker
//! redelivers, and a restarted collar actor resumes exactly where the broker resumes. Then
//! the batch's alerts go to the alert supervisor.
//!
//! - `batch`: the MongoDB writes of one batch, and the sample documents;
//! - `snapshots`: the batch's collar snapshots to Redis;
//! - `watermarks`: the highest `seq` stored per collar, so a fresh stream skips the
//!   duplicate-check query.

mod batch;
mod snapshots;
#[cfg(test)]
mod tests;
mod watermarks;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix::prelude::*;
use mongodb::bson::Document;

pub use self::batch::SampleRecord;
pub use self::snapshots::SNAPSHOT_TTL_S;
use super::alerts::{Deliver, RaiseAlert};
use super::collar::SnapshotWrite;
use crate::cache::Redis;
use crate::domain::ack::{AckToken, Acknowledge};
use crate::retry::Backoff;
pub use crate::store::fields::{integer, number};

/// Most documents in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest a document waits for companions before its batch is written anyway.
pub const MAX_LINGER: Duration = Duration::from_millis(2);
/// Documents buffered before ingest is made to wait (back-pressure to the broker).
pub const MAX_BUFFERED: usize = 20_000;
/// Messages waiting in the supervisor's mailbox before senders wait.
const MAILBOX_CAPACITY: usize = 1024;
/// Waits between retries of a failed write: doubled per failure up to the last.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// What one MQTT message (or a collar actor's timer) left to store.
#[derive(Default, Message)]
#[rtype(result = "usize")]
pub struct Append {
    /// Valid samples.
    pub samples: Vec<SampleRecord>,
    /// Dead letters (the whole message, or rejected elements of a batch).
    pub dead_letters: Vec<Document>,
    /// Alerts raised: into the alert outbox with the samples, then to the alert supervisor.
    pub alerts: Vec<RaiseAlert>,
    /// The collar actor's memory after the message: written once the message is stored,
    /// before it is acknowledged.
    pub snapshot: Option<SnapshotWrite>,
    /// Acknowledged once all of the above are stored.
    pub ack: Option<AckToken>,
    /// Told once all of the above are stored: for a sender that acknowledges elsewhere (a
    /// forwarded entry in a Redis Stream, an MQTT message acknowledged after its forward).
    pub stored: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Append {
    fn docs(&self) -> usize {
        self.samples.len() + self.dead_letters.len() + self.alerts.len()
    }
}

/// Write everything buffered now and answer when the buffer is empty (shutdown); the caller
/// bounds the wait.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Documents buffered now.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Buffered;

/// Where a stored batch's effects go.
pub struct Outputs {
    /// Where the roll-up marks go.
    pub pg: sqlx::PgPool,
    pub acker: std::sync::Arc<dyn Acknowledge>,
    pub redis: Redis,
    pub alerts: Recipient<Deliver>,
}

pub struct PersistenceSupervisor {
    db: mongodb::Database,
    outputs: Outputs,
    snapshots: snapshots::SnapshotWriter,
    watermarks: watermarks::Watermarks,
    buffer: VecDeque<Append>,
    buffered_docs: usize,
    writing: bool,
    linger: Option<SpawnHandle>,
    failures: u32,
    drain_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl PersistenceSupervisor {
    pub fn new(db: mongodb::Database, outputs: Outputs) -> Self {
        Self {
            db,
            snapshots: snapshots::SnapshotWriter::new(outputs.redis.clone()),
            watermarks: watermarks::Watermarks::new(outputs.redis.clone()),
            outputs,
            buffer: VecDeque::new(),
            buffered_docs: 0,
            writing: false,
            linger: None,
            failures: 0,
            drain_waiters: Vec::new(),
        }
    }

    /// Starts a write when one is due: nothing is being written and either a full batch is
    /// waiting or the oldest document has lingered long enough (checked by the timer).
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.buffer.is_empty() {
            self.wake_drainers();
            return;
        }
        // With no documents waiting, only snapshots and acknowledgements: no reason to linger.
        let full = self.buffered_docs >= MAX_BATCH || self.buffered_docs == 0;
        if full || !self.drain_waiters.is_empty() {
            self.write(ctx);
        } else if self.linger.is_none() {
            self.linger = Some(ctx.run_later(MAX_LINGER, |actor, ctx| {
                actor.linger = None;
                if !actor.writing {
                    actor.write(ctx);
                }
            }));
        }
    }

    fn write(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.linger.take() {
            ctx.cancel_future(handle);
        }
        let mut taken = 0;
        let mut count = 0;
        for append in &self.buffer {
            let docs = append.docs();
            if count > 0 && count + docs > MAX_BATCH {
                break;
            }
            count += docs;
            taken += 1;
        }
        if taken == 0 {
            return;
        }
        self.writing = true;
        let (mut samples, mut dead, mut alerts) = (Vec::new(), Vec::new(), Vec::new());
        let mut snapshots = Vec::new();
        for append in self.buffer.iter().take(taken) {
            samples.extend(
                append
                    .samples
                    .iter()
                    .map(|r| (r.serial.clone(), r.seq, r.doc.clone())),
            );
            dead.extend(append.dead_letters.iter().cloned());
            alerts.extend(append.alerts.iter().map(RaiseAlert::to_outbox_doc));
            snapshots.extend(append.snapshot.clone());
        }
        let marks = rollup_marks(self.buffer.iter().take(taken));
        let (db, snapshots_out, pg, watermarks) = (
            self.db.clone(),
            self.snapshots.clone(),
            self.outputs.pg.clone(),
            self.watermarks.clone(),
        );
        let started = Instant::now();
        let write = async move {
            let deduped = batch::write_batch(db, &watermarks, samples, dead, alerts).await?;
            // Marked after the insert: a pass between the two finds the samples stored and
            // the mark still to come, never a mark cleared before its sample is readable.
            // A batch retried after this fails is deduplicated by the insert, and marked again.
            crate::store::rollups::mark_dirty(&pg, marks).await?;
            snapshots_out.write(snapshots).await;
            Ok::<_, WriteError>(deduped)
        };
        ctx.spawn(crate::rt::guarded(write).into_actor(self).map(move |result, actor, ctx| {
            actor.writing = false;
            match result {
                Ok(deduped) => {
                    actor.failures = 0;
                    metrics::histogram!("pettysync_persistence_batch_docs").record(count as f64);
                    metrics::histogram!("pettysync_persistence_write_seconds").record(started.elapsed().as_secs_f64());
                    metrics::counter!("pettysync_duplicate_samples_total").increment(deduped.duplicates as u64);
                    actor.complete(taken, count);
                    actor.schedule(ctx);
                }
                Err(error) => {
                    actor.failures += 1;
                    let backoff = RETRY_BACKOFF.after(actor.failures);
                    metrics::counter!("pettysync_persistence_failures_total").increment(1);
                    tracing::warn!(error = ?error, ?backoff, "writing samples failed; retrying");
                    ctx.run_later(backoff, |actor, ctx| actor.schedule(ctx));
                }
            }
            metrics::gauge!("pettysync_persistence_buffered").set(actor.buffered_docs as f64);
        }));
    }

    /// The first `taken` messages are stored (and their snapshots written): their
    /// acknowledgements go to the broker, their alerts to the alert supervisor.
    fn complete(&mut self, taken: usize, docs: usize) {
        self.buffered_docs -= docs;
        let mut alerts = Vec::new();
        for append in self.buffer.drain(..taken) {
            if let Some(ack) = append.ack {
                self.outputs.acker.ack(ack);
            }
            if let Some(stored) = append.stored {
                // The waiter may have given up (shutdown): nothing to tell then.
                let _ = stored.send(());
            }
            alerts.extend(append.alerts);
        }
        if !alerts.is_empty() {
            self.outputs.alerts.do_send(Deliver { alerts });
        }
    }

    fn wake_drainers(&mut self) {
        if self.buffer.is_empty() {
            for waiter in self.drain_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

/// Why a batch was not stored; it is retried either way.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("roll-up marks: {0}")]
    Marks(#[from] sqlx::Error),
}

/// The `(pet, hour)` roll-up marks of the batch's samples, each once.
fn rollup_marks<'a>(appends: impl Iterator<Item = &'a Append>) -> Vec<(crate::ids::PetId, i64)> {
    let mut marks = std::collections::HashSet::new();
    for record in appends.flat_map(|a| &a.samples) {
        if let Some(pet) = record.pet {
            marks.extend(crate::domain::stats::hours_touched(record.ts_ms).map(|hour| (pet, hour)));
        }
    }
    marks.into_iter().collect()
}

impl Supervised for PersistenceSupervisor {}

impl Actor for PersistenceSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Append> for PersistenceSupervisor {
    type Result = usize;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> usize {
        self.buffered_docs += msg.docs();
        self.buffer.push_back(msg);
        self.schedule(ctx);
        metrics::gauge!("pettysync_persistence_buffered").set(self.buffered_docs as f64);
        self.buffered_docs
    }
}

impl Handler<Buffered> for PersistenceSupervisor {
    type Result = usize;

    fn handle(&mut self, _: Buffered, _: &mut Context<Self>) -> usize {
        self.buffered_docs
    }
}

impl Handler<Drain> for PersistenceSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        if self.buffer.is_empty() {
            return Box::pin(async {});
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.drain_waiters.push(tx);
        self.schedule(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
