//! Live events between nodes over Redis pub/sub: what goes on the wire, on which channel, and
//! the two connections that carry it.
//!
//! - a pet's states and moods go on its own channel (`live:pet:{pet}`), which only the nodes
//!   whose sessions watch the pet subscribe to;
//! - stored alerts go on one channel every node hears (they reach every session of their
//!   recipients, watching or not), and so do revocations and changes a collar's owner must
//!   apply to its actor (`live:control`);
//! - each node keeps the pets it watches in a set `cluster:watching:{node}` with a TTL, and
//!   announces each change on `cluster:watching`, so every node knows who watches what;
//! - `publisher` sends (batched, bounded, counted when lost); `subscriber` holds the one
//!   subscribed connection and hands what arrives (minus this node's own) to the caller.
//!
//! Pub/sub delivers at most once: a message sent while a node's subscriber reconnects is not
//! seen by it. Live states are replaced by the next one within seconds; the watching sets are
//! read again every beat, so a lost announcement heals; alerts are stored and shown by
//! `GET /alerts`; a lost revocation is caught by the session's own checks on its next use.

mod publisher;
mod subscriber;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use self::publisher::{start_publisher, Outbox, MAX_PENDING};
pub use self::subscriber::{start_subscriber, Subscriptions, MAX_INBOUND};
use crate::cache::Redis;
use crate::cluster::NodeId;
use crate::domain::alert::Alert;
use crate::domain::live::{LiveState, MoodState};
use crate::ids::{PetId, UserId};

/// Channel of the events of one pet: `live:pet:` then the pet's id.
const PET_CHANNEL: &str = "live:pet:";
/// Channel of stored alerts, heard by every node.
const ALERTS_CHANNEL: &str = "live:alerts";
/// Channel of revocations, heard by every node.
const CONTROL_CHANNEL: &str = "live:control";
/// Channel on which nodes announce the pets they start or stop watching.
const WATCHING_CHANNEL: &str = "cluster:watching";
/// A node's set of watched pets: `cluster:watching:` then the node id.
const WATCHING_SET: &str = "cluster:watching:";

/// One event between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A pet's new live state (its owner node → the nodes watching it).
    State { pet_id: PetId, state: LiveState },
    /// A pet's new mood.
    Mood {
        id: Uuid,
        pet_id: PetId,
        mood: MoodState,
    },
    /// A stored alert and the users it is for.
    Alert {
        alert: Alert,
        recipients: Vec<UserId>,
    },
    /// A share link was revoked.
    RevokeShare { link_id: Uuid },
    /// These users lost a pet.
    PetAccessLost { pet_id: PetId, users: Vec<UserId> },
    /// A sign-in of a user ended.
    SignInEnded { user: UserId, family: Uuid },
    /// The sending node started (`live`) or stopped watching a pet.
    Watching { pet_id: PetId, live: bool },
    /// A change for the actor of the pet's collar, which only the collar's owner runs.
    Collar { change: CollarChange },
}

/// What changed for a pet's collar actor outside it: the node where it happened (an HTTP
/// request, a classified clip) tells every node, and the one running the actor applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CollarChange {
    /// The pet's fences, heart-rate band or collar settings changed in PostgreSQL.
    Setup { pet_id: PetId },
    /// A collar was paired to the pet or unpaired from it.
    Pairing { pet_id: PetId },
    /// The owner set the collar's reporting interval.
    Interval { pet_id: PetId },
    /// A classified clip's mood, for the pet's live state.
    Mood {
        id: Uuid,
        pet_id: PetId,
        mood: MoodState,
    },
}

/// An event with the node that sent it, as it goes on the wire (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's id: a node skips its own messages.
    pub origin: String,
    pub event: LiveEvent,
}

impl Envelope {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The channel and key names of one deployment (its Redis prefix).
#[derive(Clone)]
pub struct Channels {
    redis: Redis,
}

impl Channels {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    pub fn pet(&self, pet_id: PetId) -> String {
        self.redis.key(&format!("{PET_CHANNEL}{pet_id}"))
    }

    pub fn alerts(&self) -> String {
        self.redis.key(ALERTS_CHANNEL)
    }

    pub fn control(&self) -> String {
        self.redis.key(CONTROL_CHANNEL)
    }

    pub fn watching(&self) -> String {
        self.redis.key(WATCHING_CHANNEL)
    }

    pub fn watching_set(&self, node: &NodeId) -> String {
        self.redis.key(&format!("{WATCHING_SET}{node}"))
    }

    /// The channel an event goes on.
    pub fn of(&self, event: &LiveEvent) -> String {
        match event {
            LiveEvent::State { pet_id, .. } | LiveEvent::Mood { pet_id, .. } => self.pet(*pet_id),
            LiveEvent::Alert { .. } => self.alerts(),
            LiveEvent::RevokeShare { .. }
            | LiveEvent::PetAccessLost { .. }
            | LiveEvent::SignInEnded { .. }
            | LiveEvent::Collar { .. } => self.control(),
            LiveEvent::Watching { .. } => self.watching(),
        }
    }

    /// The channels every node listens to whatever its sessions watch.
    pub fn every_node(&self) -> [String; 3] {
        [self.alerts(), self.control(), self.watching()]
    }
}

/// Reads the watched-pet sets of `nodes` (a node whose set expired watches nothing).
pub async fn read_watching(
    channels: &Channels,
    nodes: &[NodeId],
) -> anyhow::Result<Vec<(NodeId, Vec<PetId>)>> {
    let mut conn = channels.redis.conn().await?;
    let mut pipe = deadpool_redis::redis::pipe();
    for node in nodes {
        pipe.cmd("SMEMBERS").arg(channels.watching_set(node));
    }
    let sets: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
    Ok(nodes
        .iter()
        .cloned()
        .zip(sets)
        .map(|(node, pets)| {
            let pets = pets
                .iter()
                .filter_map(|p| Uuid::parse_str(p).ok().map(PetId))
                .collect();
            (node, pets)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_the_wire() {
        let pet_id = PetId::new();
        let events = [
            LiveEvent::State {
                pet_id,
                state: LiveState::default(),
            },
            LiveEvent::RevokeShare {
                link_id: Uuid::new_v4(),
            },
            LiveEvent::PetAccessLost {
                pet_id,
                users: vec![UserId::new()],
            },
            LiveEvent::Watching { pet_id, live: true },
            LiveEvent::Collar {
                change: CollarChange::Setup { pet_id },
            },
        ];
        for event in events {
            let envelope = Envelope {
                origin: "node-a".into(),
                event,
            };
            let bytes = envelope.encode().unwrap();
            assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
        }
    }
}
