//! Messages and value types that several actors share: the live state of a pet (the live
//! protocol's `state` object), alerts, moods, and the events that carry them to user sessions.

use std::sync::Arc;

use actix::Message;
use serde::{Deserialize, Serialize};

pub use crate::domain::alert::{Alert, AlertKind};
pub use crate::domain::live::{
    ActivityState, Battery, FenceMembership, LiveState, Location, MoodState, Vitals,
};
use crate::ids::{PetId, UserId};

/// A pet's live state changed (collar actor → hub → sessions watching the pet).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StateChanged {
    /// The pet whose state it is.
    pub pet_id: PetId,
    /// The whole new state, shared by every session that sends it.
    pub state: Arc<LiveState>,
}

/// A stored alert to deliver (alert supervisor → hub → every session of these users).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct AlertStored {
    /// The alert as stored.
    pub alert: Arc<Alert>,
    /// The owner and members of the pet at the time of the alert.
    pub recipients: Vec<UserId>,
}

/// A voice clip's mood was stored (mood supervisor → collar registry, which hands it to the
/// collar actor of the pet for its live state; and → hub → the sessions watching the pet).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MoodRecorded {
    /// The `moods` row's id.
    pub id: uuid::Uuid,
    /// The pet whose clip it was.
    pub pet_id: PetId,
    /// The mood, its confidence and the clip's time, as the live state shows them.
    pub mood: MoodState,
}

/// Switches a pet's collar into or out of live mode (hub → collar registry). The registry
/// sends the collar `set_interval` (3 s live, its normal interval otherwise).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SetLiveMode {
    /// The watched (or no longer watched) pet.
    pub pet_id: PetId,
    /// True when the first watcher arrived; false when the grace after the last one ended.
    pub live: bool,
}

/// The current live state of a pet (sessions and HTTP → collar registry): from its collar
/// actor when one runs, else from the last snapshot, else an offline state.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "LiveState")]
pub struct GetPetState {
    /// The pet; the caller has already checked the right to see it.
    pub pet_id: PetId,
}

/// What happened on the social side that someone should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocialKind {
    Follow,
    Like,
    Comment,
}

impl SocialKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Follow => "follow",
            Self::Like => "like",
            Self::Comment => "comment",
        }
    }
}

/// A social event to notify someone of (HTTP handlers → notification supervisor).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SocialEvent {
    pub kind: SocialKind,
    /// Who did it (the new follower, the liker, the commenter).
    pub actor: UserId,
    /// Who hears about it (the followee, the post's author); never the actor themselves.
    pub recipient: UserId,
    /// Kind-specific facts for the notification's `data` (post id, comment id, names).
    pub data: serde_json::Value,
}
