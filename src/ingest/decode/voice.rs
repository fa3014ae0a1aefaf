//! Voice clips: mono 16-bit PCM at 8, 16 or 22.05 kHz, 0.5 to 10 seconds, base64 in JSON.

use base64::Engine as _;

use super::fields::*;
use super::{Object, Reason, Rejection, VoiceClip, VOICE_CODEC, VOICE_RATES_HZ};

pub(super) fn voice(object: &Object, now_ms: i64) -> Result<VoiceClip, Rejection> {
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

pub(super) fn voice_rate(object: &Object) -> Result<u32, Rejection> {
    let rate = required("rate_hz", int(object, "rate_hz", 0..=u32::MAX)?)?;
    if !VOICE_RATES_HZ.contains(&rate) {
        let detail = "rate_hz must be 8000, 16000 or 22050";
        return Err(Rejection::new(Reason::OutOfRange, detail));
    }
    Ok(rate)
}

pub(super) fn audio(object: &Object) -> Result<Vec<u8>, Rejection> {
    let encoded = required("audio_b64", text(object, "audio_b64", 0..=usize::MAX)?)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Rejection::new(Reason::BadAudio, "audio_b64 must be standard base64"))
}

/// Duration of 16-bit mono PCM, which must last 0.5 to 10 seconds. Compared in whole
/// samples, so the edges are exact at every rate.
pub(super) fn clip_duration_ms(bytes: usize, rate_hz: u32) -> Result<u32, Rejection> {
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
