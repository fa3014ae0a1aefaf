//! Fuzz target for the live protocol's client frames: `parse_client_frame` never panics, what
//! it accepts is the JSON object it claims to be and re-serialises to a frame that parses back
//! to the same message, and what it refuses is refused with a short complaint.
//!
//! Input: the frame's text (non-UTF-8 input is skipped: a WebSocket text frame is UTF-8, and
//! actix-web refuses one that is not before it reaches the parser). Seeds in
//! `fuzz/seeds/client_frame/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pettysync::actors::session::{parse_client_frame, ClientMessage, FrameError};
use serde_json::{json, Value};

/// The parser quotes at most this many characters of its complaint back to the client.
const MAX_COMPLAINT_CHARS: usize = 200;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_frame(text) {
        Ok(message) => {
            check_matches_json(text, &message);
            // Re-serialised, it is a frame of the protocol that parses back to itself.
            let frame = serialise(&message);
            assert_eq!(
                parse_client_frame(&frame).as_ref(),
                Ok(&message),
                "{frame} does not parse back"
            );
        }
        Err(FrameError::NotJson) => {
            assert!(
                serde_json::from_str::<Value>(text).is_err(),
                "valid JSON called not JSON"
            );
        }
        Err(FrameError::NotAMessage(complaint)) => {
            let chars = complaint.chars().count();
            assert!(
                (1..=MAX_COMPLAINT_CHARS).contains(&chars),
                "complaint of {chars} characters"
            );
        }
    }
});

/// The message as a client would send it.
fn serialise(message: &ClientMessage) -> String {
    let value = match message {
        ClientMessage::Subscribe { pet_ids } => json!({"type": "subscribe", "pet_ids": pet_ids}),
        ClientMessage::Unsubscribe { pet_ids } => {
            json!({"type": "unsubscribe", "pet_ids": pet_ids})
        }
        ClientMessage::Auth { access_token } => {
            json!({"type": "auth", "access_token": access_token.0})
        }
        ClientMessage::Ping => json!({"type": "ping"}),
    };
    value.to_string()
}

/// An accepted frame is a JSON object whose `type` and fields are the message's.
fn check_matches_json(text: &str, message: &ClientMessage) {
    let value: Value = serde_json::from_str(text).expect("an accepted frame is valid JSON");
    let object = value
        .as_object()
        .expect("an accepted frame is a JSON object");
    let kind = object.get("type").and_then(Value::as_str);
    let strings = |key: &str| -> Vec<String> {
        let array = object[key].as_array().expect("pet_ids is an array");
        let ids = array
            .iter()
            .map(|id| id.as_str().expect("a pet id is a string"));
        ids.map(str::to_owned).collect()
    };
    match message {
        ClientMessage::Subscribe { pet_ids } => {
            assert_eq!(kind, Some("subscribe"));
            assert_eq!(&strings("pet_ids"), pet_ids);
        }
        ClientMessage::Unsubscribe { pet_ids } => {
            assert_eq!(kind, Some("unsubscribe"));
            assert_eq!(&strings("pet_ids"), pet_ids);
        }
        ClientMessage::Auth { access_token } => {
            assert_eq!(kind, Some("auth"));
            assert_eq!(
                object["access_token"].as_str(),
                Some(access_token.0.as_str())
            );
        }
        ClientMessage::Ping => assert_eq!(kind, Some("ping")),
    }
}
