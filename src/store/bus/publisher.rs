//! Sending to the other nodes: one task takes what the live bus hands it from a bounded queue
//! and sends it to Redis in pipelined batches over a pooled connection, so a burst of states
//! costs one round trip and a slow Redis never blocks the actor that sends. What cannot be
//! sent (queue full, Redis down) is dropped and counted: the local sessions already have it.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Channels, Envelope, LiveEvent};
use crate::cluster::NodeId;
use crate::ids::PetId;

/// Sends waiting for Redis before new ones are dropped (and counted as lost).
pub const MAX_PENDING: usize = 4_096;
/// Sends pipelined in one round trip.
const MAX_BATCH: usize = 256;
/// How long a watching set outlives its node's last refresh, in node TTLs (the set is
/// rewritten once per TTL): a node that died without leaving stops counting even for a node
/// that missed its departure.
pub const WATCHING_TTL_IN_BEATS: u32 = 3;

/// One thing to send.
#[derive(Debug)]
enum Outgoing {
    /// An event on its channel.
    Event(Box<LiveEvent>),
    /// This node's watched set is now `pets` (rewritten whole, TTL refreshed).
    Rewrite(BTreeSet<PetId>),
}

/// The sending side, cloneable; the task stops when every clone is dropped.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
}

impl Outbox {
    /// Queues an event for the other nodes; `false` (and counted) when the queue is full.
    pub fn event(&self, event: LiveEvent) -> bool {
        self.offer(Outgoing::Event(Box::new(event)))
    }

    /// Queues the rewrite of this node's watched set (in order with the events: a `Watching`
    /// event sent before it also updates the set, see [`start_publisher`]).
    pub fn rewrite(&self, pets: BTreeSet<PetId>) -> bool {
        self.offer(Outgoing::Rewrite(pets))
    }

    fn offer(&self, send: Outgoing) -> bool {
        let sent = self.tx.try_send(send).is_ok();
        if !sent {
            metrics::counter!("pettysync_livebus_lost_total", "reason" => "queue_full")
                .increment(1);
        }
        sent
    }
}

/// Starts the sending task of node `me`, whose watched set is refreshed every `node_ttl`.
pub fn start_publisher(
    channels: Channels,
    me: NodeId,
    node_ttl: Duration,
) -> (Outbox, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(MAX_PENDING);
    let set_ttl = (node_ttl * WATCHING_TTL_IN_BEATS).as_secs().max(1);
    let task = tokio::spawn(run(channels, me, set_ttl, rx));
    (Outbox { tx }, task)
}

async fn run(channels: Channels, me: NodeId, set_ttl: u64, mut rx: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let count = batch.len() as u64;
        if let Err(error) = send_batch(&channels, &me, set_ttl, &batch).await {
            metrics::counter!("pettysync_livebus_lost_total", "reason" => "redis").increment(count);
            tracing::warn!(%error, count, "could not send live events to the other nodes");
        } else {
            metrics::counter!("pettysync_livebus_published_total").increment(count);
        }
        batch.clear();
    }
}

async fn send_batch(
    channels: &Channels,
    me: &NodeId,
    ttl: u64,
    batch: &[Outgoing],
) -> anyhow::Result<()> {
    let set = channels.watching_set(me);
    let mut pipe = deadpool_redis::redis::pipe();
    for send in batch {
        match send {
            Outgoing::Event(event) => {
                // The set first: a node that hears the announcement and reads the set agrees.
                if let LiveEvent::Watching { pet_id, live } = **event {
                    let op = if live { "SADD" } else { "SREM" };
                    pipe.cmd(op).arg(&set).arg(pet_id.to_string()).ignore();
                    pipe.cmd("EXPIRE").arg(&set).arg(ttl).ignore();
                }
                let envelope = Envelope {
                    origin: me.to_string(),
                    event: (**event).clone(),
                };
                pipe.cmd("PUBLISH")
                    .arg(channels.of(event))
                    .arg(envelope.encode()?)
                    .ignore();
            }
            Outgoing::Rewrite(pets) => {
                pipe.cmd("DEL").arg(&set).ignore();
                if !pets.is_empty() {
                    let members: Vec<String> = pets.iter().map(PetId::to_string).collect();
                    pipe.cmd("SADD").arg(&set).arg(members).ignore();
                    pipe.cmd("EXPIRE").arg(&set).arg(ttl).ignore();
                }
            }
        }
    }
    let mut conn = channels.redis().conn().await?;
    let () = pipe.query_async(&mut conn).await?;
    Ok(())
}
