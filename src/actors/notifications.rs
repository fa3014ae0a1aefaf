//! `NotificationSupervisor`: every social event becomes a notification for the user who
//! should hear of it (the followee, the post's author), and every notification (social, or
//! an alert's, which the alert supervisor stores with the alert) a push to each of that
//! user's enabled phones through SNS.
//!
//! - `intake`: a social event's notification and its pushes (one `push_outbox` row per
//!   enabled device) commit in one transaction.
//! - `gate`: Redis counters with separate budgets for alerts and social events (see there),
//!   so social traffic never silences a safety alert.
//! - `delivery`: drain rounds claim due outbox rows (`FOR UPDATE SKIP LOCKED`, leased, so
//!   several servers share the work) and publish them, a bounded number at once, retrying
//!   with backoff until SNS takes them: nothing is lost while SNS is down.
//! - `push`: the words, the SNS message for APNs and FCM, and failure classification (pure).
//!
//! The social intake queue is in memory: a social event queued when the process dies is not
//! notified. Alerts never pass through it (they are durable before their collar message is
//! acknowledged). Once a notification is stored, its pushes survive restarts in the outbox.

mod delivery;
pub mod gate;
mod intake;
pub(crate) mod push;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use sqlx::PgPool;
use tracing::Instrument;

use self::delivery::{drain_round, DRAIN_BATCH};
use self::gate::PushGate;
use self::intake::notify_social;
use super::events::SocialEvent;
use crate::cache::Redis;
use crate::config::Settings;
use crate::store::notifications::outbox;

/// How often due pushes are looked for (new ones are sent at once, without waiting).
const DRAIN_INTERVAL: Duration = Duration::from_secs(1);
/// Social events being turned into notifications at once; more wait in the queue.
const MAX_INTAKE_IN_FLIGHT: usize = 16;
/// Social events queued behind those in flight before new ones are refused (logged and
/// counted).
pub const MAX_INTAKE_QUEUED: usize = 10_000;
/// How often the gauge of pushes still owed is refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);
/// How often finished outbox rows are pruned, how old they must be, and how many per round.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);
const PRUNE_BATCH: i64 = 1000;

pub struct NotificationSupervisor {
    pg: PgPool,
    sns: aws_sdk_sns::Client,
    gate: Arc<PushGate>,
    intake: std::collections::VecDeque<SocialEvent>,
    intake_in_flight: usize,
    /// A drain round is running; `drain_again` asks for another right after it.
    draining: bool,
    drain_again: bool,
}

impl NotificationSupervisor {
    /// Starts the notification supervisor (restarted by an actix `Supervisor` if it fails).
    pub fn start(
        pg: PgPool,
        sns: aws_sdk_sns::Client,
        redis: Redis,
        settings: &Settings,
    ) -> Addr<Self> {
        for (platform, arn) in [
            (
                "APNs (PETTYSYNC_SNS_APNS_APP_ARN)",
                &settings.sns_apns_app_arn,
            ),
            ("FCM (PETTYSYNC_SNS_FCM_APP_ARN)", &settings.sns_fcm_app_arn),
        ] {
            if arn.is_none() {
                tracing::info!("push to {platform} is off: no SNS platform application set");
            }
        }
        let gate = Arc::new(push_gate(redis, settings));
        Supervisor::start(move |_| Self {
            pg: pg.clone(),
            sns: sns.clone(),
            gate: gate.clone(),
            intake: Default::default(),
            intake_in_flight: 0,
            draining: false,
            drain_again: false,
        })
    }

    fn enqueue(&mut self, event: SocialEvent, ctx: &mut Context<Self>) {
        if self.intake.len() >= MAX_INTAKE_QUEUED {
            metrics::counter!("pettysync_notifications_refused_total").increment(1);
            tracing::error!("social notification queue full; event dropped");
            return;
        }
        self.intake.push_back(event);
        self.pump(ctx);
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.intake_in_flight < MAX_INTAKE_IN_FLIGHT {
            let Some(event) = self.intake.pop_front() else {
                break;
            };
            self.intake_in_flight += 1;
            let (pg, gate) = (self.pg.clone(), self.gate.clone());
            let work = async move {
                let span = tracing::info_span!("notify_social", kind = event.kind.as_str());
                notify_social(&pg, &gate, &event).instrument(span).await
            };
            ctx.spawn(
                crate::rt::guarded(work)
                    .into_actor(self)
                    .map(|queued, actor, ctx| {
                        actor.intake_in_flight -= 1;
                        if queued > 0 {
                            actor.drain(ctx);
                        }
                        actor.pump(ctx);
                    }),
            );
        }
        metrics::gauge!("pettysync_notifications_queued").set(self.intake.len() as f64);
    }

    /// Sends what is due, one round at a time; a full round is followed by another at once.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            self.drain_again = true;
            return;
        }
        self.draining = true;
        self.drain_again = false;
        let (pg, sns) = (self.pg.clone(), self.sns.clone());
        let round = async move { drain_round(&pg, &sns).await }
            .instrument(tracing::debug_span!("push_drain"));
        ctx.spawn(
            crate::rt::guarded(round)
                .into_actor(self)
                .map(|result, actor, ctx| {
                    actor.draining = false;
                    let full = match result {
                        Ok(claimed) => claimed as i64 >= DRAIN_BATCH,
                        Err(error) => {
                            tracing::error!(error = ?error, "could not read the push outbox");
                            false
                        }
                    };
                    if full || actor.drain_again {
                        actor.drain(ctx);
                    }
                }),
        );
    }
}

impl Actor for NotificationSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Pushes owed from before a restart (or by a server that stopped) go out now.
        self.drain(ctx);
        ctx.run_interval(DRAIN_INTERVAL, |actor, ctx| actor.drain(ctx));
        ctx.run_interval(GAUGE_INTERVAL, |actor, ctx| {
            let pg = actor.pg.clone();
            ctx.spawn(fut::wrap_future(async move {
                match outbox::pending_pushes(&pg).await {
                    Ok(count) => metrics::gauge!("pettysync_push_outbox_pending").set(count as f64),
                    Err(error) => tracing::warn!(error = ?error, "could not count pending pushes"),
                }
            }));
        });
        ctx.run_interval(PRUNE_INTERVAL, |actor, ctx| {
            let pg = actor.pg.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(error) = outbox::prune_finished(&pg, KEEP_FINISHED, PRUNE_BATCH).await {
                    tracing::warn!(error = ?error, "could not prune the push outbox");
                }
            }));
        });
    }
}

impl Supervised for NotificationSupervisor {}

/// Pushes were queued in the outbox (by the alert supervisor): send them now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct PushesQueued;

impl Handler<PushesQueued> for NotificationSupervisor {
    type Result = ();

    fn handle(&mut self, _: PushesQueued, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }
}

/// The push gate with the settings' budgets.
pub fn push_gate(redis: Redis, settings: &Settings) -> PushGate {
    PushGate {
        redis,
        dedupe_window_s: settings.push_dedupe_window_s,
        alerts_per_hour: settings.push_alert_rate_limit_per_hour,
        social_per_hour: settings.push_rate_limit_per_hour,
    }
}

impl Handler<SocialEvent> for NotificationSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SocialEvent, ctx: &mut Context<Self>) {
        if msg.actor == msg.recipient {
            return;
        }
        self.enqueue(msg, ctx);
    }
}
