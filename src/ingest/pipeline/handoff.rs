//! What a message of a known collar becomes: decoded, its samples through the collar actor
//! and, with the alerts and snapshot the actor left, to persistence; a rejection to the
//! dead-letter store; voice clips and command answers to side stores.

use actix::Addr;
use mongodb::bson::{doc, Binary, DateTime as BsonDateTime, Document};

use super::{Pipeline, DEAD_LETTER_RAW_BYTES};
use crate::actors::collar::{Applied, CollarActor, PetAt, StatusReport, Telemetry};
use crate::actors::persistence::{Append, Buffered, SampleRecord, MAX_BUFFERED};
use crate::ids::PetId;
use crate::ingest::decode::{self, CmdAck, Decoded, Rejection, VoiceClip};
use crate::ingest::mqtt::AckToken;
use crate::ingest::parking::Pending;
use crate::ingest::side::StoreError;

/// How often ingest looks again while persistence is over its buffer limit.
const BACKPRESSURE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

impl Pipeline {
    /// Decodes a message of a known collar and hands its parts on. Gives the message back
    /// when its collar actor stopped meanwhile (it is parked and tried again).
    pub(super) async fn process(
        &mut self,
        pending: Pending,
        serial: &str,
        actor: &Addr<CollarActor>,
    ) -> Result<(), Pending> {
        let decoded = decode::decode(
            pending.channel,
            &pending.inbound.publish.payload,
            pending.received_at,
        );
        let ack = AckToken::of(&pending.inbound.publish);
        match decoded {
            Err(rejection) => {
                let doc = dead_letter_doc(&pending, serial, &rejection);
                count_rejection(&rejection);
                self.persist(Append {
                    dead_letters: vec![doc],
                    ack: Some(ack),
                    ..Append::default()
                })
                .await;
            }
            Ok(Decoded::Telemetry(entries)) => {
                let (samples, dead_letters) = split_entries(&pending, serial, entries);
                let applied = if samples.is_empty() {
                    Applied::default()
                } else {
                    let message = Telemetry {
                        samples: samples.clone(),
                    };
                    match self.tell(serial, actor, message).await {
                        Some(applied) => {
                            crate::ingest::record_actor_delay("local", pending.received_at);
                            applied
                        }
                        None => return Err(pending),
                    }
                };
                let records = samples
                    .iter()
                    .zip(&applied.pets)
                    .map(|(sample, pet)| {
                        SampleRecord::new(serial, *pet, sample, pending.received_at)
                    })
                    .collect();
                self.persist(Append {
                    samples: records,
                    dead_letters,
                    alerts: applied.alerts,
                    snapshot: applied.snapshot,
                    ack: Some(ack),
                    ..Append::default()
                })
                .await;
            }
            Ok(Decoded::Status(status)) => {
                let report = StatusReport {
                    online: status.online,
                };
                let Some(applied) = self.tell(serial, actor, report).await else {
                    return Err(pending);
                };
                self.persist(Append {
                    alerts: applied.alerts,
                    snapshot: applied.snapshot,
                    ack: Some(ack),
                    ..Append::default()
                })
                .await;
            }
            Ok(Decoded::CmdAck(answer)) => self.store_cmd_ack(serial, pending, answer).await,
            Ok(Decoded::Voice(clip)) => {
                let Some(pet) = self.tell(serial, actor, PetAt { ts_ms: clip.ts_ms }).await else {
                    return Err(pending);
                };
                self.store_voice(serial, pending, clip, pet).await;
            }
        }
        Ok(())
    }

    /// A command answer to the command store (beside ingest, retried).
    pub(super) async fn store_cmd_ack(&mut self, serial: &str, pending: Pending, answer: CmdAck) {
        let (commands, owned) = (self.commands.clone(), serial.to_owned());
        let store = move || {
            let (commands, serial, answer) = (commands.clone(), owned.clone(), answer.clone());
            async move {
                commands
                    .record_ack(&serial, &answer.id, answer.ok, answer.error.as_deref())
                    .await
                    .map_err(StoreError::from_sqlx)
            }
        };
        self.side.run("cmd_ack", serial, pending, store).await;
    }

    /// A voice clip to the voice store under `pet` (beside ingest, retried).
    pub(super) async fn store_voice(
        &mut self,
        serial: &str,
        pending: Pending,
        clip: VoiceClip,
        pet: Option<PetId>,
    ) {
        let (voice, owned) = (self.voice.clone(), serial.to_owned());
        let clip = std::sync::Arc::new(clip);
        let store = move || {
            let (voice, serial, clip) = (voice.clone(), owned.clone(), clip.clone());
            async move { voice.store(&serial, pet, &clip).await }
        };
        self.side.run("voice", serial, pending, store).await;
    }

    /// Hands a message to persistence, waiting while it is over its buffer limit (or
    /// until shutdown, which leaves the rest to the broker).
    pub(super) async fn persist(&mut self, append: Append) {
        // The mailbox only closes at shutdown: then what was not handed over is not
        // acknowledged, and the broker redelivers it.
        let Ok(mut buffered) = self.persistence.send(append).await else {
            return;
        };
        while buffered >= MAX_BUFFERED && !self.stopping() {
            metrics::counter!("pettysync_ingest_backpressure_total").increment(1);
            self.lag.mark();
            tokio::time::sleep(BACKPRESSURE_POLL).await;
            let Ok(now) = self.persistence.send(Buffered).await else {
                return;
            };
            buffered = now;
        }
    }
}

/// A telemetry message's valid samples, and a dead letter for each rejected element.
pub(super) fn split_entries(
    pending: &Pending,
    serial: &str,
    entries: Vec<Result<crate::domain::sample::Sample, Rejection>>,
) -> (Vec<crate::domain::sample::Sample>, Vec<Document>) {
    let (mut samples, mut dead_letters) = (Vec::with_capacity(entries.len()), Vec::new());
    for entry in entries {
        match entry {
            Ok(sample) => samples.push(sample),
            Err(rejection) => {
                count_rejection(&rejection);
                dead_letters.push(dead_letter_doc(pending, serial, &rejection));
            }
        }
    }
    (samples, dead_letters)
}

pub(super) fn count_rejection(rejection: &Rejection) {
    metrics::counter!("pettysync_dead_letters_total", "reason" => rejection.reason.as_str())
        .increment(1);
}

/// A dead letter: the raw bytes (cut to [`DEAD_LETTER_RAW_BYTES`], with the full size),
/// topic, reason and time received.
pub(super) fn dead_letter_doc(pending: &Pending, serial: &str, rejection: &Rejection) -> Document {
    letter(pending, serial, rejection, DEAD_LETTER_RAW_BYTES)
}

/// A valid message a side store could not store in time: kept whole, so it can be replayed.
pub(in crate::ingest) fn store_failed_letter(
    pending: &Pending,
    serial: &str,
    error: &anyhow::Error,
) -> Document {
    let detail: String = format!("{error:#}").chars().take(300).collect();
    let rejection = Rejection::new(decode::Reason::StoreFailed, detail);
    letter(pending, serial, &rejection, decode::MAX_VOICE_BYTES)
}

fn letter(pending: &Pending, serial: &str, rejection: &Rejection, keep: usize) -> Document {
    let publish = &pending.inbound.publish;
    let kept = publish.payload.len().min(keep);
    let mut doc = doc! {
        "topic": pending.inbound.topic().unwrap_or_default(),
        "serial": serial,
        "reason": rejection.reason.as_str(),
        "detail": rejection.detail.as_str(),
        "raw": Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: publish.payload[..kept].to_vec() },
        "size": publish.payload.len() as i64,
        "received_at": BsonDateTime::from_millis(pending.received_at),
    };
    if let Some(index) = rejection.index {
        doc.insert("index", index as i64);
    }
    doc
}
