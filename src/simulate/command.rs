//! Commands from the server and their acknowledgements: pure, so they are tested without a
//! broker. [`Control`] is what a command may change on a collar.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const LOST_MODE_INTERVAL_S: u64 = 10;
const INTERVAL_RANGE_S: RangeInclusive<u64> = 2..=3600;

/// A command from the server; unknown fields are ignored, as the protocol says.
#[derive(Deserialize)]
struct Command {
    v: u64,
    id: String,
    cmd: String,
    interval_s: Option<serde_json::Number>,
    on: Option<bool>,
}

/// The answer on `…/cmd/ack`.
#[derive(Debug, Serialize)]
pub(super) struct Ack {
    v: u8,
    pub(super) id: String,
    pub(super) ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// What the server may change on a collar.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Control {
    pub(super) interval_s: u64,
    pub(super) lost_mode: bool,
}

impl Control {
    /// Time between samples: lost mode reports at least every 10 s, live mode still faster.
    pub(super) fn interval(&self) -> Duration {
        let seconds = if self.lost_mode {
            self.interval_s.min(LOST_MODE_INTERVAL_S)
        } else {
            self.interval_s
        };
        Duration::from_secs(seconds)
    }

    /// Carries out a command; `None` for a payload that is not a command (ignored unanswered).
    pub(super) fn apply(&mut self, payload: &[u8]) -> Option<Ack> {
        let command: Command = serde_json::from_slice(payload).ok()?;
        let result = self.execute(&command);
        Some(Ack {
            v: 1,
            id: command.id,
            ok: result.is_ok(),
            error: result.err(),
        })
    }

    fn execute(&mut self, command: &Command) -> Result<(), &'static str> {
        if command.v != 1 {
            return Err("unsupported protocol version");
        }
        match command.cmd.as_str() {
            "set_interval" => {
                let seconds = command.interval_s.as_ref().ok_or("interval_s missing")?;
                match seconds.as_u64() {
                    Some(s) if INTERVAL_RANGE_S.contains(&s) => self.interval_s = s,
                    _ => return Err("interval_s out of range"),
                }
            }
            "find_me" => {}
            "lost_mode" => self.lost_mode = command.on.ok_or("on missing")?,
            _ => return Err("unknown command"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::wire::json;

    fn control() -> Control {
        Control {
            interval_s: 300,
            lost_mode: false,
        }
    }

    #[test]
    fn set_interval_changes_the_interval_and_acks_ok() {
        let mut control = control();
        let ack = control
            .apply(br#"{"v":1,"id":"a1","cmd":"set_interval","interval_s":3}"#)
            .unwrap();
        assert!(ack.ok);
        assert_eq!(control.interval(), Duration::from_secs(3));
        assert_eq!(
            String::from_utf8(json(&ack)).unwrap(),
            r#"{"v":1,"id":"a1","ok":true}"#
        );
    }

    #[test]
    fn an_interval_out_of_range_is_refused() {
        for bad in ["1", "3601", "-5", "2.5"] {
            let mut control = control();
            let payload = format!(r#"{{"v":1,"id":"x","cmd":"set_interval","interval_s":{bad}}}"#);
            let ack = control.apply(payload.as_bytes()).unwrap();
            assert_eq!(
                String::from_utf8(json(&ack)).unwrap(),
                r#"{"v":1,"id":"x","ok":false,"error":"interval_s out of range"}"#
            );
            assert_eq!(control, self::control());
        }
    }

    #[test]
    fn lost_mode_reports_every_ten_seconds_until_off() {
        let mut control = control();
        assert!(
            control
                .apply(br#"{"v":1,"id":"l","cmd":"lost_mode","on":true}"#)
                .unwrap()
                .ok
        );
        assert_eq!(control.interval(), Duration::from_secs(10));
        assert!(
            control
                .apply(br#"{"v":1,"id":"l","cmd":"lost_mode","on":false}"#)
                .unwrap()
                .ok
        );
        assert_eq!(control.interval(), Duration::from_secs(300));
    }

    #[test]
    fn find_me_is_acked_and_unknown_commands_are_refused() {
        let mut control = control();
        assert!(
            control
                .apply(br#"{"v":1,"id":"f","cmd":"find_me","extra":1}"#)
                .unwrap()
                .ok
        );
        let ack = control
            .apply(br#"{"v":1,"id":"u","cmd":"self_destruct"}"#)
            .unwrap();
        assert_eq!((ack.ok, ack.error), (false, Some("unknown command")));
    }

    #[test]
    fn malformed_commands_are_ignored() {
        let mut control = control();
        for payload in [
            &b"not json"[..],
            br#"{"v":1,"cmd":"find_me"}"#,
            br#"[1,2]"#,
            b"",
        ] {
            assert!(control.apply(payload).is_none());
        }
        assert_eq!(control, self::control());
    }
}
