//! The hub in a cluster: every event it routes for this node's sessions it also hands to the
//! live bus, which sends on to the other nodes what they need; what the bus hears from the
//! other nodes comes back here and is routed exactly like a local event, but not handed out
//! again. A single server has no bus, and nothing changes on its path.

use std::sync::Arc;

use actix::{Context, Handler, Message, Recipient};
use uuid::Uuid;

use super::LiveHub;
use crate::actors::events::{AlertStored, MoodRecorded, StateChanged};
use crate::ids::{PetId, UserId};

/// An event that sessions on any node may need.
#[derive(Debug, Clone)]
pub enum PeerEvent {
    /// A pet's new live state.
    State(StateChanged),
    /// A pet's new mood.
    Mood(Arc<MoodRecorded>),
    /// A stored alert.
    Alert(AlertStored),
    /// A share link was revoked.
    RevokeShare {
        /// The link.
        link_id: Uuid,
    },
    /// These users lost a pet.
    PetAccessLost {
        /// The pet.
        pet_id: PetId,
        /// The users.
        users: Vec<UserId>,
    },
    /// A sign-in ended.
    SignInEnded {
        /// The user.
        user: UserId,
        /// The refresh-token family.
        family: Uuid,
    },
}

/// An event this hub routed, for the other nodes (hub → live bus).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ToPeers {
    /// The event.
    pub event: PeerEvent,
}

/// An event from another node, routed here as a local one (live bus → hub).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct FromPeer {
    /// The event.
    pub event: PeerEvent,
}

impl LiveHub {
    /// The same hub, handing what it routes to the live bus too.
    pub fn with_peers(self, peers: Recipient<ToPeers>) -> Self {
        Self {
            peers: Some(peers),
            ..self
        }
    }

    /// Hands a routed event to the bus. A full bus mailbox drops it (counted): the local
    /// sessions have it, and the hub never waits on the other nodes.
    pub(super) fn to_peers(&self, event: impl FnOnce() -> PeerEvent) {
        let Some(peers) = &self.peers else { return };
        if peers.try_send(ToPeers { event: event() }).is_err() {
            metrics::counter!("pettysync_livebus_lost_total", "reason" => "bus_full").increment(1);
        }
    }
}

impl Handler<FromPeer> for LiveHub {
    type Result = ();

    fn handle(&mut self, msg: FromPeer, ctx: &mut Context<Self>) {
        match msg.event {
            PeerEvent::State(changed) => self.route_state(&changed),
            PeerEvent::Mood(mood) => self.route_mood(&mood),
            PeerEvent::Alert(stored) => self.route_alert(&stored),
            PeerEvent::RevokeShare { link_id } => self.revoke_share(link_id),
            PeerEvent::PetAccessLost { pet_id, users } => self.pet_access_lost(pet_id, &users, ctx),
            PeerEvent::SignInEnded { user, family } => self.sign_in_ended(user, family),
        }
    }
}
