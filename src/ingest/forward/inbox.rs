//! A node's reader of forwarded collar messages: it reads its own stream, hands each entry
//! to the collar's actor exactly as ingest does (`Telemetry`, `StatusReport`), gives the
//! alerts and snapshot the actor left to persistence, and acknowledges the entry once they
//! are stored (an alert is never lost between two nodes). An entry whose collar moved on is
//! appended to the new owner's stream and acknowledged here.
//!
//! Every half TTL it also adopts: entries of its own stream left pending longer than a TTL
//! (a failed hand-over, or a restart under the same id), and every entry of the stream of a
//! node that left the cluster, pending or never read.

use std::collections::HashMap;
use std::time::Duration;

use actix::Addr;
use futures_util::future::join_all;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::wire::{Forwarded, What};
use crate::actors::collar::{Applied, StatusReport, Telemetry};
use crate::actors::persistence::{Append, PersistenceSupervisor};
use crate::actors::registry::{CollarRegistry, Resolve};
use crate::cache::Redis;
use crate::cluster::Membership;
use crate::retry::Backoff;
use crate::store::forward::{self as streams, Entry};

/// Entries read at once.
pub const MAX_READ: usize = 256;
/// How long one read waits for new entries before the reader looks at what else is due.
const READ_BLOCK_MS: u64 = 500;
/// Read batches whose acknowledgement waits for persistence at once; past this the reader
/// waits before it reads more (each batch is at most [`MAX_READ`] entries).
pub const ACK_BATCHES_IN_FLIGHT: usize = 16;
/// Waits between attempts while Redis does not answer.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// The reader of this node's stream.
pub struct Inbox {
    pub redis: Redis,
    pub membership: Membership,
    pub registry: Addr<CollarRegistry>,
    pub persistence: Addr<PersistenceSupervisor>,
    /// The heartbeat TTL: how long an entry stays pending before another reader takes it.
    pub ttl: Duration,
}

/// What became of one entry.
enum Outcome {
    /// Done: acknowledge it now.
    Done,
    /// Acknowledge once persistence stored what the actor left.
    WhenStored(oneshot::Receiver<()>),
    /// Belongs to another node now: append it there, then acknowledge it.
    Reroute(String, String),
    /// Not now (the actor could not be reached): leave it pending, it is adopted again.
    Later,
}

impl Inbox {
    /// Reads until `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let me = self.membership.me().to_string();
        let mut failures = 0;
        while let Err(error) = streams::ensure_stream(&self.redis, &me).await {
            failures += 1;
            tracing::warn!(error = ?error, "could not create this node's forward stream; retrying");
            tokio::time::sleep(RETRY_BACKOFF.after(failures)).await;
            if *stop.borrow() {
                return;
            }
        }
        let mut adopt_at = tokio::time::Instant::now();
        failures = 0;
        // The next read does not wait for the store: a forwarded sample reaches its actor
        // (and the live map) while earlier batches are still being written.
        let mut acking = JoinSet::new();
        while !*stop.borrow() {
            if tokio::time::Instant::now() >= adopt_at {
                self.adopt(&me, &mut acking).await;
                adopt_at = tokio::time::Instant::now() + self.ttl / 2;
            }
            match streams::read(&self.redis, &me, &me, false, MAX_READ, READ_BLOCK_MS).await {
                Ok(entries) => {
                    failures = 0;
                    let acks = self.handle(&me, entries).await;
                    self.acknowledge_later(&mut acking, acks).await;
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = ?error, "could not read forwarded messages; retrying");
                    tokio::time::sleep(RETRY_BACKOFF.after(failures)).await;
                }
            }
        }
        // Persistence stores (or drops, at its own shutdown) what it holds: every batch ends.
        while acking.join_next().await.is_some() {}
    }

    /// Takes over what is stuck: this stream's entries pending for over a TTL, and the
    /// entries of every stream whose node left.
    async fn adopt(&self, me: &str, acking: &mut JoinSet<()>) {
        let idle_ms = self.ttl.as_millis() as u64;
        let members = self.membership.current();
        let mut streams_of = vec![me.to_owned()];
        match streams::stream_nodes(&self.redis).await {
            Ok(nodes) => streams_of.extend(
                nodes
                    .into_iter()
                    .filter(|node| !members.nodes().iter().any(|m| m.as_str() == node)),
            ),
            Err(error) => tracing::warn!(error = ?error, "could not list the forward streams"),
        }
        for node in streams_of {
            match streams::claim_idle(&self.redis, &node, me, idle_ms, MAX_READ).await {
                Ok(entries) => {
                    let acks = self.handle(&node, entries).await;
                    self.acknowledge_later(acking, acks).await;
                }
                Err(error) => tracing::warn!(%node, error = ?error, "could not claim entries"),
            }
            if node != me {
                match streams::read(&self.redis, &node, me, false, MAX_READ, 0).await {
                    Ok(entries) => {
                        let acks = self.handle(&node, entries).await;
                        self.acknowledge_later(acking, acks).await;
                    }
                    Err(error) => tracing::warn!(%node, error = ?error, "could not adopt entries"),
                }
            }
        }
    }

    /// Acknowledges a batch once what it left is stored, beside the reader: the reader (and
    /// its adoption of entries idle for a TTL, which during a long store outage are its own
    /// batches still waiting) never waits for the store, only for a free turn among the
    /// [`ACK_BATCHES_IN_FLIGHT`].
    async fn acknowledge_later(&self, acking: &mut JoinSet<()>, acks: Acks) {
        while acking.len() >= ACK_BATCHES_IN_FLIGHT {
            acking.join_next().await;
        }
        acking.spawn(acks.send(self.redis.clone()));
    }

    /// Applies a batch of entries of `node`'s stream; returns what to acknowledge.
    async fn handle(&self, node: &str, entries: Vec<Entry>) -> Acks {
        let mut acks = Acks {
            node: node.to_owned(),
            done: Vec::new(),
            waiting: Vec::new(),
        };
        let mut reroute = Vec::new();
        // One collar's entries in their order; different collars' side by side (the batch
        // bounds how many: at most [`MAX_READ`]).
        let applied = join_all(by_collar(entries).into_iter().map(|group| async move {
            let mut outcomes = Vec::with_capacity(group.len());
            for (id, forwarded) in group {
                outcomes.push((id, self.apply(forwarded).await));
            }
            outcomes
        }))
        .await;
        for (id, outcome) in applied.into_iter().flatten() {
            match outcome {
                Outcome::Done => acks.done.push(id),
                Outcome::WhenStored(stored) => acks.waiting.push((id, stored)),
                Outcome::Reroute(owner, body) => reroute.push((id, (owner, body))),
                Outcome::Later => {}
            }
        }
        if !reroute.is_empty() {
            let (ids, bodies): (Vec<_>, Vec<_>) = reroute.into_iter().unzip();
            match streams::add(&self.redis, &bodies).await {
                Ok(()) => {
                    metrics::counter!("pettysync_forward_rerouted_total")
                        .increment(ids.len() as u64);
                    acks.done.extend(ids);
                }
                Err(error) => tracing::warn!(error = ?error, "could not reroute entries"),
            }
        }
        acks
    }

    async fn apply(&self, forwarded: Option<Forwarded>) -> Outcome {
        let Some(forwarded) = forwarded else {
            metrics::counter!("pettysync_forward_bad_entries_total").increment(1);
            return Outcome::Done;
        };
        let members = self.membership.current();
        if !members.owns(&forwarded.serial) {
            let owner = members.owner(&forwarded.serial).to_string();
            return Outcome::Reroute(owner, forwarded.to_json());
        }
        let serial = forwarded.serial.clone();
        let read_at_ms = forwarded.read_at_ms;
        let actor = match self.registry.send(Resolve { serial }).await {
            Ok(Ok(Some(actor))) => actor,
            // Never provisioned (or deleted since): nothing to apply.
            Ok(Ok(None)) => return Outcome::Done,
            Ok(Err(error)) => {
                tracing::debug!(error = ?error, "forwarded entry waits");
                return Outcome::Later;
            }
            Err(_) => return Outcome::Later,
        };
        let applied: Option<Applied> = match forwarded.what {
            What::Samples { samples } => actor
                .send(Telemetry {
                    samples: samples.into_iter().map(Into::into).collect(),
                })
                .await
                .ok(),
            What::Status { online } => actor.send(StatusReport { online }).await.ok(),
        };
        let Some(applied) = applied else {
            return Outcome::Later;
        };
        if let Some(read_at_ms) = read_at_ms {
            crate::ingest::record_actor_delay("forwarded", read_at_ms);
        }
        let (stored, told) = oneshot::channel();
        let append = Append {
            alerts: applied.alerts,
            snapshot: applied.snapshot,
            stored: Some(stored),
            ..Append::default()
        };
        if self.persistence.send(append).await.is_err() {
            return Outcome::Later;
        }
        metrics::counter!("pettysync_forward_applied_total").increment(1);
        Outcome::WhenStored(told)
    }
}

/// A batch's entries parsed and grouped by collar, each group in stream order; an entry that
/// does not parse is a group of its own (`None`).
fn by_collar(entries: Vec<Entry>) -> Vec<Vec<(String, Option<Forwarded>)>> {
    let mut groups: Vec<Vec<(String, Option<Forwarded>)>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let forwarded: Option<Forwarded> = entry
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str(body).ok());
        let slot = match &forwarded {
            Some(forwarded) => *group_of.entry(forwarded.serial.clone()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            }),
            None => {
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[slot].push((entry.id, forwarded));
    }
    groups
}

/// What a batch leaves to acknowledge: entries done now, and entries done once persistence
/// stored what their actor left.
struct Acks {
    node: String,
    done: Vec<String>,
    waiting: Vec<(String, oneshot::Receiver<()>)>,
}

impl Acks {
    async fn send(mut self, redis: Redis) {
        if self.done.is_empty() && self.waiting.is_empty() {
            return;
        }
        for (id, stored) in self.waiting {
            // Dropped unstored only at shutdown: the entry stays pending for the next reader.
            if stored.await.is_ok() {
                self.done.push(id);
            }
        }
        if let Err(error) = streams::ack(&redis, &self.node, &self.done).await {
            // Left pending: adopted again after a TTL; the actor skips samples it has seen.
            tracing::warn!(error = ?error, "could not acknowledge forwarded entries");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, body: Option<String>) -> Entry {
        Entry {
            id: id.to_owned(),
            body,
        }
    }

    #[test]
    fn a_batch_is_grouped_by_collar_each_in_stream_order() {
        let status =
            |serial: &str, online: bool| Some(Forwarded::status(serial, online, 1).to_json());
        let groups = by_collar(vec![
            entry("1-0", status("A", true)),
            entry("1-1", status("B", true)),
            entry("1-2", Some("not json".to_owned())),
            entry("1-3", status("A", false)),
            entry("1-4", None),
        ]);
        let ids: Vec<Vec<&str>> = groups
            .iter()
            .map(|group| group.iter().map(|(id, _)| id.as_str()).collect())
            .collect();
        assert_eq!(
            ids,
            [vec!["1-0", "1-3"], vec!["1-1"], vec!["1-2"], vec!["1-4"]]
        );
        let a: Vec<&What> = groups[0]
            .iter()
            .filter_map(|(_, f)| f.as_ref().map(|f| &f.what))
            .collect();
        assert_eq!(
            a,
            [
                &What::Status { online: true },
                &What::Status { online: false }
            ]
        );
    }
}
