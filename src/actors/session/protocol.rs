//! The live protocol's client → server messages, and [`parse_client_frame`], the one pure
//! function that turns a text frame into one of them or into the `error` it deserves (also
//! the entry point of the fuzz target).

use serde::Deserialize;

/// Longest client text (a pet id) quoted back in an error message.
pub(super) const MAX_QUOTE_CHARS: usize = 64;
/// Longest parser complaint sent back; it may quote the client's text.
const MAX_COMPLAINT_CHARS: usize = 200;

/// A client → server message of the live protocol.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Watch these pets (ids as the client sent them; each is checked on its own).
    Subscribe { pet_ids: Vec<String> },
    /// Stop watching these pets.
    Unsubscribe { pet_ids: Vec<String> },
    /// A fresh access token of the session's user, to extend the session.
    Auth { access_token: AccessToken },
    /// Answered with `pong`.
    Ping,
}

/// An access token as a client sent it; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AccessToken(pub String);

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(…)")
    }
}

/// Why a text frame is not a client message; each becomes an `error` frame with code
/// `bad_request`, and the session stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON at all (valid JSON that is not a message object is `NotAMessage`).
    #[error("not a JSON object")]
    NotJson,
    /// A JSON object that is not a message of the protocol (unknown `type`, missing or
    /// mistyped field); the text says which, quoting at most a few of the client's words.
    #[error("{0}")]
    NotAMessage(String),
}

/// Parses one text frame of the live protocol. Pure and total: any input gives a message or
/// a [`FrameError`], never a panic.
pub fn parse_client_frame(text: &str) -> Result<ClientMessage, FrameError> {
    let refuse = |e: serde_json::Error| {
        if e.is_data() {
            FrameError::NotAMessage(quote(&e.to_string(), MAX_COMPLAINT_CHARS))
        } else {
            FrameError::NotJson
        }
    };
    // serde also takes an internally tagged enum from an array (`["ping"]`); a frame of the
    // protocol is an object.
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('[')
    {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => FrameError::NotAMessage("a frame must be a JSON object".to_owned()),
            Err(e) => refuse(e),
        });
    }
    serde_json::from_str::<ClientMessage>(text).map_err(refuse)
}

/// At most `max` characters of `text`, to quote it back.
pub(super) fn quote(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_of_the_protocol_parses() {
        assert_eq!(
            parse_client_frame(r#"{"type":"subscribe","pet_ids":["a","b"]}"#),
            Ok(ClientMessage::Subscribe {
                pet_ids: vec!["a".into(), "b".into()]
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"unsubscribe","pet_ids":[]}"#),
            Ok(ClientMessage::Unsubscribe { pet_ids: vec![] })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"auth","access_token":"t"}"#),
            Ok(ClientMessage::Auth {
                access_token: AccessToken("t".into())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn an_access_token_is_never_printed() {
        let message = parse_client_frame(r#"{"type":"auth","access_token":"secret"}"#);
        assert!(!format!("{message:?}").contains("secret"));
    }

    #[test]
    fn text_that_is_not_json_is_told_apart_from_json_that_is_no_message() {
        assert_eq!(parse_client_frame("{not json"), Err(FrameError::NotJson));
        assert_eq!(parse_client_frame(""), Err(FrameError::NotJson));
        for text in [
            r#"{"type":"dance"}"#,
            r#"{"type":"subscribe"}"#,
            r#"{"type":"subscribe","pet_ids":"x"}"#,
            r#"[1,2]"#,
        ] {
            assert!(
                matches!(parse_client_frame(text), Err(FrameError::NotAMessage(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn a_json_array_is_no_message_even_when_it_spells_one() {
        for text in [
            r#"["ping"]"#,
            r#" ["subscribe",["a"]]"#,
            r#"["auth","t"]"#,
            "[]",
        ] {
            assert!(
                matches!(parse_client_frame(text), Err(FrameError::NotAMessage(_))),
                "{text}"
            );
        }
        assert_eq!(parse_client_frame(r#"["ping""#), Err(FrameError::NotJson));
    }

    #[test]
    fn a_complaint_quotes_at_most_a_few_hundred_characters_of_the_client() {
        let long_type = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
        let Err(FrameError::NotAMessage(complaint)) = parse_client_frame(&long_type) else {
            panic!("an unknown type is no message");
        };
        assert!(complaint.chars().count() <= MAX_COMPLAINT_CHARS);
    }
}
