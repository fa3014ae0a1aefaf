//! A pet's live state: exactly the live protocol's `state` object.

use serde::{Deserialize, Serialize};

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
