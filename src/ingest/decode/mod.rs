//! Pure decoding and validation of collar MQTT messages (collar protocol v1): topic + bytes
//! in, a validated message or a typed rejection out. No I/O and no clock: the caller passes
//! the receive time.
//!
//! Everything a collar sends is untrusted, so every rule of `collar-protocol.md` maps to one
//! [`Reason`], and the rejection's detail names the field and the rule it broke.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

pub use crate::domain::sample::{Activity, Fix, Sample};
use crate::ids::CollarSerial;

/// Largest single telemetry sample message.
pub const MAX_SAMPLE_BYTES: usize = 4 * 1024;
/// Largest telemetry batch message.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Most samples in one batch.
pub const MAX_BATCH_SAMPLES: usize = 500;
/// Largest voice clip message, base64 audio included (10 s at 22 050 Hz fits).
pub const MAX_VOICE_BYTES: usize = 640 * 1024;
/// Largest status or command-ack message. The protocol sets no limit; these messages are tens
/// of bytes, and 4 KiB leaves room for a 500-character error in any script.
pub const MAX_CONTROL_BYTES: usize = 4 * 1024;
/// How far past the receive time a sample's `ts` may be (collar clock drift).
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;
/// How far before the receive time a sample's `ts` may be (store-and-forward backlog).
pub const MAX_AGE_MS: i64 = 30 * 24 * 3600 * 1000;
/// Every `seq` is below this (2^53, so it survives a JavaScript number).
pub const MAX_SEQ: u64 = 1 << 53;

/// Voice sample rates a collar may use.
const VOICE_RATES_HZ: [u32; 3] = [8000, 16000, 22050];
const VOICE_CODEC: &str = "pcm_s16le";
const FW_CHARS: RangeInclusive<usize> = 0..=64;
const ACK_ID_CHARS: RangeInclusive<usize> = 1..=64;
/// A longer ack error is cut to this many characters, not rejected: it is only shown.
const ACK_ERROR_CHARS: usize = 500;

mod control;
mod fields;
mod rejection;
mod telemetry;
mod voice;

use self::control::{cmd_ack, status};
use self::fields::{missing, present};
pub use self::rejection::{Reason, Rejection};
use self::telemetry::telemetry;
use self::voice::voice;

type Object = Map<String, Value>;

/// What a collar publishes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Telemetry,
    Voice,
    Status,
    CmdAck,
}

/// A collar topic, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub serial: CollarSerial,
    pub channel: Channel,
}

/// Parses `{prefix}/collars/{serial}/telemetry|voice|status|cmd/ack`; anything else
/// (including `.../cmd`, which is ours) is a rejection with reason [`Reason::BadTopic`].
pub fn parse_topic(prefix: &str, topic: &str) -> Result<Topic, Rejection> {
    let prefix = prefix.trim_end_matches('/');
    let under_prefix = if prefix.is_empty() {
        Some(topic)
    } else {
        topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'))
    };
    let rest = under_prefix
        .and_then(|r| r.strip_prefix("collars/"))
        .ok_or_else(|| Rejection::new(Reason::BadTopic, "topic is not under {prefix}/collars/"))?;
    let (serial, tail) = rest
        .split_once('/')
        .ok_or_else(|| Rejection::new(Reason::BadTopic, "topic has no channel"))?;
    let channel = match tail {
        "telemetry" => Channel::Telemetry,
        "voice" => Channel::Voice,
        "status" => Channel::Status,
        "cmd/ack" => Channel::CmdAck,
        _ => {
            return Err(Rejection::new(
                Reason::BadTopic,
                "topic is no collar channel",
            ))
        }
    };
    let serial = CollarSerial::parse(serial)
        .map_err(|rule| Rejection::new(Reason::BadTopic, format!("serial {rule}")))?;
    Ok(Topic { serial, channel })
}

/// One validated voice clip (mono 16-bit little-endian PCM).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceClip {
    pub seq: u64,
    pub ts_ms: i64,
    pub rate_hz: u32,
    /// Decoded PCM bytes.
    pub pcm: Vec<u8>,
    pub duration_ms: u32,
}

/// A collar's online/offline announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub online: bool,
    pub fw: Option<String>,
}

/// A collar's answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub struct CmdAck {
    pub id: String,
    pub ok: bool,
    /// At most 500 characters.
    pub error: Option<String>,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// One entry per sample, in message order: a single sample gives one entry, a batch one
    /// per element. An invalid element of a batch is an `Err` with `index: Some(i)`; the valid
    /// ones are still `Ok`. An invalid single sample is an `Err` with `index: None`.
    Telemetry(Vec<Result<Sample, Rejection>>),
    Voice(VoiceClip),
    Status(Status),
    CmdAck(CmdAck),
}

/// Decodes and validates a payload. `now_ms` is the receive time (epoch ms) for the ts window
/// check. Whole-message problems (too large, not JSON, not an object, wrong `v`, batch size
/// out of 1..=500, `samples` not an array) are `Err`.
pub fn decode(channel: Channel, payload: &[u8], now_ms: i64) -> Result<Decoded, Rejection> {
    let limit = match channel {
        Channel::Telemetry => MAX_BATCH_BYTES,
        Channel::Voice => MAX_VOICE_BYTES,
        Channel::Status | Channel::CmdAck => MAX_CONTROL_BYTES,
    };
    check_size(payload.len(), limit)?;
    let object = parse_object(payload)?;
    check_version(&object)?;
    match channel {
        Channel::Telemetry => telemetry(&object, payload.len(), now_ms),
        Channel::Voice => voice(&object, now_ms).map(Decoded::Voice),
        Channel::Status => status(&object).map(Decoded::Status),
        Channel::CmdAck => cmd_ack(&object).map(Decoded::CmdAck),
    }
}

pub(super) fn check_size(len: usize, limit: usize) -> Result<(), Rejection> {
    if len > limit {
        let detail = format!("payload is {len} bytes; the limit is {limit}");
        return Err(Rejection::new(Reason::TooLarge, detail));
    }
    Ok(())
}

fn parse_object(payload: &[u8]) -> Result<Object, Rejection> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| Rejection::new(Reason::MalformedJson, "payload is not UTF-8"))?;
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Rejection::new(
            Reason::NotAnObject,
            "payload must be a JSON object",
        )),
        Err(e) => Err(Rejection::new(
            Reason::MalformedJson,
            format!("not JSON: {e}"),
        )),
    }
}

pub(super) fn check_version(object: &Object) -> Result<(), Rejection> {
    match present(object, "v") {
        None => Err(missing("v")),
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(_) => Err(Rejection::new(Reason::UnsupportedVersion, "v must be 1")),
    }
}

#[cfg(test)]
mod tests;
