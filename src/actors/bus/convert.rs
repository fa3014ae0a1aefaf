//! The hub's events as they go between nodes, and back.

use std::sync::Arc;

use crate::actors::events::{AlertStored, MoodRecorded, StateChanged};
use crate::actors::hub::PeerEvent;
use crate::ids::PetId;
use crate::store::bus::LiveEvent;

/// The pet whose watchers alone need the event (states and moods); `None` for events every
/// node needs.
pub fn watched_pet(event: &PeerEvent) -> Option<PetId> {
    match event {
        PeerEvent::State(changed) => Some(changed.pet_id),
        PeerEvent::Mood(mood) => Some(mood.pet_id),
        _ => None,
    }
}

pub fn to_wire(event: PeerEvent) -> LiveEvent {
    match event {
        PeerEvent::State(changed) => LiveEvent::State {
            pet_id: changed.pet_id,
            state: (*changed.state).clone(),
        },
        PeerEvent::Mood(mood) => LiveEvent::Mood {
            id: mood.id,
            pet_id: mood.pet_id,
            mood: mood.mood.clone(),
        },
        PeerEvent::Alert(stored) => LiveEvent::Alert {
            alert: (*stored.alert).clone(),
            recipients: stored.recipients,
        },
        PeerEvent::RevokeShare { link_id } => LiveEvent::RevokeShare { link_id },
        PeerEvent::PetAccessLost { pet_id, users } => LiveEvent::PetAccessLost { pet_id, users },
        PeerEvent::SignInEnded { user, family } => LiveEvent::SignInEnded { user, family },
    }
}

/// The hub's event for one from the wire; `None` for the bus's own (`Watching`, `Collar`).
pub fn from_wire(event: LiveEvent) -> Option<PeerEvent> {
    Some(match event {
        LiveEvent::State { pet_id, state } => PeerEvent::State(StateChanged {
            pet_id,
            state: Arc::new(state),
        }),
        LiveEvent::Mood { id, pet_id, mood } => {
            PeerEvent::Mood(Arc::new(MoodRecorded { id, pet_id, mood }))
        }
        LiveEvent::Alert { alert, recipients } => PeerEvent::Alert(AlertStored {
            alert: Arc::new(alert),
            recipients,
        }),
        LiveEvent::RevokeShare { link_id } => PeerEvent::RevokeShare { link_id },
        LiveEvent::PetAccessLost { pet_id, users } => PeerEvent::PetAccessLost { pet_id, users },
        LiveEvent::SignInEnded { user, family } => PeerEvent::SignInEnded { user, family },
        LiveEvent::Watching { .. } | LiveEvent::Collar { .. } => return None,
    })
}
