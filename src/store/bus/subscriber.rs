//! Hearing the other nodes: one dedicated connection subscribed to the channels every node
//! hears and to the channels of the pets this node watches (the set the caller keeps current
//! through [`Subscriptions`]). What arrives, minus this node's own messages, goes to the
//! caller through a bounded queue; when the caller falls behind, the newest is dropped and
//! counted rather than letting Redis buffer for a slow subscriber until it cuts it off.
//!
//! When the connection drops, the task reconnects with a doubling wait and subscribes again
//! to everything it should hear.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::aio::PubSubSink;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Channels, Envelope};
use crate::cluster::NodeId;
use crate::ids::PetId;
use crate::retry::Backoff;

/// Events from the other nodes waiting for the caller before new ones are dropped.
pub const MAX_INBOUND: usize = 4_096;
/// Channels subscribed or unsubscribed in one command.
pub const MAX_PENDING_CHANGES: usize = 512;
/// Waits between attempts to reconnect the subscribed connection.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// The pets whose channels this node should hear; the task follows every change.
pub struct Subscriptions {
    tx: watch::Sender<Arc<BTreeSet<PetId>>>,
}

impl Subscriptions {
    /// Hear exactly these pets' channels from now on.
    pub fn set(&self, pets: Arc<BTreeSet<PetId>>) {
        self.tx.send_replace(pets);
    }
}

/// Starts the subscribed connection of node `me`; events of the other nodes go to `out`.
pub fn start_subscriber(
    channels: Channels,
    me: NodeId,
    out: mpsc::Sender<Envelope>,
) -> (Subscriptions, JoinHandle<()>) {
    let (tx, wanted) = watch::channel(Arc::new(BTreeSet::new()));
    let task = tokio::spawn(run(channels, me, wanted, out));
    (Subscriptions { tx }, task)
}

async fn run(
    channels: Channels,
    me: NodeId,
    mut wanted: watch::Receiver<Arc<BTreeSet<PetId>>>,
    out: mpsc::Sender<Envelope>,
) {
    let mut failures = 0;
    loop {
        let mut connected = false;
        match listen(&channels, &me, &mut wanted, &out, &mut connected).await {
            Ok(()) => return,
            Err(error) => {
                failures = if connected { 1 } else { failures + 1 };
                metrics::counter!("pettysync_livebus_reconnects_total").increment(1);
                tracing::warn!(%error, "live events from other nodes: reconnecting");
                tokio::time::sleep(RECONNECT.after(failures)).await;
            }
        }
    }
}

/// One subscribed connection, until it fails (`Err`) or the caller is gone (`Ok`).
async fn listen(
    channels: &Channels,
    me: &NodeId,
    wanted: &mut watch::Receiver<Arc<BTreeSet<PetId>>>,
    out: &mpsc::Sender<Envelope>,
    connected: &mut bool,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = channels.redis().pubsub().await?.split();
    sink.subscribe(&channels.every_node()[..]).await?;
    *connected = true;
    let mut heard = BTreeSet::new();
    loop {
        let want = wanted.borrow_and_update().clone();
        follow(&mut sink, channels, &mut heard, &want).await?;
        tokio::select! {
            changed = wanted.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            message = stream.next() => {
                let Some(message) = message else {
                    anyhow::bail!("the subscribed connection closed");
                };
                if !deliver(me, message.get_payload_bytes(), out) {
                    return Ok(());
                }
            }
        }
    }
}

/// Subscribes to the pets wanted and not heard, and unsubscribes from the others.
async fn follow(
    sink: &mut PubSubSink,
    channels: &Channels,
    heard: &mut BTreeSet<PetId>,
    want: &BTreeSet<PetId>,
) -> anyhow::Result<()> {
    let added: Vec<PetId> = want.difference(heard).copied().collect();
    let removed: Vec<PetId> = heard.difference(want).copied().collect();
    for chunk in added.chunks(MAX_PENDING_CHANGES) {
        let names: Vec<String> = chunk.iter().map(|p| channels.pet(*p)).collect();
        sink.subscribe(names).await?;
        heard.extend(chunk);
    }
    for chunk in removed.chunks(MAX_PENDING_CHANGES) {
        let names: Vec<String> = chunk.iter().map(|p| channels.pet(*p)).collect();
        sink.unsubscribe(names).await?;
        for pet in chunk {
            heard.remove(pet);
        }
    }
    Ok(())
}

/// Hands one message to the caller unless this node sent it; `false` when the caller is gone.
fn deliver(me: &NodeId, payload: &[u8], out: &mpsc::Sender<Envelope>) -> bool {
    let envelope = match Envelope::decode(payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            metrics::counter!("pettysync_livebus_undecodable_total").increment(1);
            tracing::warn!(%error, "an undecodable live event from another node");
            return true;
        }
    };
    if envelope.origin == me.as_str() {
        return true;
    }
    metrics::counter!("pettysync_livebus_received_total").increment(1);
    match out.try_send(envelope) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!("pettysync_livebus_lost_total", "reason" => "inbound_full")
                .increment(1);
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}
