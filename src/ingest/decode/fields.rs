//! Reading one field of a message: present or absent, of the right type, within its range.
//! An explicit `null` counts as absent.

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde_json::Value;

use super::{Object, Reason, Rejection, MAX_AGE_MS, MAX_FUTURE_SKEW_MS, MAX_SEQ};

/// The field's value, with an explicit `null` taken as absent.
pub(super) fn present<'a>(object: &'a Object, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

pub(super) fn missing(key: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("{key} is required"))
}

pub(super) fn required<T>(key: &str, found: Option<T>) -> Result<T, Rejection> {
    found.ok_or_else(|| missing(key))
}

pub(super) fn seq(object: &Object) -> Result<u64, Rejection> {
    required("seq", int(object, "seq", 0..=MAX_SEQ - 1)?)
}

pub(super) fn timestamp(object: &Object, now_ms: i64) -> Result<i64, Rejection> {
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
pub(super) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|_| i64::MAX)),
        _ => None,
    }
}

/// An optional integer field within `range`.
pub(super) fn int<T>(
    object: &Object,
    key: &str,
    range: RangeInclusive<T>,
) -> Result<Option<T>, Rejection>
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
pub(super) fn number(
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

pub(super) fn boolean(object: &Object, key: &str) -> Result<Option<bool>, Rejection> {
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    let rule = || format!("{key} must be true or false");
    value
        .as_bool()
        .map(Some)
        .ok_or_else(|| Rejection::new(Reason::WrongType, rule()))
}

/// An optional string field whose length in characters is within `chars`, with no NUL
/// character (no store keeps one in text).
pub(super) fn text<'a>(
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
    if string.contains('\0') {
        let detail = format!("{key} must not contain a NUL character");
        return Err(Rejection::new(Reason::WrongType, detail));
    }
    Ok(Some(string))
}

/// An optional string field that is only shown, never matched: any length and content
/// (the caller cuts it and replaces what no store keeps).
pub(super) fn shown_text<'a>(object: &'a Object, key: &str) -> Result<Option<&'a str>, Rejection> {
    let Some(value) = present(object, key) else {
        return Ok(None);
    };
    value
        .as_str()
        .map(Some)
        .ok_or_else(|| Rejection::new(Reason::WrongType, format!("{key} must be a string")))
}
