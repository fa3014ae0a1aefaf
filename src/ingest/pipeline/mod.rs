//! The ingest task: takes each MQTT message the event loop forwards, decodes it, and hands
//! its parts on — samples to the collar actor (live state) and, with the alerts the actor
//! raised, to persistence (MongoDB, then the broker acknowledgement); rejections to the
//! dead-letter store; voice clips and command answers to side stores (`side`). One task,
//! one message at a time, so one collar's messages stay in order; slow stores push back
//! through the bounded channels.
//!
//! A collar is known, unknown, or — when PostgreSQL or the registry cannot say — not known
//! yet: such messages are parked (`parking`) and tried again, never counted as unknown and
//! acknowledged, so a database blip loses nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::Addr;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

mod handoff;

use super::decode::{self, Channel, Rejection};
use super::mqtt::{AckToken, Acker, Inbound};
use super::parking::{Parked, Pending};
use super::side::SideTasks;
use super::voice::VoiceStore;
use crate::actors::collar::CollarActor;
use crate::actors::commands::Commands;
use crate::actors::persistence::PersistenceSupervisor;
use crate::actors::registry::{CollarRegistry, Resolve};

/// Unknown serials remembered, so a flood of them costs no database lookups.
const UNKNOWN_CACHE_MAX: usize = 10_000;
/// How long an unknown serial is remembered (a collar provisioned meanwhile is found after).
const UNKNOWN_TTL: Duration = Duration::from_secs(30);
/// Largest part of a dead letter's payload kept (a `too_large` message is cut to this).
const DEAD_LETTER_RAW_BYTES: usize = 64 * 1024;

/// What a lookup of a serial found.
enum Lookup {
    Known(Addr<CollarActor>),
    /// Never provisioned: counted and dropped.
    Unknown,
    /// The registry or PostgreSQL could not say: park and try again.
    Unavailable,
}

pub struct Pipeline {
    pub topic_prefix: String,
    pub registry: Addr<CollarRegistry>,
    pub persistence: Addr<PersistenceSupervisor>,
    pub acker: Acker,
    pub commands: Commands,
    pub voice: VoiceStore,
    side: SideTasks,
    actors: HashMap<String, Addr<CollarActor>>,
    unknown: HashMap<String, Instant>,
    parked: Parked,
    stop: watch::Receiver<bool>,
}

impl Pipeline {
    pub fn new(
        topic_prefix: String,
        registry: Addr<CollarRegistry>,
        persistence: Addr<PersistenceSupervisor>,
        acker: Acker,
        commands: Commands,
        voice: VoiceStore,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            topic_prefix,
            registry,
            persistence,
            side: SideTasks::new(acker.clone()),
            acker,
            commands,
            voice,
            actors: HashMap::new(),
            unknown: HashMap::new(),
            parked: Parked::default(),
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
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => return,
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
        match self.lookup(&serial).await {
            Lookup::Known(actor) => {
                if let Err(pending) = self.process(pending, &serial, &actor).await {
                    self.parked.park(&serial, pending);
                }
            }
            Lookup::Unknown => self.drop_unknown(&pending),
            Lookup::Unavailable => self.parked.park(&serial, pending),
        }
    }

    /// Tries the parked messages again, serial by serial, in order; stops at the first
    /// serial that still cannot be looked up.
    async fn retry_parked(&mut self) {
        for serial in self.parked.serials() {
            if self.stopping() {
                return;
            }
            let actor = match self.lookup(&serial).await {
                Lookup::Known(actor) => actor,
                Lookup::Unknown => {
                    for pending in self.parked.take(&serial) {
                        self.drop_unknown(&pending);
                    }
                    continue;
                }
                Lookup::Unavailable => return self.parked.retry_failed(),
            };
            let mut queue = self.parked.take(&serial);
            while let Some(pending) = queue.pop_front() {
                if let Err(pending) = self.process(pending, &serial, &actor).await {
                    queue.push_front(pending);
                    self.parked.put_back(&serial, queue);
                    return self.parked.retry_failed();
                }
                if self.stopping() {
                    return;
                }
            }
        }
        self.parked.retry_done();
    }

    /// The running actor of a provisioned collar, started if needed.
    async fn lookup(&mut self, serial: &str) -> Lookup {
        if let Some(addr) = self.actors.get(serial).filter(|a| a.connected()) {
            return Lookup::Known(addr.clone());
        }
        if let Some(seen) = self.unknown.get(serial) {
            if seen.elapsed() < UNKNOWN_TTL {
                return Lookup::Unknown;
            }
        }
        let resolve = Resolve {
            serial: serial.to_owned(),
        };
        match self.registry.send(resolve).await {
            Ok(Ok(Some(addr))) => {
                self.unknown.remove(serial);
                self.actors.insert(serial.to_owned(), addr.clone());
                Lookup::Known(addr)
            }
            Ok(Ok(None)) => {
                if self.unknown.len() >= UNKNOWN_CACHE_MAX {
                    self.unknown.clear();
                }
                self.unknown.insert(serial.to_owned(), Instant::now());
                Lookup::Unknown
            }
            Ok(Err(error)) => {
                metrics::counter!("pettysync_collar_lookup_failures_total").increment(1);
                tracing::warn!(collar = %serial, error = ?error, "could not look up a collar; its messages wait");
                Lookup::Unavailable
            }
            Err(error) => {
                metrics::counter!("pettysync_collar_lookup_failures_total").increment(1);
                tracing::warn!(collar = %serial, %error, "collar registry unavailable; messages wait");
                Lookup::Unavailable
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
                self.actors.remove(serial);
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
