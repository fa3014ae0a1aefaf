//! Fuzz target for the collar decoder: `decode::decode` over every channel and
//! `decode::parse_topic`, with the protocol's invariants checked on whatever they accept.
//!
//! Input layout (seeds in `fuzz/seeds/decode/`, made by `fuzz/seeds/make_seeds.py`):
//!
//! ```text
//! byte 0        selector: bits 0-1 the channel (telemetry, voice, status, cmd ack),
//!               bits 2-3 the receive time (the seeds' time, 0, i64::MIN, i64::MAX)
//! up to '\n'    "{prefix} {topic}" for parse_topic (split at the first space)
//! the rest      the payload given to decode
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use pettysync::ingest::decode::{
    decode, parse_topic, Channel, Decoded, Reason, Rejection, Sample, MAX_AGE_MS, MAX_BATCH_BYTES,
    MAX_BATCH_SAMPLES, MAX_CONTROL_BYTES, MAX_FUTURE_SKEW_MS, MAX_SAMPLE_BYTES, MAX_SEQ,
    MAX_VOICE_BYTES,
};
use serde_json::Value;

/// A minute after the spec's example `ts` (as in the unit tests); the seeds' samples are in
/// its window.
const NOW: i64 = 1_764_151_560_000;
/// Longest rejection detail: a detail names a rule, it never echoes the input.
const MAX_DETAIL_CHARS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let channel = [
        Channel::Telemetry,
        Channel::Voice,
        Channel::Status,
        Channel::CmdAck,
    ][usize::from(selector & 3)];
    let now_ms = [NOW, 0, i64::MIN, i64::MAX][usize::from((selector >> 2) & 3)];
    let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    if let Ok(header) = std::str::from_utf8(header) {
        let (prefix, topic) = header.split_once(' ').unwrap_or(("", header));
        check_topic(prefix, topic);
    }
    let result = decode(channel, payload, now_ms);
    check_decoded(channel, payload, now_ms, &result);
});

fn channel_tail(channel: Channel) -> &'static str {
    match channel {
        Channel::Telemetry => "telemetry",
        Channel::Voice => "voice",
        Channel::Status => "status",
        Channel::CmdAck => "cmd/ack",
    }
}

fn check_topic(prefix: &str, topic: &str) {
    match parse_topic(prefix, topic) {
        Ok(parsed) => {
            let serial = parsed.serial.as_str();
            assert!((4..=64).contains(&serial.len()), "serial length {serial:?}");
            assert!(
                serial
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "serial characters {serial:?}"
            );
            // The accepted topic is exactly {prefix}/collars/{serial}/{channel}.
            let prefix = prefix.trim_end_matches('/');
            let tail = channel_tail(parsed.channel);
            let rebuilt = if prefix.is_empty() {
                format!("collars/{serial}/{tail}")
            } else {
                format!("{prefix}/collars/{serial}/{tail}")
            };
            assert_eq!(
                rebuilt, topic,
                "accepted topic is not {{prefix}}/collars/{{serial}}/{{channel}}"
            );
        }
        Err(rejection) => {
            assert_eq!(rejection.reason, Reason::BadTopic, "{rejection:?}");
            assert_eq!(rejection.index, None);
            check_detail(&rejection);
        }
    }
}

fn check_detail(rejection: &Rejection) {
    let chars = rejection.detail.chars().count();
    assert!(
        (1..=MAX_DETAIL_CHARS).contains(&chars),
        "detail of {chars} characters: {rejection:?}"
    );
}

fn limit(channel: Channel) -> usize {
    match channel {
        Channel::Telemetry => MAX_BATCH_BYTES,
        Channel::Voice => MAX_VOICE_BYTES,
        Channel::Status | Channel::CmdAck => MAX_CONTROL_BYTES,
    }
}

/// An independent reading of the payload: `Some(samples)` when it is a JSON object with
/// `v: 1` (`samples` is its non-null `samples` field, if any), `None` when decode must reject
/// it whole before looking at any field but `v`.
fn version_one_object(payload: &[u8]) -> Option<Option<Value>> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    if object.get("v").and_then(Value::as_u64) != Some(1) {
        return None;
    }
    Some(object.get("samples").filter(|s| !s.is_null()).cloned())
}

/// Whether the message is over its byte limit: the channel's, and for a single telemetry
/// sample (a valid v1 object without `samples`) the 4 KiB of one sample.
fn over_limit(channel: Channel, payload: &[u8]) -> bool {
    let len = payload.len();
    if len > limit(channel) {
        return true;
    }
    channel == Channel::Telemetry
        && len > MAX_SAMPLE_BYTES
        && matches!(version_one_object(payload), Some(None))
}

fn ts_window(now_ms: i64) -> std::ops::RangeInclusive<i64> {
    now_ms.saturating_sub(MAX_AGE_MS)..=now_ms.saturating_add(MAX_FUTURE_SKEW_MS)
}

fn check_decoded(
    channel: Channel,
    payload: &[u8],
    now_ms: i64,
    result: &Result<Decoded, Rejection>,
) {
    // `too_large` exactly when over the limit; and nothing over the limit gets past it.
    let too_large = matches!(result, Err(r) if r.reason == Reason::TooLarge);
    assert_eq!(
        too_large,
        over_limit(channel, payload),
        "{channel:?} payload of {} bytes: {result:?}",
        payload.len()
    );
    let window = ts_window(now_ms);
    match result {
        Err(rejection) => {
            assert_eq!(
                rejection.index, None,
                "a whole-message rejection has no index"
            );
            assert_ne!(rejection.reason, Reason::BadTopic);
            check_detail(rejection);
            // Whatever is not valid JSON is rejected as such, and only that.
            let json = serde_json::from_slice::<Value>(payload);
            if !too_large {
                assert_eq!(
                    rejection.reason == Reason::MalformedJson,
                    json.is_err(),
                    "{rejection:?}"
                );
                if let Ok(value) = json {
                    assert_eq!(rejection.reason == Reason::NotAnObject, !value.is_object());
                }
            }
        }
        Ok(decoded) => {
            assert!(payload.len() <= limit(channel));
            let samples = version_one_object(payload)
                .expect("an accepted message is a JSON object with v: 1");
            match (channel, decoded) {
                (Channel::Telemetry, Decoded::Telemetry(entries)) => {
                    match samples {
                        Some(Value::Array(elements)) => {
                            assert!((1..=MAX_BATCH_SAMPLES).contains(&elements.len()));
                            assert_eq!(entries.len(), elements.len(), "one entry per element");
                            for (i, entry) in entries.iter().enumerate() {
                                if let Err(rejection) = entry {
                                    assert_eq!(rejection.index, Some(i), "{rejection:?}");
                                }
                            }
                        }
                        Some(other) => panic!("accepted a batch whose samples is {other:?}"),
                        None => {
                            assert!(payload.len() <= MAX_SAMPLE_BYTES);
                            assert_eq!(entries.len(), 1, "a single sample gives one entry");
                            if let Err(rejection) = &entries[0] {
                                assert_eq!(rejection.index, None, "{rejection:?}");
                            }
                        }
                    }
                    assert!((1..=MAX_BATCH_SAMPLES).contains(&entries.len()));
                    for entry in entries {
                        match entry {
                            Ok(sample) => check_sample(sample, &window),
                            Err(rejection) => {
                                check_detail(rejection);
                                assert!(
                                    !matches!(
                                        rejection.reason,
                                        Reason::BadTopic
                                            | Reason::TooLarge
                                            | Reason::MalformedJson
                                            | Reason::BatchSize
                                            | Reason::BadAudio
                                    ),
                                    "not a sample's rejection: {rejection:?}"
                                );
                            }
                        }
                    }
                }
                (Channel::Voice, Decoded::Voice(clip)) => {
                    assert!(clip.seq < MAX_SEQ);
                    assert!(window.contains(&clip.ts_ms));
                    assert!([8000, 16000, 22050].contains(&clip.rate_hz));
                    assert_eq!(clip.pcm.len() % 2, 0, "whole 16-bit samples");
                    let frames = (clip.pcm.len() / 2) as u64;
                    let rate = u64::from(clip.rate_hz);
                    assert!(frames * 2 >= rate && frames <= rate * 10, "0.5 to 10 s");
                    assert_eq!(u64::from(clip.duration_ms), frames * 1000 / rate);
                    assert!((500..=10_000).contains(&clip.duration_ms));
                }
                (Channel::Status, Decoded::Status(status)) => {
                    if let Some(fw) = &status.fw {
                        assert!(fw.chars().count() <= 64);
                    }
                }
                (Channel::CmdAck, Decoded::CmdAck(ack)) => {
                    assert!((1..=64).contains(&ack.id.chars().count()));
                    if let Some(error) = &ack.error {
                        assert!(error.chars().count() <= 500);
                    }
                }
                (channel, decoded) => panic!("{channel:?} decoded as {decoded:?}"),
            }
        }
    }
}

/// Every accepted sample respects the protocol's ranges.
fn check_sample(sample: &Sample, window: &std::ops::RangeInclusive<i64>) {
    assert!(sample.seq < MAX_SEQ, "{sample:?}");
    assert!(window.contains(&sample.ts_ms), "{sample:?}");
    if let Some(fix) = sample.fix {
        assert!(
            fix.lat.is_finite() && (-90.0..=90.0).contains(&fix.lat),
            "{sample:?}"
        );
        assert!(
            fix.lon.is_finite() && (-180.0..=180.0).contains(&fix.lon),
            "{sample:?}"
        );
        if let Some(acc) = fix.acc {
            assert!(
                acc.is_finite() && (0.0..=10_000.0).contains(&acc),
                "{sample:?}"
            );
        }
    }
    if let Some(hr) = sample.hr {
        assert!((1..=400).contains(&hr), "{sample:?}");
    }
    if let Some(steps) = sample.steps {
        assert!(steps <= 100_000, "{sample:?}");
    }
    if let Some(bat) = sample.bat {
        assert!(bat <= 100, "{sample:?}");
    }
    if let Some(temp) = sample.temp {
        assert!(
            temp.is_finite() && (25.0..=45.0).contains(&temp),
            "{sample:?}"
        );
    }
}
