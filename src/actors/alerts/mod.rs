//! `AlertSupervisor`: moves alerts from the MongoDB outbox into PostgreSQL, with their
//! notifications and pushes, and hands each stored alert to the live hub.
//!
//! An alert is durable before anything else happens to it: a collar actor returns the
//! alerts a message raised, persistence writes them to the outbox in the same batch as the
//! message's samples, and only then acknowledges the message to the broker and tells this
//! supervisor ([`Deliver`]). From here an alert is retried with backoff until PostgreSQL
//! takes it (`intake`), and then removed from the outbox. What is in the outbox when the
//! process stops — PostgreSQL was down, the queue was full, the process was killed — is
//! found again by the sweep at the next start (and every [`SWEEP_INTERVAL`]).

mod intake;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use sqlx::PgPool;
use uuid::Uuid;

use super::events::{AlertKind, AlertStored};
use super::notifications::gate::PushGate;
use super::notifications::PushesQueued;
use crate::ids::PetId;
use crate::retry::Backoff;
use crate::store::alert_outbox;

/// Alerts being stored at once; more wait in the queue.
const MAX_IN_FLIGHT: usize = 16;
/// Alerts queued in memory; more stay in the outbox until a sweep finds room for them.
pub const MAX_QUEUED: usize = 10_000;
/// How often the outbox is swept for alerts no message brought here (after a restart, or
/// past a full queue).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Alerts read per sweep.
const SWEEP_BATCH: i64 = 500;
/// Waits between retries while PostgreSQL refuses alerts: doubled per failure up to the last.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

/// An alert a collar actor raised. Its id is derived from what raised it (see
/// `actors::collar`), so raising it again is harmless.
#[derive(Debug, Clone)]
pub struct RaiseAlert {
    pub id: Uuid,
    /// The pet the collar is on.
    pub pet_id: PetId,
    /// The collar that raised it.
    pub serial: String,
    pub kind: AlertKind,
    /// Epoch ms of the sample or event behind it.
    pub at: i64,
    /// Kind-specific facts (fence id, heart rate, battery percentage, …).
    pub details: serde_json::Value,
}

/// Alerts now in the outbox: store them (persistence → supervisor).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub alerts: Vec<RaiseAlert>,
}

/// Answer once every queued alert is stored (shutdown); the caller bounds the wait.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DrainAlerts;

pub struct AlertSupervisor {
    pg: PgPool,
    mongo: mongodb::Database,
    gate: Arc<PushGate>,
    /// The live hub, which sends each stored alert to its recipients' sessions.
    delivered: Recipient<AlertStored>,
    pushes: Recipient<PushesQueued>,
    queue: VecDeque<RaiseAlert>,
    /// Ids queued or in flight, so the sweep does not queue an alert twice.
    known: HashSet<Uuid>,
    in_flight: usize,
    failures: u32,
    /// Set while waiting out a backoff: nothing new starts until it fires.
    paused: bool,
    drain_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl AlertSupervisor {
    pub fn new(
        pg: PgPool,
        mongo: mongodb::Database,
        gate: PushGate,
        delivered: Recipient<AlertStored>,
        pushes: Recipient<PushesQueued>,
    ) -> Self {
        Self {
            pg,
            mongo,
            gate: Arc::new(gate),
            delivered,
            pushes,
            queue: VecDeque::new(),
            known: HashSet::new(),
            in_flight: 0,
            failures: 0,
            paused: false,
            drain_waiters: Vec::new(),
        }
    }

    fn enqueue(&mut self, alert: RaiseAlert) {
        if self.known.contains(&alert.id) {
            return;
        }
        if self.queue.len() >= MAX_QUEUED {
            // It waits in the outbox; a sweep brings it back when there is room.
            metrics::counter!("pettysync_alerts_deferred_total").increment(1);
            return;
        }
        self.known.insert(alert.id);
        self.queue.push_back(alert);
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        while !self.paused && self.in_flight < MAX_IN_FLIGHT {
            let Some(alert) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            let (pg, gate) = (self.pg.clone(), self.gate.clone());
            let store = async move {
                let result = intake::store(&pg, &gate, &alert).await;
                (alert, result)
            };
            ctx.spawn(crate::rt::guarded(store).into_actor(self).map(
                |(alert, result), actor, ctx| {
                    actor.in_flight -= 1;
                    actor.stored(alert, result, ctx);
                    actor.pump(ctx);
                },
            ));
        }
        metrics::gauge!("pettysync_alerts_queued").set(self.queue.len() as f64);
        if self.queue.is_empty() && self.in_flight == 0 {
            for waiter in self.drain_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    fn stored(
        &mut self,
        alert: RaiseAlert,
        result: Result<Option<intake::Stored>, sqlx::Error>,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(stored) => {
                self.failures = 0;
                if let Some(stored) = stored {
                    metrics::counter!("pettysync_alerts_total", "kind" => stored.alert.kind.as_str())
                        .increment(1);
                    self.delivered.do_send(AlertStored {
                        alert: Arc::new(stored.alert),
                        recipients: stored.recipients,
                    });
                    if stored.pushes > 0 {
                        self.pushes.do_send(PushesQueued);
                    }
                }
                self.remove_from_outbox(alert.id, ctx);
            }
            Err(error) if crate::store::is_permanent(&error) => {
                metrics::counter!("pettysync_alerts_failed_total").increment(1);
                tracing::error!(error = ?error, alert = %alert.id, "alert cannot be stored; dropped");
                self.remove_from_outbox(alert.id, ctx);
            }
            Err(error) => {
                self.failures += 1;
                let backoff = RETRY_BACKOFF.after(self.failures);
                metrics::counter!("pettysync_alert_store_retries_total").increment(1);
                tracing::warn!(error = ?error, ?backoff, alert = %alert.id, "could not store an alert; retrying");
                self.queue.push_front(alert);
                if !self.paused {
                    self.paused = true;
                    ctx.run_later(backoff, |actor, ctx| {
                        actor.paused = false;
                        actor.pump(ctx);
                    });
                }
            }
        }
    }

    /// Forgets a stored alert here and in the outbox. Should the removal fail, a later
    /// sweep finds the alert stored already and removes it then.
    fn remove_from_outbox(&mut self, id: Uuid, ctx: &mut Context<Self>) {
        let mongo = self.mongo.clone();
        let remove = async move { alert_outbox::remove(&mongo, &[id.to_string()]).await };
        ctx.spawn(
            crate::rt::guarded(remove)
                .into_actor(self)
                .map(move |result, actor, _| {
                    if let Err(error) = result {
                        tracing::warn!(error = ?error, alert = %id, "could not clear an alert from the outbox");
                    }
                    actor.known.remove(&id);
                }),
        );
    }

    /// Queues what the outbox holds that is not queued yet.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.queue.len() >= MAX_QUEUED {
            return;
        }
        let mongo = self.mongo.clone();
        let read = async move { alert_outbox::pending(&mongo, SWEEP_BATCH).await };
        ctx.spawn(crate::rt::guarded(read).into_actor(self).map(
            |result, actor, ctx| match result {
                Ok(docs) => {
                    let found = docs.iter().filter_map(RaiseAlert::from_outbox_doc);
                    for alert in found {
                        actor.enqueue(alert);
                    }
                    actor.pump(ctx);
                }
                Err(error) => tracing::warn!(error = ?error, "could not read the alert outbox"),
            },
        ));
    }
}

impl Actor for AlertSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Alerts left in the outbox by a stop or a crash go out now.
        self.sweep(ctx);
        ctx.run_interval(SWEEP_INTERVAL, |actor, ctx| actor.sweep(ctx));
    }
}

impl Supervised for AlertSupervisor {}

impl Handler<Deliver> for AlertSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        for alert in msg.alerts {
            self.enqueue(alert);
        }
        self.pump(ctx);
    }
}

impl Handler<DrainAlerts> for AlertSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: DrainAlerts, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.drain_waiters.push(tx);
        self.pump(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
