//! The ingest task: takes each MQTT message the event loop forwards, decodes it, and hands
//! its parts on — samples to the collar actor (live state) and to persistence (MongoDB, then
//! the broker acknowledgement), rejections to the dead-letter store, voice clips to S3,
//! command answers to PostgreSQL. One task, one message at a time, so one collar's
//! messages stay in order; slow stores push back through the bounded channels.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use mongodb::bson::{doc, Binary, DateTime as BsonDateTime, Document};
use rumqttc::Publish;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

use super::commands::Commands;
use super::decode::{self, Channel, Decoded, Rejection};
use super::mqtt::Acker;
use super::voice::VoiceStore;
use crate::actors::collar::{CollarActor, CurrentPet, StatusReport, Telemetry};
use crate::actors::persistence::{
    AckToken, Append, Buffered, PersistenceSupervisor, SampleRecord, MAX_BUFFERED,
};
use crate::actors::registry::{CollarRegistry, Resolve};

/// Unknown serials remembered, so a flood of them costs no database lookups.
const UNKNOWN_CACHE_MAX: usize = 10_000;
/// How long an unknown serial is remembered (a collar provisioned meanwhile is found after).
const UNKNOWN_TTL: Duration = Duration::from_secs(30);
/// Voice clips and command answers stored at once; more wait (and so does ingest).
const SIDE_TASKS: usize = 16;
/// How often ingest looks again while persistence is over its buffer limit.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(5);

pub struct Pipeline {
    pub topic_prefix: String,
    pub registry: Addr<CollarRegistry>,
    pub persistence: Addr<PersistenceSupervisor>,
    pub acker: Acker,
    pub commands: Commands,
    pub voice: VoiceStore,
    actors: HashMap<String, Addr<CollarActor>>,
    unknown: HashMap<String, Instant>,
    side_tasks: Arc<Semaphore>,
}

impl Pipeline {
    pub fn new(
        topic_prefix: String,
        registry: Addr<CollarRegistry>,
        persistence: Addr<PersistenceSupervisor>,
        acker: Acker,
        commands: Commands,
        voice: VoiceStore,
    ) -> Self {
        Self {
            topic_prefix,
            registry,
            persistence,
            acker,
            commands,
            voice,
            actors: HashMap::new(),
            unknown: HashMap::new(),
            side_tasks: Arc::new(Semaphore::new(SIDE_TASKS)),
        }
    }

    /// Handles messages until the event loop closes the channel, or until `stop` turns
    /// true: then it finishes the messages already queued and returns.
    pub async fn run(
        mut self,
        mut messages: mpsc::Receiver<Publish>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                publish = messages.recv() => match publish {
                    Some(publish) => self.handle_in_span(publish).await,
                    None => return,
                },
                _ = stop.changed() => {
                    while let Ok(publish) = messages.try_recv() {
                        self.handle_in_span(publish).await;
                    }
                    return;
                }
            }
        }
    }

    async fn handle_in_span(&mut self, publish: Publish) {
        let span = tracing::debug_span!("mqtt", topic = %publish.topic);
        self.handle(publish).instrument(span).await;
    }

    async fn handle(&mut self, publish: Publish) {
        let received_at = chrono::Utc::now().timestamp_millis();
        let topic = match decode::parse_topic(&self.topic_prefix, &publish.topic) {
            Ok(topic) => topic,
            Err(rejection) => {
                return self
                    .dead_letter(&publish, None, rejection, received_at)
                    .await
            }
        };
        let serial = topic.serial.as_str().to_owned();
        let channel_label = channel_label(topic.channel);
        metrics::counter!("pettysync_mqtt_messages_total", "channel" => channel_label).increment(1);
        let Some(actor) = self.actor(&serial).await else {
            // Not provisioned: counted and dropped, never stored (it may be an attack).
            metrics::counter!("pettysync_unknown_serial_total").increment(1);
            self.ack_now(&publish);
            return;
        };
        match decode::decode(topic.channel, &publish.payload, received_at) {
            Err(rejection) => {
                self.dead_letter(&publish, Some(&serial), rejection, received_at)
                    .await
            }
            Ok(Decoded::Telemetry(entries)) => {
                self.telemetry(&publish, &serial, &actor, entries, received_at)
                    .await
            }
            Ok(Decoded::Status(status)) => {
                self.tell(
                    &serial,
                    &actor,
                    StatusReport {
                        online: status.online,
                    },
                )
                .await;
                self.ack_now(&publish);
            }
            Ok(Decoded::CmdAck(ack)) => {
                let commands = self.commands.clone();
                self.side_task(&publish, async move {
                    commands
                        .record_ack(&serial, &ack.id, ack.ok, ack.error.as_deref())
                        .await
                })
                .await;
            }
            Ok(Decoded::Voice(clip)) => {
                let voice = self.voice.clone();
                let pet = self.tell(&serial, &actor, CurrentPet).await.flatten();
                self.side_task(
                    &publish,
                    async move { voice.store(&serial, pet, clip).await },
                )
                .await;
            }
        }
    }

    async fn telemetry(
        &mut self,
        publish: &Publish,
        serial: &str,
        actor: &Addr<CollarActor>,
        entries: Vec<Result<decode::Sample, Rejection>>,
        received_at: i64,
    ) {
        let mut samples = Vec::with_capacity(entries.len());
        let mut dead_letters = Vec::new();
        for entry in entries {
            match entry {
                Ok(sample) => samples.push(sample),
                Err(rejection) => {
                    count_rejection(&rejection);
                    dead_letters.push(dead_letter_doc(
                        publish,
                        Some(serial),
                        &rejection,
                        received_at,
                    ));
                }
            }
        }
        let records = if samples.is_empty() {
            Vec::new()
        } else {
            // The actor answers with the pet the collar is on now: samples are stored under it.
            // A copy stays here because a message to an actor that just stopped is lost with
            // it, and the samples must be stored regardless.
            let kept = samples.clone();
            let pet = self
                .tell(serial, actor, Telemetry { samples })
                .await
                .flatten();
            kept.iter()
                .map(|s| SampleRecord::new(serial, pet, s, received_at))
                .collect()
        };
        self.persist(Append {
            samples: records,
            dead_letters,
            ack: Some(AckToken::of(publish)),
        })
        .await;
    }

    /// Hands a message to persistence, waiting while it is over its buffer limit.
    async fn persist(&mut self, append: Append) {
        let mut buffered = self.persistence.send(append).await.unwrap_or(0);
        while buffered >= MAX_BUFFERED {
            metrics::counter!("pettysync_ingest_backpressure_total").increment(1);
            tokio::time::sleep(BACKPRESSURE_POLL).await;
            buffered = self.persistence.send(Buffered).await.unwrap_or(0);
        }
    }

    async fn dead_letter(
        &mut self,
        publish: &Publish,
        serial: Option<&str>,
        rejection: Rejection,
        received_at: i64,
    ) {
        count_rejection(&rejection);
        tracing::debug!(topic = %publish.topic, reason = rejection.reason.as_str(), "dead letter");
        let doc = dead_letter_doc(publish, serial, &rejection, received_at);
        self.persist(Append {
            samples: Vec::new(),
            dead_letters: vec![doc],
            ack: Some(AckToken::of(publish)),
        })
        .await;
    }

    /// The running actor of a provisioned collar, started if needed; `None` when unknown.
    async fn actor(&mut self, serial: &str) -> Option<Addr<CollarActor>> {
        if let Some(addr) = self.actors.get(serial).filter(|a| a.connected()) {
            return Some(addr.clone());
        }
        if let Some(seen) = self.unknown.get(serial) {
            if seen.elapsed() < UNKNOWN_TTL {
                return None;
            }
        }
        match self
            .registry
            .send(Resolve {
                serial: serial.to_owned(),
            })
            .await
        {
            Ok(Ok(Some(addr))) => {
                self.unknown.remove(serial);
                self.actors.insert(serial.to_owned(), addr.clone());
                Some(addr)
            }
            Ok(Ok(None)) => {
                if self.unknown.len() >= UNKNOWN_CACHE_MAX {
                    self.unknown.clear();
                }
                self.unknown.insert(serial.to_owned(), Instant::now());
                None
            }
            Ok(Err(error)) => {
                // The database is away: leave the message unacknowledged so the broker
                // redelivers it after our reconnect, rather than dropping a known collar's data.
                tracing::warn!(collar = %serial, error = ?error, "could not look up collar");
                None
            }
            Err(error) => {
                tracing::error!(collar = %serial, %error, "collar registry unavailable");
                None
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
                // Stopped between lookup and send: forget it; the next message restarts it.
                self.actors.remove(serial);
                None
            }
        }
    }

    fn ack_now(&self, publish: &Publish) {
        self.acker.ack(publish.pkid, publish.qos);
    }

    /// Runs a store (voice, command answer) beside ingest and acknowledges after it succeeds.
    async fn side_task<F>(&self, publish: &Publish, store: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let Ok(permit) = self.side_tasks.clone().acquire_owned().await else {
            return;
        };
        let acker = self.acker.clone();
        let publish = publish.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match store.await {
                Ok(()) => acker.ack(publish.pkid, publish.qos),
                // Left unacknowledged: the broker redelivers after a reconnect.
                Err(error) => {
                    tracing::warn!(topic = %publish.topic, error = ?error, "could not store a message")
                }
            }
        });
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

fn count_rejection(rejection: &Rejection) {
    metrics::counter!("pettysync_dead_letters_total", "reason" => rejection.reason.as_str())
        .increment(1);
}

/// A dead letter: the raw bytes, topic, reason and time received.
fn dead_letter_doc(
    publish: &Publish,
    serial: Option<&str>,
    rejection: &Rejection,
    received_at: i64,
) -> Document {
    let mut doc = doc! {
        "topic": publish.topic.as_str(),
        "reason": rejection.reason.as_str(),
        "detail": rejection.detail.as_str(),
        "raw": Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: publish.payload.to_vec() },
        "received_at": BsonDateTime::from_millis(received_at),
    };
    if let Some(serial) = serial {
        doc.insert("serial", serial);
    }
    if let Some(index) = rejection.index {
        doc.insert("index", index as i64);
    }
    doc
}
