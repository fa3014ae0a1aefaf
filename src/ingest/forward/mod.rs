//! Messages of collars another node owns: the node that read a message stores it as usual
//! and hands the decoded samples (or status) to the owner through the owner's Redis Stream
//! (`store::forward`); the owner's `inbox` gives them to its collar actor.
//!
//! - `Forwarder` (here): appends entries in batches, then acknowledges each MQTT message once
//!   its entry is in the stream and its samples are stored — so a crash before either leaves
//!   the message to the broker's redelivery;
//! - `inbox`: a node's reader of its own stream, and of the streams of nodes that left;
//! - `wire`: an entry's JSON.

mod inbox;
mod wire;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use self::inbox::Inbox;
pub use self::wire::{Forwarded, What};
use super::mqtt::{AckToken, Acker};
use crate::cache::Redis;
use crate::cluster::NodeId;
use crate::retry::Backoff;
use crate::store::forward as streams;

/// Entries waiting to be appended; past this, ingest waits (back-pressure to the broker).
pub const FORWARD_QUEUE: usize = 4096;
/// Most entries appended in one round trip.
pub const MAX_FORWARD_BATCH: usize = 256;
/// Waits between attempts while Redis does not take the entries.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// One message to hand to its collar's owner.
pub struct ForwardJob {
    /// The node that owns the collar.
    pub owner: NodeId,
    /// The entry (see [`Forwarded`]).
    pub entry: Forwarded,
    /// The MQTT message, acknowledged once the entry is appended and `stored` said so.
    pub ack: AckToken,
    /// Told when persistence stored what the message carried; `None` when it carried
    /// nothing to store (a status).
    pub stored: Option<oneshot::Receiver<()>>,
}

/// The sending side: cheap to clone, bounded by [`FORWARD_QUEUE`].
#[derive(Clone)]
pub struct Forwarder {
    jobs: mpsc::Sender<ForwardJob>,
}

impl Forwarder {
    /// Starts the task that appends entries; it ends when every sender is gone or `stop`
    /// turns true (what it holds then is not acknowledged: the broker redelivers it).
    pub fn start(
        redis: Redis,
        acker: Acker,
        stop: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(FORWARD_QUEUE);
        let task = tokio::spawn(append_loop(redis, acker, queue, stop));
        (Self { jobs }, task)
    }

    /// Queues a job, waiting while the queue is full; false once the task has ended.
    pub async fn send(&self, job: ForwardJob) -> bool {
        self.jobs.send(job).await.is_ok()
    }
}

async fn append_loop(
    redis: Redis,
    acker: Acker,
    mut queue: mpsc::Receiver<ForwardJob>,
    stop: watch::Receiver<bool>,
) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_FORWARD_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<(String, String)> = jobs
            .iter()
            .map(|job| (job.owner.to_string(), job.entry.to_json()))
            .collect();
        let mut failures = 0;
        while let Err(error) = streams::add(&redis, &entries).await {
            if *stop.borrow() {
                return;
            }
            failures += 1;
            metrics::counter!("pettysync_forward_failures_total").increment(1);
            tracing::warn!(error = ?error, "could not forward collar messages; retrying");
            tokio::time::sleep(RETRY_BACKOFF.after(failures)).await;
        }
        metrics::counter!("pettysync_forwarded_total").increment(jobs.len() as u64);
        for job in jobs {
            acknowledge_when_stored(&acker, job);
        }
    }
}

/// Acknowledges the job's MQTT message once its samples are stored (at once for a status).
fn acknowledge_when_stored(acker: &Acker, job: ForwardJob) {
    let Some(stored) = job.stored else {
        return acker.ack(job.ack);
    };
    let acker = acker.clone();
    tokio::spawn(async move {
        // Dropped unstored only at shutdown: the broker then redelivers the message.
        if stored.await.is_ok() {
            acker.ack(job.ack);
        }
    });
}
