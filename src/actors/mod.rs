//! The actors of ARCHITECTURE.md: one `CollarActor` per active collar (found or started by
//! the `CollarRegistry`), one `UserSession` per WebSocket, the `LiveHub` between them, and
//! the supervisors that own slow effects (persistence, alerts).

pub mod alerts;
pub mod archival;
pub mod bus;
pub mod collar;
pub mod commands;
pub mod events;
pub mod feed;
pub mod hub;
pub mod mood;
pub mod mood_retrain;
pub mod notifications;
pub mod persistence;
pub mod registry;
pub mod rollup;
pub mod rules;
pub mod scope;
pub mod session;
pub mod voice_spool;

use crate::ids::PetId;
use crate::store::bus::CollarChange;

/// Handles to the long-lived actors that HTTP handlers talk to (as `web::Data`).
#[derive(Clone)]
pub struct Actors {
    pub registry: actix::Addr<registry::CollarRegistry>,
    pub hub: actix::Addr<hub::LiveHub>,
    /// The other nodes' registries, through the live bus (one node: nobody).
    pub peers: actix::Recipient<registry::CollarChanged>,
}

impl Actors {
    /// A pet's fences, heart-rate band or collar settings changed: whichever node runs its
    /// collar's actor reloads it (after a short debounce).
    pub fn setup_changed(&self, pet_id: PetId) {
        self.registry.do_send(registry::PetChanged { pet_id });
        self.tell_peers(CollarChange::Setup { pet_id });
    }

    /// A collar was paired to the pet or unpaired from it. Returns once this node's registry
    /// applied it; another node that runs the actor applies it one Redis hop later.
    pub async fn pairing_changed(&self, pet_id: PetId) {
        self.tell_peers(CollarChange::Pairing { pet_id });
        let _ = self
            .registry
            .send(registry::PairingChanged { pet_id })
            .await;
    }

    /// The owner set the collar's reporting interval.
    pub fn interval_set(&self, pet_id: PetId) {
        self.registry.do_send(registry::IntervalSet { pet_id });
        self.tell_peers(CollarChange::Interval { pet_id });
    }

    fn tell_peers(&self, change: CollarChange) {
        self.peers.do_send(registry::CollarChanged { change });
    }
}
