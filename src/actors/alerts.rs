//! `AlertSupervisor`: stores every alert a collar actor raises and hands it, with the users
//! who should get it, to the live hub (and later to notifications). Collar actors never wait
//! on this I/O.

use actix::prelude::*;
use sqlx::PgPool;

use super::events::{AlertKind, AlertStored};
use crate::ids::PetId;
use crate::store::alerts;

/// Alerts being stored at once; more wait in the queue.
const MAX_IN_FLIGHT: usize = 32;
/// Alerts queued behind those in flight before new ones are refused (logged and counted):
/// far above any real burst, since each collar raises a handful per day.
pub const MAX_QUEUED: usize = 10_000;

/// An alert a collar actor raised.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RaiseAlert {
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

pub struct AlertSupervisor {
    pg: PgPool,
    /// Everyone a stored alert goes to: the live hub and the notification supervisor.
    delivered: Vec<Recipient<AlertStored>>,
    queue: std::collections::VecDeque<RaiseAlert>,
    in_flight: usize,
}

impl AlertSupervisor {
    pub fn new(pg: PgPool, delivered: Vec<Recipient<AlertStored>>) -> Self {
        Self {
            pg,
            delivered,
            queue: Default::default(),
            in_flight: 0,
        }
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < MAX_IN_FLIGHT {
            let Some(alert) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            let pg = self.pg.clone();
            let store = async move {
                let stored = alerts::insert(
                    &pg,
                    alert.pet_id,
                    &alert.serial,
                    alert.kind,
                    alert.at,
                    &alert.details,
                )
                .await?;
                let recipients = alerts::recipients(&pg, alert.pet_id).await?;
                Ok::<_, sqlx::Error>((stored, recipients))
            };
            ctx.spawn(crate::rt::guarded(store).into_actor(self).map(|result, actor, ctx| {
                actor.in_flight -= 1;
                match result {
                    Ok((alert, recipients)) => {
                        metrics::counter!("pettysync_alerts_total", "kind" => alert.kind.as_str())
                            .increment(1);
                        let stored = AlertStored {
                            alert: std::sync::Arc::new(alert),
                            recipients,
                        };
                        for recipient in &actor.delivered {
                            recipient.do_send(stored.clone());
                        }
                    }
                    Err(error) => {
                        metrics::counter!("pettysync_alerts_failed_total").increment(1);
                        tracing::error!(error = ?error, "could not store an alert");
                    }
                }
                actor.pump(ctx);
            }));
        }
        metrics::gauge!("pettysync_alerts_queued").set(self.queue.len() as f64);
    }
}

impl Actor for AlertSupervisor {
    type Context = Context<Self>;
}

impl Supervised for AlertSupervisor {}

impl Handler<RaiseAlert> for AlertSupervisor {
    type Result = ();

    fn handle(&mut self, msg: RaiseAlert, ctx: &mut Context<Self>) {
        if self.queue.len() >= MAX_QUEUED {
            metrics::counter!("pettysync_alerts_refused_total").increment(1);
            tracing::error!(collar = %msg.serial, kind = msg.kind.as_str(), "alert queue full; alert refused");
            return;
        }
        self.queue.push_back(msg);
        self.pump(ctx);
    }
}
