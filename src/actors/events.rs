//! Messages and value types that several actors share: the live state of a pet (the live
//! protocol's `state` object), alerts, and the events that carry them to user sessions.

use std::sync::Arc;

use actix::Message;
use serde::{Deserialize, Serialize};

use crate::ids::{PetId, UserId};

/// A pet's live state, exactly the live protocol's `state` object. Small, so every change
/// carries all of it and a client that missed messages is whole again with the next one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveState {
    pub online: bool,
    /// Epoch ms of the newest message from the collar.
    pub last_seen: Option<i64>,
    /// True while someone watches the pet and its collar reports every few seconds.
    pub live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vitals: Option<Vitals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<Battery>,
    pub geofences: FenceMembership,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acc: Option<f64>,
    pub at: i64,
    /// H3 cell (resolution 11) of the position.
    pub h3: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Vitals {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hr: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp: Option<f64>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    /// Steps since midnight UTC of the newest sample's day.
    pub steps_today: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Battery {
    pub pct: u8,
    pub at: i64,
}

/// Fences (ids) the pet is inside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FenceMembership {
    pub inside: Vec<String>,
}

/// The kinds of alert (live protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    GeofenceExit,
    GeofenceEnter,
    HeartRateHigh,
    HeartRateLow,
    BatteryLow,
    CollarOffline,
    MoodDistress,
}

impl AlertKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::GeofenceExit => "geofence_exit",
            Self::GeofenceEnter => "geofence_enter",
            Self::HeartRateHigh => "heart_rate_high",
            Self::HeartRateLow => "heart_rate_low",
            Self::BatteryLow => "battery_low",
            Self::CollarOffline => "collar_offline",
            Self::MoodDistress => "mood_distress",
        }
    }
}

/// An alert as stored and as sent to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: uuid::Uuid,
    pub pet_id: PetId,
    pub kind: AlertKind,
    /// Epoch ms of the sample (or event) that raised it.
    pub at: i64,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub acknowledged_at: Option<i64>,
}

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
