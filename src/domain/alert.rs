//! Alerts: their kinds (live protocol) and an alert as stored and sent to clients.

use serde::{Deserialize, Serialize};

use crate::ids::PetId;

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
