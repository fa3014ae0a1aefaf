//! The ingest task: takes each MQTT message the event loop forwards, decodes it, and hands
//! its parts on — samples to the collar actor (live state) and, with the alerts the actor
//! raised, to persistence (MongoDB, then the broker acknowledgement); rejections to the
//! dead-letter store; voice clips and command answers to side stores (`side`). One task,
//! one message at a time, so one collar's messages stay in order; slow stores push back
//! through the bounded channels.
//!
//! A collar whose actor is not running is looked up beside ingest (`lookups`) while its
//! messages wait parked (`parking`), in order. It turns out known, unknown, or — when
//! PostgreSQL or the registry cannot say — not known yet: then its messages stay parked and
//! are tried again, never counted as unknown and acknowledged, so a database blip loses
//! nothing.
//!
//! In a cluster, a message of a collar another node owns is stored here and handed to the
//! owner (`remote`); the check costs nothing on a single node.

use actix::Addr;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

mod handoff;
mod lookups;
mod remote;

pub(super) use self::handoff::store_failed_letter;
use self::lookups::{Cached, Lookup, Lookups};
pub use self::remote::Remote;
use super::decode::{self, Channel, Rejection};
use super::mqtt::{AckToken, Acker, Inbound};
use super::parking::{Parked, Pending};
use super::side::SideTasks;
use super::voice::VoiceStore;
use crate::actors::collar::{CollarActor, IngestLag};
use crate::actors::commands::Commands;
use crate::actors::persistence::PersistenceSupervisor;
use crate::actors::registry::CollarRegistry;

/// Largest part of a dead letter's payload kept (a `too_large` message is cut to this).
const DEAD_LETTER_RAW_BYTES: usize = 64 * 1024;

/// What ingest talks to: the registry, persistence, the broker (acknowledgements), the
/// stores beside ingest, and the collar actors' sense of ingest falling behind.
pub struct PipelineOutputs {
    pub registry: Addr<CollarRegistry>,
    pub persistence: Addr<PersistenceSupervisor>,
    pub acker: Acker,
    pub commands: Commands,
    pub voice: VoiceStore,
    pub lag: IngestLag,
    /// The cluster: who owns which collar, and the way to the others.
    pub remote: Remote,
}

pub struct Pipeline {
    topic_prefix: String,
    persistence: Addr<PersistenceSupervisor>,
    acker: Acker,
    commands: Commands,
    voice: VoiceStore,
    lag: IngestLag,
    side: SideTasks,
    lookups: Lookups,
    parked: Parked,
    remote: Remote,
    stop: watch::Receiver<bool>,
}

impl Pipeline {
    pub fn new(
        topic_prefix: String,
        outputs: PipelineOutputs,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            topic_prefix,
            side: SideTasks::new(
                outputs.acker.clone(),
                outputs.persistence.clone(),
                stop.clone(),
            ),
            persistence: outputs.persistence,
            acker: outputs.acker,
            commands: outputs.commands,
            voice: outputs.voice,
            lag: outputs.lag,
            lookups: Lookups::new(outputs.registry),
            parked: Parked::default(),
            remote: outputs.remote,
            stop,
        }
    }

    /// Handles messages until the event loop closes the channel or `stop` turns true. On
    /// stop it returns at once: what it holds is not acknowledged, so the broker redelivers
    /// it to the next start.
    pub async fn run(mut self, mut messages: mpsc::Receiver<Inbound>) {
        let mut stop = self.stop.clone();
        loop {
            let retry_at = self.parked.retry_at();
            if !self.parked.has_room() {
                // Ingest takes nothing more until parked messages are through.
                self.lag.mark();
            }
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => return,
                Some((serial, lookup)) = self.lookups.next(), if self.lookups.busy() => {
                    self.looked_up(&serial, lookup).await
                }
                _ = sleep_until(retry_at), if retry_at.is_some() => self.retry_parked().await,
                inbound = messages.recv(), if self.parked.has_room() => match inbound {
                    Some(inbound) => self.handle_in_span(inbound).await,
                    None => return,
                },
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn handle_in_span(&mut self, inbound: Inbound) {
        let span = tracing::debug_span!("mqtt", topic = inbound.topic().unwrap_or("?"));
        self.handle(inbound).instrument(span).await;
    }

    async fn handle(&mut self, inbound: Inbound) {
        let received_at = chrono::Utc::now().timestamp_millis();
        let topic = inbound
            .topic()
            .ok_or_else(|| Rejection::new(decode::Reason::BadTopic, "topic is not UTF-8"))
            .and_then(|topic| decode::parse_topic(&self.topic_prefix, topic));
        let topic = match topic {
            Ok(topic) => topic,
            Err(_) => {
                // No collar is behind it (or an invalid serial): counted and dropped like
                // an unknown serial, never stored — it may be an attack.
                metrics::counter!("pettysync_mqtt_bad_topic_total").increment(1);
                return self.ack_now(&inbound);
            }
        };
        let serial = topic.serial.as_str().to_owned();
        let channel = topic.channel;
        metrics::counter!("pettysync_mqtt_messages_total", "channel" => channel_label(channel))
            .increment(1);
        let pending = Pending {
            inbound,
            channel,
            received_at,
        };
        if self.parked.holds(&serial) {
            return self.parked.park(&serial, pending);
        }
        if let Some(owner) = self.owned_elsewhere(&serial) {
            if let Err(pending) = self.forward(pending, &serial, owner).await {
                self.parked.park(&serial, pending);
                self.parked.retry_failed();
            }
            return;
        }
        match self.lookups.cached(&serial) {
            Cached::Known(actor) => {
                if let Err(pending) = self.process(pending, &serial, &actor).await {
                    self.park_and_look_up(&serial, pending);
                }
            }
            Cached::Unknown => self.drop_unknown(&pending),
            Cached::NotYet => self.park_and_look_up(&serial, pending),
        }
    }

    /// Parks the message behind the serial's others and has its actor looked up.
    fn park_and_look_up(&mut self, serial: &str, pending: Pending) {
        self.parked.park(serial, pending);
        self.lookups.start(serial);
    }

    /// A lookup finished: the serial's parked messages go on, in order, are dropped as
    /// unknown, or wait for the next retry.
    async fn looked_up(&mut self, serial: &str, lookup: Lookup) {
        match lookup {
            Lookup::Known(actor) => {
                let mut queue = self.parked.take(serial);
                while let Some(pending) = queue.pop_front() {
                    if self.stopping() {
                        return self.parked.put_back(serial, queue);
                    }
                    if let Err(pending) = self.process(pending, serial, &actor).await {
                        // The actor stopped meanwhile: look it up again.
                        queue.push_front(pending);
                        self.parked.put_back(serial, queue);
                        self.lookups.forget(serial);
                        return self.lookups.start(serial);
                    }
                }
                self.parked.retry_done();
            }
            Lookup::Unknown => {
                for pending in self.parked.take(serial) {
                    self.drop_unknown(&pending);
                }
            }
            Lookup::Unavailable => self.parked.retry_failed(),
        }
    }

    /// Looks up again, after a backoff, every parked serial whose lookup is not under way;
    /// forwards the messages of serials another node owns now.
    async fn retry_parked(&mut self) {
        self.parked.retry_started();
        for serial in self.parked.serials() {
            match self.owned_elsewhere(&serial) {
                Some(owner) => self.forward_parked(&serial, owner).await,
                None => self.lookups.start(&serial),
            }
        }
    }

    /// Sends to the collar actor, waiting when its mailbox is full (never dropping); `None`
    /// when the actor stopped meanwhile.
    async fn tell<M>(
        &mut self,
        serial: &str,
        actor: &Addr<CollarActor>,
        message: M,
    ) -> Option<M::Result>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        CollarActor: actix::Handler<M>,
    {
        match actor.send(message).await {
            Ok(result) => Some(result),
            Err(_) => {
                // Stopped between lookup and send: forget it; the retry starts a new one.
                self.lookups.forget(serial);
                None
            }
        }
    }

    fn drop_unknown(&self, pending: &Pending) {
        // Not provisioned: counted and dropped, never stored (it may be an attack).
        metrics::counter!("pettysync_unknown_serial_total").increment(1);
        self.ack_now(&pending.inbound);
    }

    fn ack_now(&self, inbound: &Inbound) {
        self.acker.ack(AckToken::of(&inbound.publish));
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Telemetry => "telemetry",
        Channel::Voice => "voice",
        Channel::Status => "status",
        Channel::CmdAck => "cmd_ack",
    }
}
