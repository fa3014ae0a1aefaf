//! The live protocol's server → client messages, each serialised once into an [`OutFrame`].
//! Pure data, no actix, so it is tested on its own.

use serde::Serialize;
use uuid::Uuid;

use crate::actors::events::{Alert, AlertKind, LiveState, MoodRecorded};
use crate::actors::scope::{ShareView, SharedState};
use crate::ids::PetId;

/// A server → client message of the live protocol, serialised once per frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The first message of every session, and the answer to an accepted `auth`.
    Hello {
        session_id: Uuid,
        heartbeat_s: u64,
        /// Epoch ms at which the session's credentials (access token or share link) expire.
        expires_at: i64,
    },
    /// A pet's live state: whole for a user, cut to its scopes for a share link.
    State { pet_id: PetId, state: StateBody<'a> },
    /// A stored alert for a pet the viewer may see.
    Alert { pet_id: PetId, alert: AlertView<'a> },
    /// A new mood of a pet the viewer watches.
    Mood { pet_id: PetId, mood: MoodView<'a> },
    /// A refused or malformed client message; `code` is stable (`forbidden`, `bad_request`,
    /// `unauthorized`, `wrong_user`, `rate_limited`, `too_many_pets`, `internal_error`).
    Error {
        code: &'static str,
        message: String,
        /// For `rate_limited`: seconds until the next such message is taken.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
    },
    /// The answer to the client's `ping`.
    Pong,
    /// Without `pet_id`: the session's credentials (share link, access token, sign-in) were
    /// revoked or expired, and it closes. With `pet_id`: the viewer lost that pet.
    Revoked {
        #[serde(skip_serializing_if = "Option::is_none")]
        pet_id: Option<PetId>,
    },
}

/// The `state` object of a `state` message.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StateBody<'a> {
    /// A user's view: the whole state.
    Full(&'a LiveState),
    /// A share link's view.
    Shared(Box<SharedState>),
}

/// The `state` frame of a pet, as `view` shows it (`None`: whole).
pub fn state_frame(pet_id: PetId, state: &LiveState, view: Option<&ShareView>) -> OutFrame {
    let state = match view {
        None => StateBody::Full(state),
        Some(view) => StateBody::Shared(Box::new(view.state(state))),
    };
    ServerMessage::State { pet_id, state }.frame()
}

/// The protocol's `alert` object: an alert without its pet (already in the message) and
/// without its acknowledgement.
#[derive(Debug, Serialize)]
pub struct AlertView<'a> {
    pub id: Uuid,
    pub kind: AlertKind,
    pub at: i64,
    pub details: &'a serde_json::Value,
}

/// The protocol's `mood` object: the stored mood's id, the mood, its confidence and the
/// clip's time.
#[derive(Debug, Serialize)]
pub struct MoodView<'a> {
    pub id: Uuid,
    pub mood: &'a str,
    pub confidence: f64,
    pub at: i64,
}

impl ServerMessage<'_> {
    /// The message's `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::State { .. } => "state",
            Self::Alert { .. } => "alert",
            Self::Mood { .. } => "mood",
            Self::Error { .. } => "error",
            Self::Pong => "pong",
            Self::Revoked { .. } => "revoked",
        }
    }

    /// The pet whose data the message shows, if any: such frames go when the pet is lost.
    fn about(&self) -> Option<PetId> {
        match self {
            Self::State { pet_id, .. } | Self::Alert { pet_id, .. } | Self::Mood { pet_id, .. } => {
                Some(*pet_id)
            }
            _ => None,
        }
    }

    /// An `error` message without a retry hint.
    pub fn error(code: &'static str, message: String) -> Self {
        Self::Error {
            code,
            message,
            retry_after_s: None,
        }
    }

    /// The message as one text frame.
    pub fn frame(&self) -> OutFrame {
        // Plain structs, string keys and `serde_json::Value`s: serialising cannot fail.
        let text = serde_json::to_string(self).expect("live protocol messages serialise");
        OutFrame {
            kind: self.kind(),
            about: self.about(),
            text,
        }
    }

    /// The `alert` message for a stored alert.
    pub fn alert(alert: &Alert) -> ServerMessage<'_> {
        ServerMessage::Alert {
            pet_id: alert.pet_id,
            alert: AlertView {
                id: alert.id,
                kind: alert.kind,
                at: alert.at,
                details: &alert.details,
            },
        }
    }

    /// The `mood` message for a stored mood.
    pub fn mood(recorded: &MoodRecorded) -> ServerMessage<'_> {
        ServerMessage::Mood {
            pet_id: recorded.pet_id,
            mood: MoodView {
                id: recorded.id,
                mood: recorded.mood.mood.as_str(),
                confidence: recorded.mood.confidence,
                at: recorded.mood.at,
            },
        }
    }
}

/// A serialised text frame and its message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    /// The message's `type`, for metrics.
    pub kind: &'static str,
    /// The pet whose state, alert or mood it shows.
    pub about: Option<PetId>,
    /// The JSON text.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(frame: &OutFrame) -> serde_json::Value {
        serde_json::from_str(&frame.text).unwrap()
    }

    #[test]
    fn messages_match_the_live_protocol() {
        let pong = json(&ServerMessage::Pong.frame());
        assert_eq!(pong, serde_json::json!({ "type": "pong" }));
        let error = ServerMessage::error("bad_request", "no".into());
        assert_eq!(
            json(&error.frame()),
            serde_json::json!({ "type": "error", "code": "bad_request", "message": "no" })
        );
        let revoked = ServerMessage::Revoked { pet_id: None };
        assert_eq!(
            json(&revoked.frame()),
            serde_json::json!({ "type": "revoked" })
        );
        let pet_id = PetId::new();
        let lost = ServerMessage::Revoked {
            pet_id: Some(pet_id),
        };
        assert_eq!(
            json(&lost.frame()),
            serde_json::json!({ "type": "revoked", "pet_id": pet_id.to_string() })
        );
        assert_eq!(
            lost.frame().about,
            None,
            "the notice itself is not the pet's data"
        );
    }

    #[test]
    fn a_mood_message_matches_the_live_protocol() {
        let recorded = MoodRecorded {
            id: Uuid::new_v4(),
            pet_id: PetId::new(),
            mood: crate::actors::events::MoodState {
                mood: crate::mood::Mood::Anxious,
                confidence: 0.81,
                at: 1_764_151_500_000,
            },
        };
        let frame = ServerMessage::mood(&recorded).frame();
        assert_eq!(frame.kind, "mood");
        assert_eq!(frame.about, Some(recorded.pet_id));
        assert_eq!(
            json(&frame),
            serde_json::json!({"type": "mood", "pet_id": recorded.pet_id.to_string(),
                "mood": {"id": recorded.id.to_string(), "mood": "anxious",
                         "confidence": 0.81, "at": 1_764_151_500_000_i64}})
        );
    }
}
