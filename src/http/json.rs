//! `ApiJson<T>`: a JSON body extractor whose shape errors name the field at fault
//! (`species`, `geometry.radius_m`), which actix's `web::Json` cannot.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

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
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            serde_path_to_error::deserialize(value)
                .map(ApiJson)
                .map_err(|error| ApiError::Validation(vec![field_error(&error)]).into())
        })
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
