//! The live protocol's server → client messages, each serialised once into an [`OutFrame`].
//! Pure data, no actix, so it is tested on its own.

use serde::Serialize;
use uuid::Uuid;

use crate::actors::events::{Alert, AlertKind, LiveState};
use crate::actors::scope::{ShareView, SharedState};
use crate::ids::PetId;

/// A server → client message of the live protocol, serialised once per frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The first message of every session.
    Hello { session_id: Uuid, heartbeat_s: u64 },
    /// A pet's live state: whole for a user, cut to its scopes for a share link.
    State { pet_id: PetId, state: StateBody<'a> },
    /// A stored alert for a pet the viewer may see.
    Alert { pet_id: PetId, alert: AlertView<'a> },
    /// A refused or malformed client message; `code` is stable (`forbidden`, `bad_request`).
    Error { code: &'static str, message: String },
    /// The answer to the client's `ping`.
    Pong,
    /// The share link of the session was revoked or expired; the session closes.
    Revoked,
}

/// The `state` object of a `state` message.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StateBody<'a> {
    /// A user's view: the whole state.
    Full(&'a LiveState),
    /// A share link's view.
    Shared(SharedState),
}

/// The `state` frame of a pet, as `view` shows it (`None`: whole).
pub fn state_frame(pet_id: PetId, state: &LiveState, view: Option<&ShareView>) -> OutFrame {
    let state = match view {
        None => StateBody::Full(state),
        Some(view) => StateBody::Shared(view.state(state)),
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

impl ServerMessage<'_> {
    /// The message's `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::State { .. } => "state",
            Self::Alert { .. } => "alert",
            Self::Error { .. } => "error",
            Self::Pong => "pong",
            Self::Revoked => "revoked",
        }
    }

    /// The message as one text frame.
    pub fn frame(&self) -> OutFrame {
        // Plain structs, string keys and `serde_json::Value`s: serialising cannot fail.
        let text = serde_json::to_string(self).expect("live protocol messages serialise");
        OutFrame {
            kind: self.kind(),
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
}

/// A serialised text frame and its message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    /// The message's `type`, for metrics.
    pub kind: &'static str,
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
        let error = ServerMessage::Error {
            code: "bad_request",
            message: "no".into(),
        };
        assert_eq!(
            json(&error.frame()),
            serde_json::json!({ "type": "error", "code": "bad_request", "message": "no" })
        );
    }
}
