//! `ApiJson<T>`: a JSON body extractor whose shape errors name the field at fault
//! (`species`, `geometry.radius_m`), which actix's `web::Json` cannot. It also refuses what
//! serde would let through but the API does not take: a body that is not a JSON object
//! (serde reads a struct from an array too) and a string holding U+0000 (PostgreSQL text
//! cannot store it, so it would fail as a 500); and it reads an integral number written with a
//! fraction (`60.0`) as the integer it is, as JSON Schema does.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

use crate::http::error::ApiError;
use crate::validation::FieldError;

/// A request body parsed as `T`. Size and syntax are checked by `web::Json` (its
/// `JsonConfig` gives 413 and 400); the shape is checked here, with the field's path.
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = value.await?.into_inner();
            if !value.is_object() {
                let error = FieldError::new("body", "must be a JSON object");
                return Err(ApiError::Validation(vec![error]).into());
            }
            normalize(&mut value, &mut String::new())
                .map_err(|error| ApiError::Validation(vec![error]))?;
            serde_path_to_error::deserialize(value)
                .map(ApiJson)
                .map_err(|error| ApiError::Validation(vec![field_error(&error)]).into())
        })
    }
}

/// Refuses strings with U+0000 (naming the field as serde_path_to_error would: `a.b[2]`) and
/// turns integral floats into integers.
fn normalize(value: &mut Value, path: &mut String) -> Result<(), FieldError> {
    match value {
        Value::String(text) if text.contains('\0') => Err(null_character(path)),
        Value::Number(number) if number.is_f64() => {
            if let Some(integer) = number.as_f64().and_then(integral) {
                *number = integer;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().enumerate().try_for_each(|(index, item)| {
            within(path, &format!("[{index}]"), |path| normalize(item, path))
        }),
        Value::Object(fields) => fields.iter_mut().try_for_each(|(name, field)| {
            if name.contains('\0') {
                return Err(null_character(path));
            }
            let segment = if path.is_empty() {
                name.clone()
            } else {
                format!(".{name}")
            };
            within(path, &segment, |path| normalize(field, path))
        }),
        _ => Ok(()),
    }
}

/// Runs `f` with `segment` appended to the path, then takes it off again.
fn within<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let length = path.len();
    path.push_str(segment);
    let result = f(path);
    path.truncate(length);
    result
}

fn null_character(path: &str) -> FieldError {
    let field = if path.is_empty() { "body" } else { path };
    FieldError::new(field, "must not contain the character U+0000")
}

/// The integer a float without a fraction stands for, if it fits an `i64` or a `u64`.
fn integral(value: f64) -> Option<Number> {
    if value.fract() != 0.0 || !value.is_finite() {
        return None;
    }
    // The casts are exact: the value is integral and within the checked range.
    if (i64::MIN as f64..i64::MAX as f64).contains(&value) {
        Some(Number::from(value as i64))
    } else if (0.0..u64::MAX as f64).contains(&value) {
        Some(Number::from(value as u64))
    } else {
        None
    }
}

fn field_error(error: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let inner = error.inner().to_string();
    // A missing field is reported by serde at its parent; name the field itself.
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let parent = error.path().to_string();
    let field = match (missing, parent.as_str()) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, ".") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    FieldError::new(field, inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(mut value: Value) -> Result<Value, FieldError> {
        normalize(&mut value, &mut String::new()).map(|()| value)
    }

    #[test]
    fn an_integral_float_is_read_as_an_integer() {
        let value = normalized(json!({"interval_s": 60.0, "weight_kg": 4.5, "n": [-2.0]}));
        assert_eq!(
            value.unwrap(),
            json!({"interval_s": 60, "weight_kg": 4.5, "n": [-2]})
        );
    }

    #[test]
    fn a_large_integer_stays_exact() {
        let value = normalized(json!({"size_bytes": 9_007_199_254_740_993_i64}));
        assert_eq!(
            value.unwrap(),
            json!({"size_bytes": 9_007_199_254_740_993_i64})
        );
    }

    #[test]
    fn a_null_character_is_refused_with_its_field() {
        let error = normalized(json!({"media": {"tags": ["a", "b\u{0}c"]}})).unwrap_err();
        assert_eq!(
            error,
            FieldError::new("media.tags[1]", "must not contain the character U+0000")
        );
    }
}
