//! What a message of a collar another node owns becomes: stored here as usual — samples
//! under the pet of their time (from the collar's pairings, `pairing_cache`), rejections as
//! dead letters, voice clips and command answers to the side stores — and its decoded
//! samples or status handed to the owner (`forward`), which runs the collar's actor. The
//! MQTT message is acknowledged once its samples are stored and its entry is in the owner's
//! stream. A single node owns every collar and never comes here.

use tokio::sync::oneshot;

use super::handoff::{count_rejection, dead_letter_doc, split_entries};
use super::Pipeline;
use crate::actors::persistence::{Append, SampleRecord};
use crate::cluster::{Membership, NodeId};
use crate::ingest::decode::{self, Decoded};
use crate::ingest::forward::{ForwardJob, Forwarded, Forwarder};
use crate::ingest::mqtt::AckToken;
use crate::ingest::pairing_cache::PairingCache;
use crate::ingest::parking::Pending;

/// What ingest needs to serve collars owned elsewhere.
pub struct Remote {
    pub membership: Membership,
    pub forwarder: Forwarder,
    pub pairings: PairingCache,
}

impl Pipeline {
    /// The collar's owner when it is another node.
    pub(super) fn owned_elsewhere(&self, serial: &str) -> Option<NodeId> {
        let members = self.remote.membership.current();
        (!members.owns(serial)).then(|| members.owner(serial).clone())
    }

    /// Stores a message of a collar `owner` runs and forwards it there. Gives the message
    /// back when PostgreSQL could not say which pet the collar was on (it is parked and
    /// tried again).
    pub(super) async fn forward(
        &mut self,
        pending: Pending,
        serial: &str,
        owner: NodeId,
    ) -> Result<(), Pending> {
        let pairings = match self.remote.pairings.get(serial).await {
            Ok(Some(pairings)) => pairings,
            Ok(None) => {
                self.drop_unknown(&pending);
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(collar = %serial, %error, "could not read a collar's pairings; its messages wait");
                return Err(pending);
            }
        };
        let decoded = decode::decode(
            pending.channel,
            &pending.inbound.publish.payload,
            pending.received_at,
        );
        let ack = AckToken::of(&pending.inbound.publish);
        match decoded {
            Err(rejection) => {
                count_rejection(&rejection);
                let doc = dead_letter_doc(&pending, serial, &rejection);
                self.persist(Append {
                    dead_letters: vec![doc],
                    ack: Some(ack),
                    ..Append::default()
                })
                .await;
            }
            Ok(Decoded::Telemetry(entries)) => {
                let (samples, dead_letters) = split_entries(&pending, serial, entries);
                let records = samples
                    .iter()
                    .map(|sample| {
                        let pet = pairings.pet_at(sample.ts_ms);
                        SampleRecord::new(serial, pet, sample, pending.received_at)
                    })
                    .collect();
                if samples.is_empty() {
                    self.persist(Append {
                        dead_letters,
                        ack: Some(ack),
                        ..Append::default()
                    })
                    .await;
                    return Ok(());
                }
                let (stored, told) = oneshot::channel();
                self.persist(Append {
                    samples: records,
                    dead_letters,
                    stored: Some(stored),
                    ..Append::default()
                })
                .await;
                let entry = Forwarded::samples(serial, &samples, pending.received_at);
                self.hand_over(owner, entry, ack, Some(told)).await;
            }
            Ok(Decoded::Status(status)) => {
                let entry = Forwarded::status(serial, status.online, pending.received_at);
                self.hand_over(owner, entry, ack, None).await;
            }
            Ok(Decoded::CmdAck(answer)) => self.store_cmd_ack(serial, pending, answer).await,
            Ok(Decoded::Voice(clip)) => {
                let pet = pairings.pet_at(clip.ts_ms);
                self.store_voice(serial, pending, clip, pet).await;
            }
        }
        Ok(())
    }

    /// Queues the entry for the owner's stream; the forwarder acknowledges the message.
    async fn hand_over(
        &mut self,
        owner: NodeId,
        entry: Forwarded,
        ack: AckToken,
        stored: Option<oneshot::Receiver<()>>,
    ) {
        let job = ForwardJob {
            owner,
            entry,
            ack,
            stored,
        };
        // Closed only at shutdown: the message then stays unacknowledged, for redelivery.
        if !self.remote.forwarder.send(job).await {
            tracing::debug!("the forwarder has stopped; the message is left to the broker");
        }
    }

    /// Forwards a serial's parked messages, in order, now that another node owns it; what
    /// cannot go yet is put back for the next retry.
    pub(super) async fn forward_parked(&mut self, serial: &str, owner: NodeId) {
        let mut queue = self.parked.take(serial);
        while let Some(pending) = queue.pop_front() {
            if self.stopping() {
                break;
            }
            if let Err(pending) = self.forward(pending, serial, owner.clone()).await {
                queue.push_front(pending);
                self.parked.put_back(serial, queue);
                return self.parked.retry_failed();
            }
        }
        self.parked.put_back(serial, queue);
    }
}
