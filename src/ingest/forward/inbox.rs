//! A node's reader of forwarded collar messages: it reads its own stream, hands each entry
//! to the collar's actor exactly as ingest does (`Telemetry`, `StatusReport`), gives the
//! alerts and snapshot the actor left to persistence, and acknowledges the entry once they
//! are stored (an alert is never lost between two nodes). An entry whose collar moved on is
//! appended to the new owner's stream and acknowledged here.
//!
//! Every half TTL it also adopts: entries of its own stream left pending longer than a TTL
//! (a failed hand-over, or a restart under the same id), and every entry of the stream of a
//! node that left the cluster, pending or never read.

use std::time::Duration;

use actix::Addr;
use tokio::sync::{oneshot, watch};

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
        while !*stop.borrow() {
            if tokio::time::Instant::now() >= adopt_at {
                self.adopt(&me).await;
                adopt_at = tokio::time::Instant::now() + self.ttl / 2;
            }
            match streams::read(&self.redis, &me, &me, false, MAX_READ, READ_BLOCK_MS).await {
                Ok(entries) => {
                    failures = 0;
                    self.handle(&me, entries).await;
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(error = ?error, "could not read forwarded messages; retrying");
                    tokio::time::sleep(RETRY_BACKOFF.after(failures)).await;
                }
            }
        }
    }

    /// Takes over what is stuck: this stream's entries pending for over a TTL, and the
    /// entries of every stream whose node left.
    async fn adopt(&self, me: &str) {
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
                Ok(entries) => self.handle(&node, entries).await,
                Err(error) => tracing::warn!(%node, error = ?error, "could not claim entries"),
            }
            if node != me {
                match streams::read(&self.redis, &node, me, false, MAX_READ, 0).await {
                    Ok(entries) => self.handle(&node, entries).await,
                    Err(error) => tracing::warn!(%node, error = ?error, "could not adopt entries"),
                }
            }
        }
    }

    /// Applies a batch of entries of `node`'s stream and acknowledges what is done.
    async fn handle(&self, node: &str, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        let mut done = Vec::new();
        let mut waiting = Vec::new();
        let mut reroute = Vec::new();
        for entry in entries {
            match self.apply(&entry).await {
                Outcome::Done => done.push(entry.id),
                Outcome::WhenStored(stored) => waiting.push((entry.id, stored)),
                Outcome::Reroute(owner, body) => reroute.push((entry.id, (owner, body))),
                Outcome::Later => {}
            }
        }
        if !reroute.is_empty() {
            let (ids, bodies): (Vec<_>, Vec<_>) = reroute.into_iter().unzip();
            match streams::add(&self.redis, &bodies).await {
                Ok(()) => {
                    metrics::counter!("pettysync_forward_rerouted_total")
                        .increment(ids.len() as u64);
                    done.extend(ids);
                }
                Err(error) => tracing::warn!(error = ?error, "could not reroute entries"),
            }
        }
        for (id, stored) in waiting {
            // Dropped unstored only at shutdown: the entry stays pending for the next reader.
            if stored.await.is_ok() {
                done.push(id);
            }
        }
        if let Err(error) = streams::ack(&self.redis, node, &done).await {
            // Left pending: adopted again after a TTL; the actor skips samples it has seen.
            tracing::warn!(error = ?error, "could not acknowledge forwarded entries");
        }
    }

    async fn apply(&self, entry: &Entry) -> Outcome {
        let Some(forwarded) = entry
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str::<Forwarded>(body).ok())
        else {
            metrics::counter!("pettysync_forward_bad_entries_total").increment(1);
            return Outcome::Done;
        };
        let members = self.membership.current();
        if !members.owns(&forwarded.serial) {
            let owner = members.owner(&forwarded.serial).to_string();
            return Outcome::Reroute(owner, forwarded.to_json());
        }
        let serial = forwarded.serial.clone();
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
