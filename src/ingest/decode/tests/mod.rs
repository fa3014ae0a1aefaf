use super::*;

mod control;
mod cost;
mod messages;
mod reasons;
mod robustness;
mod samples;
mod topics;
mod voice;
use base64::engine::general_purpose::STANDARD;
pub(super) use base64::Engine as _;
use serde_json::json;

/// A minute after the spec's example `ts`.
pub(super) const NOW: i64 = 1_764_151_560_000;
pub(super) const SPEC_SAMPLE: &str = r#"{"v":1,"seq":48213,"ts":1764151500000,"lat":13.756331,"lon":100.501762,"acc":6.5,
 "hr":96,"steps":41,"act":"walk","bat":83,"temp":38.6}"#;
pub(super) const PREFIX: &str = "pettysync/v1";

pub(super) fn telemetry(payload: &str) -> Result<Decoded, Rejection> {
    decode(Channel::Telemetry, payload.as_bytes(), NOW)
}

pub(super) fn entries(decoded: Result<Decoded, Rejection>) -> Vec<Result<Sample, Rejection>> {
    match decoded {
        Ok(Decoded::Telemetry(entries)) => entries,
        other => panic!("expected telemetry, got {other:?}"),
    }
}

/// The one entry of a single-sample message.
pub(super) fn single(payload: &str) -> Result<Sample, Rejection> {
    let mut entries = entries(telemetry(payload));
    assert_eq!(entries.len(), 1);
    entries.remove(0)
}

pub(super) fn minimal() -> Object {
    let sample = json!({"v": 1, "seq": 1, "ts": NOW});
    sample.as_object().expect("an object literal").clone()
}

/// A minimal valid sample with `key` set to `value`.
pub(super) fn with(key: &str, value: Value) -> Result<Sample, Rejection> {
    let mut sample = minimal();
    sample.insert(key.to_owned(), value);
    single(&Value::Object(sample).to_string())
}

/// A minimal valid sample without `key`.
pub(super) fn without(key: &str) -> Result<Sample, Rejection> {
    let mut sample = minimal();
    sample.remove(key);
    single(&Value::Object(sample).to_string())
}

/// `None` when the sample with `key` set to `value` is accepted, else the reason.
pub(super) fn outcome(key: &str, value: Value) -> Option<Reason> {
    with(key, value).err().map(|r| r.reason)
}

/// `object` serialised with an unknown `pad` field that makes it exactly `len` bytes.
pub(super) fn padded(object: Value, len: usize) -> String {
    let mut object = object.as_object().expect("an object").clone();
    object.insert("pad".to_owned(), json!(""));
    let base = Value::Object(object.clone()).to_string().len();
    object.insert("pad".to_owned(), json!("x".repeat(len - base)));
    let text = Value::Object(object).to_string();
    assert_eq!(text.len(), len);
    text
}

pub(super) fn element(seq: u64) -> Value {
    json!({"seq": seq, "ts": NOW, "hr": 90})
}

pub(super) fn batch_of(samples: Vec<Value>) -> String {
    json!({"v": 1, "samples": samples}).to_string()
}

pub(super) fn clip_message(rate_hz: u32, pcm_bytes: usize) -> Object {
    let audio = STANDARD.encode(vec![0u8; pcm_bytes]);
    let clip = json!({"v": 1, "seq": 77, "ts": NOW, "codec": "pcm_s16le",
        "rate_hz": rate_hz, "audio_b64": audio});
    clip.as_object().expect("an object literal").clone()
}

pub(super) fn decode_voice(clip: Object) -> Result<VoiceClip, Rejection> {
    let payload = Value::Object(clip).to_string();
    match decode(Channel::Voice, payload.as_bytes(), NOW)? {
        Decoded::Voice(clip) => Ok(clip),
        other => panic!("expected a voice clip, got {other:?}"),
    }
}

/// A valid one-second clip at 8 kHz with `key` set to `value`.
pub(super) fn voice_with(key: &str, value: Value) -> Result<VoiceClip, Rejection> {
    let mut clip = clip_message(8000, 16_000);
    clip.insert(key.to_owned(), value);
    decode_voice(clip)
}

pub(super) fn decode_status(payload: &str) -> Result<Status, Rejection> {
    match decode(Channel::Status, payload.as_bytes(), NOW)? {
        Decoded::Status(status) => Ok(status),
        other => panic!("expected a status, got {other:?}"),
    }
}

pub(super) fn decode_ack(payload: &str) -> Result<CmdAck, Rejection> {
    match decode(Channel::CmdAck, payload.as_bytes(), NOW)? {
        Decoded::CmdAck(ack) => Ok(ack),
        other => panic!("expected a command ack, got {other:?}"),
    }
}

pub(super) fn reason_of<T: std::fmt::Debug>(result: Result<T, Rejection>) -> Reason {
    result.expect_err("should be rejected").reason
}
