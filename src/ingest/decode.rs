//! Pure decoding and validation of collar MQTT messages (collar protocol v1): topic + bytes
//! in, a validated message or a typed rejection out. No I/O and no clock: the caller passes
//! the receive time.
//!
//! Everything a collar sends is untrusted, so every rule of `collar-protocol.md` maps to one
//! [`Reason`], and the rejection's detail names the field and the rule it broke.

use std::fmt::Display;
use std::ops::RangeInclusive;

use base64::Engine as _;
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

/// Why a message or sample was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    /// The rule that was broken, naming the field; never echoes the collar's input.
    pub detail: String,
    /// Index in a batch, when the rejection is of one element.
    pub index: Option<usize>,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            index: None,
        }
    }

    /// The same rejection, of the batch element at `index`.
    pub fn at(self, index: usize) -> Self {
        Self {
            index: Some(index),
            ..self
        }
    }
}

/// The kind of a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    BadTopic,
    TooLarge,
    MalformedJson,
    NotAnObject,
    UnsupportedVersion,
    MissingField,
    WrongType,
    OutOfRange,
    TimestampOutOfWindow,
    BatchSize,
    PositionIncomplete,
    BadAudio,
}

impl Reason {
    /// Every reason, so metrics can be registered before the first rejection.
    pub const ALL: [Reason; 12] = [
        Reason::BadTopic,
        Reason::TooLarge,
        Reason::MalformedJson,
        Reason::NotAnObject,
        Reason::UnsupportedVersion,
        Reason::MissingField,
        Reason::WrongType,
        Reason::OutOfRange,
        Reason::TimestampOutOfWindow,
        Reason::BatchSize,
        Reason::PositionIncomplete,
        Reason::BadAudio,
    ];

    /// Stable snake_case label for metrics and the dead-letter store.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::BadTopic => "bad_topic",
            Reason::TooLarge => "too_large",
            Reason::MalformedJson => "malformed_json",
            Reason::NotAnObject => "not_an_object",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::OutOfRange => "out_of_range",
            Reason::TimestampOutOfWindow => "timestamp_out_of_window",
            Reason::BatchSize => "batch_size",
            Reason::PositionIncomplete => "position_incomplete",
            Reason::BadAudio => "bad_audio",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- whole messages ----

fn check_size(len: usize, limit: usize) -> Result<(), Rejection> {
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

fn check_version(object: &Object) -> Result<(), Rejection> {
    match present(object, "v") {
        None => Err(missing("v")),
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(_) => Err(Rejection::new(Reason::UnsupportedVersion, "v must be 1")),
    }
}

/// A message with `samples` is a batch; the 256 KiB limit was checked, a single sample's
/// 4 KiB limit is checked here because only the parsed message tells which it is.
fn telemetry(object: &Object, len: usize, now_ms: i64) -> Result<Decoded, Rejection> {
    match present(object, "samples") {
        Some(samples) => batch(samples, now_ms),
        None => {
            check_size(len, MAX_SAMPLE_BYTES)?;
            Ok(Decoded::Telemetry(vec![sample(object, now_ms)]))
        }
    }
}

fn batch(samples: &Value, now_ms: i64) -> Result<Decoded, Rejection> {
    let samples = samples
        .as_array()
        .ok_or_else(|| Rejection::new(Reason::WrongType, "samples must be an array"))?;
    if !(1..=MAX_BATCH_SAMPLES).contains(&samples.len()) {
        let detail = format!("samples must hold 1 to {MAX_BATCH_SAMPLES} samples");
        return Err(Rejection::new(Reason::BatchSize, detail));
    }
    let entries = samples.iter().enumerate();
    let entries = entries.map(|(i, element)| batch_element(element, now_ms).map_err(|r| r.at(i)));
    Ok(Decoded::Telemetry(entries.collect()))
}

/// Batch elements carry no `v` of their own; one that does must still say 1.
fn batch_element(element: &Value, now_ms: i64) -> Result<Sample, Rejection> {
    let object = element
        .as_object()
        .ok_or_else(|| Rejection::new(Reason::NotAnObject, "a sample must be a JSON object"))?;
    if present(object, "v").is_some() {
        check_version(object)?;
    }
    sample(object, now_ms)
}

fn sample(object: &Object, now_ms: i64) -> Result<Sample, Rejection> {
    Ok(Sample {
        seq: seq(object)?,
        ts_ms: timestamp(object, now_ms)?,
        fix: fix(object)?,
        hr: int(object, "hr", 1..=400)?,
        steps: int(object, "steps", 0..=100_000)?,
        act: activity(object)?,
        bat: int(object, "bat", 0..=100)?,
        temp: number(object, "temp", 25.0..=45.0)?,
    })
}

fn fix(object: &Object) -> Result<Option<Fix>, Rejection> {
    let lat = number(object, "lat", -90.0..=90.0)?;
    let lon = number(object, "lon", -180.0..=180.0)?;
    // Checked even without a fix (a wrong field makes the sample invalid), kept only with one.
    let acc = number(object, "acc", 0.0..=10_000.0)?;
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok(Some(Fix { lat, lon, acc })),
        (None, None) => Ok(None),
        _ => Err(Rejection::new(
            Reason::PositionIncomplete,
            "lat and lon must come together",
        )),
    }
}

fn activity(object: &Object) -> Result<Option<Activity>, Rejection> {
    let Some(value) = present(object, "act") else {
        return Ok(None);
    };
    let rule = "act must be one of sleep, rest, walk, run, play";
    let name = value
        .as_str()
        .ok_or_else(|| Rejection::new(Reason::WrongType, rule))?;
    let found = Activity::ALL.into_iter().find(|a| a.as_str() == name);
    found
        .map(Some)
        .ok_or_else(|| Rejection::new(Reason::OutOfRange, rule))
}

fn voice(object: &Object, now_ms: i64) -> Result<VoiceClip, Rejection> {
    let seq = seq(object)?;
    let ts_ms = timestamp(object, now_ms)?;
    let codec = required("codec", text(object, "codec", 0..=usize::MAX)?)?;
    if codec != VOICE_CODEC {
        let detail = format!("codec must be {VOICE_CODEC}");
        return Err(Rejection::new(Reason::OutOfRange, detail));
    }
    let rate_hz = voice_rate(object)?;
    let pcm = audio(object)?;
    let duration_ms = clip_duration_ms(pcm.len(), rate_hz)?;
    Ok(VoiceClip {
        seq,
        ts_ms,
        rate_hz,
        pcm,
        duration_ms,
    })
}

fn voice_rate(object: &Object) -> Result<u32, Rejection> {
    let rate = required("rate_hz", int(object, "rate_hz", 0..=u32::MAX)?)?;
    if !VOICE_RATES_HZ.contains(&rate) {
        let detail = "rate_hz must be 8000, 16000 or 22050";
        return Err(Rejection::new(Reason::OutOfRange, detail));
    }
    Ok(rate)
}

fn audio(object: &Object) -> Result<Vec<u8>, Rejection> {
    let encoded = required("audio_b64", text(object, "audio_b64", 0..=usize::MAX)?)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Rejection::new(Reason::BadAudio, "audio_b64 must be standard base64"))
}

/// Duration of 16-bit mono PCM, which must last 0.5 to 10 seconds. Compared in whole
/// samples, so the edges are exact at every rate.
fn clip_duration_ms(bytes: usize, rate_hz: u32) -> Result<u32, Rejection> {
    if bytes % 2 != 0 {
        let detail = "audio must be whole 16-bit samples (an even number of bytes)";
        return Err(Rejection::new(Reason::BadAudio, detail));
    }
    let frames = (bytes / 2) as u64;
    let rate = u64::from(rate_hz);
    if frames * 2 < rate || frames > rate * 10 {
        let detail = "audio must last 0.5 to 10 seconds";
        return Err(Rejection::new(Reason::BadAudio, detail));
    }
    // At most 10 000 ms: just checked.
    Ok((frames * 1000 / rate) as u32)
}

fn status(object: &Object) -> Result<Status, Rejection> {
    Ok(Status {
        online: required("online", boolean(object, "online")?)?,
        fw: text(object, "fw", FW_CHARS)?.map(str::to_owned),
    })
}

fn cmd_ack(object: &Object) -> Result<CmdAck, Rejection> {
    Ok(CmdAck {
        id: required("id", text(object, "id", ACK_ID_CHARS)?)?.to_owned(),
        ok: required("ok", boolean(object, "ok")?)?,
        error: text(object, "error", 0..=usize::MAX)?
            .map(|e| e.chars().take(ACK_ERROR_CHARS).collect()),
    })
}

// ---- fields ----

/// The field's value, with an explicit `null` taken as absent.
fn present<'a>(object: &'a Object, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn missing(key: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("{key} is required"))
}

fn required<T>(key: &str, found: Option<T>) -> Result<T, Rejection> {
    found.ok_or_else(|| missing(key))
}

fn seq(object: &Object) -> Result<u64, Rejection> {
    required("seq", int(object, "seq", 0..=MAX_SEQ - 1)?)
}

fn timestamp(object: &Object, now_ms: i64) -> Result<i64, Rejection> {
    let value = present(object, "ts").ok_or_else(|| missing("ts"))?;
    let ts = integer(value).ok_or_else(|| {
        Rejection::new(
            Reason::WrongType,
            "ts must be an integer (epoch milliseconds)",
        )
    })?;
    let window = now_ms.saturating_sub(MAX_AGE_MS)..=now_ms.saturating_add(MAX_FUTURE_SKEW_MS);
    if !window.contains(&ts) {
        let detail = "ts must be from 30 days before to 5 minutes after receipt";
        return Err(Rejection::new(Reason::TimestampOutOfWindow, detail));
    }
    Ok(ts)
}

/// The value as an integer, saturated to `i64::MAX` above it; `None` when it is not a JSON
/// integer (a float such as `96.5` or `1e3`, or no number at all).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|_| i64::MAX)),
        _ => None,
    }
}

/// An optional integer field within `range`.
fn int<T>(object: &Object, key: &str, range: RangeInclusive<T>) -> Result<Option<T>, Rejection>
where
    T: TryFrom<i64> + PartialOrd + Display,
{
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    let rule = || {
        format!(
            "{key} must be an integer from {} to {}",
            range.start(),
            range.end()
        )
    };
    let n = integer(value).ok_or_else(|| Rejection::new(Reason::WrongType, rule()))?;
    match T::try_from(n) {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(Rejection::new(Reason::OutOfRange, rule())),
    }
}

/// An optional number field (integer or float), finite and within `range`.
fn number(
    object: &Object,
    key: &str,
    range: RangeInclusive<f64>,
) -> Result<Option<f64>, Rejection> {
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    let rule = || {
        format!(
            "{key} must be a number from {} to {}",
            range.start(),
            range.end()
        )
    };
    let n = value
        .as_f64()
        .ok_or_else(|| Rejection::new(Reason::WrongType, rule()))?;
    if !n.is_finite() || !range.contains(&n) {
        return Err(Rejection::new(Reason::OutOfRange, rule()));
    }
    Ok(Some(n))
}

fn boolean(object: &Object, key: &str) -> Result<Option<bool>, Rejection> {
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    let rule = || format!("{key} must be true or false");
    value
        .as_bool()
        .map(Some)
        .ok_or_else(|| Rejection::new(Reason::WrongType, rule()))
}

/// An optional string field whose length in characters is within `chars`.
fn text<'a>(
    object: &'a Object,
    key: &str,
    chars: RangeInclusive<usize>,
) -> Result<Option<&'a str>, Rejection> {
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    let string = value
        .as_str()
        .ok_or_else(|| Rejection::new(Reason::WrongType, format!("{key} must be a string")))?;
    if !chars.contains(&string.chars().count()) {
        let (min, max) = (chars.start(), chars.end());
        let detail = format!("{key} must be a string of {min} to {max} characters");
        return Err(Rejection::new(Reason::OutOfRange, detail));
    }
    Ok(Some(string))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
