//! Telemetry: one sample, or a batch of up to 500 of which the valid ones are kept.

use serde_json::Value;

use super::fields::*;
use super::{
    check_size, check_version, Decoded, Object, Reason, Rejection, MAX_BATCH_SAMPLES,
    MAX_SAMPLE_BYTES,
};
use crate::domain::sample::{Activity, Fix, Sample};

/// A message with `samples` is a batch; the 256 KiB limit was checked, a single sample's
/// 4 KiB limit is checked here because only the parsed message tells which it is.
pub(super) fn telemetry(object: &Object, len: usize, now_ms: i64) -> Result<Decoded, Rejection> {
    match present(object, "samples") {
        Some(samples) => batch(samples, now_ms),
        None => {
            check_size(len, MAX_SAMPLE_BYTES)?;
            Ok(Decoded::Telemetry(vec![sample(object, now_ms)]))
        }
    }
}

pub(super) fn batch(samples: &Value, now_ms: i64) -> Result<Decoded, Rejection> {
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
pub(super) fn batch_element(element: &Value, now_ms: i64) -> Result<Sample, Rejection> {
    let object = element
        .as_object()
        .ok_or_else(|| Rejection::new(Reason::NotAnObject, "a sample must be a JSON object"))?;
    if present(object, "v").is_some() {
        check_version(object)?;
    }
    sample(object, now_ms)
}

pub(super) fn sample(object: &Object, now_ms: i64) -> Result<Sample, Rejection> {
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

pub(super) fn fix(object: &Object) -> Result<Option<Fix>, Rejection> {
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

pub(super) fn activity(object: &Object) -> Result<Option<Activity>, Rejection> {
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
