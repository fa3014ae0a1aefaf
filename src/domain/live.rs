//! A pet's live state: exactly the live protocol's `state` object.

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::mood::Mood;

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
    /// The mood of the pet's newest classified voice clip; absent until one is.
    // `default`: snapshots written before moods existed still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood: Option<MoodState>,
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

/// The live state's `mood`: the classification of the pet's newest voice clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoodState {
    /// `calm`, `happy`, `anxious`, `angry` or `sad`.
    #[schema(schema_with = mood_names)]
    pub mood: Mood,
    /// The model's probability of its answer, 0 to 1.
    pub confidence: f64,
    /// Epoch ms at which the collar recorded the clip.
    pub at: i64,
}

impl MoodState {
    /// Whether this mood, of a clip recorded at `at`, replaces `current`: a clip classified
    /// late (a backlog) does not hide the mood of a newer one.
    pub fn supersedes(&self, current: Option<&MoodState>) -> bool {
        current.is_none_or(|current| self.at >= current.at)
    }
}

/// The schema of a mood: one of the five wire names.
fn mood_names() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Mood::ALL.map(Mood::as_str)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mood(at: i64) -> MoodState {
        MoodState {
            mood: Mood::Calm,
            confidence: 0.74,
            at,
        }
    }

    #[test]
    fn a_state_shows_its_mood_as_the_live_protocol_does() {
        let state = LiveState {
            mood: Some(mood(1_764_151_400_000)),
            ..LiveState::default()
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(
            json["mood"],
            serde_json::json!({"mood": "calm", "confidence": 0.74, "at": 1_764_151_400_000_i64})
        );
        let without = serde_json::to_value(LiveState::default()).unwrap();
        assert!(without.get("mood").is_none(), "{without}");
    }

    #[test]
    fn a_state_without_mood_loads_with_none() {
        let old = r#"{"online":true,"last_seen":5,"live":false,"geofences":{"inside":[]}}"#;
        let state: LiveState = serde_json::from_str(old).unwrap();
        assert_eq!(state.mood, None);
        assert!(state.online);
    }

    #[test]
    fn an_older_clip_does_not_replace_a_newer_mood() {
        assert!(mood(5).supersedes(None));
        assert!(mood(5).supersedes(Some(&mood(5))));
        assert!(mood(6).supersedes(Some(&mood(5))));
        assert!(!mood(4).supersedes(Some(&mood(5))));
    }
}
