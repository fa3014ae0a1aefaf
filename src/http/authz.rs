//! Who is calling, and what they may do with a pet. Every pet route goes through
//! [`pet_access`]: a pet the caller has no relation to is `NotFound`, never `Forbidden`,
//! so nobody learns that another user's pet exists.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::auth::{constant_time_eq, JwtKeys};
pub use crate::domain::access::{Action, PetRole};
use crate::http::error::ApiError;
use crate::ids::{PetId, UserId};
use crate::store::pets::role_of;

/// The admin bearer token; `None` turns the admin routes off.
#[derive(Clone)]
pub struct AdminToken(pub Option<secrecy::SecretString>);

/// A signed-in user, from a valid `Authorization: Bearer <access token>`.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: UserId,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = bearer(req).and_then(|token| {
            let keys = req.app_data::<web::Data<JwtKeys>>()?;
            keys.verify(token)
        });
        ready(
            user.map(|id| AuthUser { id: UserId(id) })
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// A caller holding the admin token. With no admin token configured, admin routes do not exist.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let configured = req
            .app_data::<web::Data<AdminToken>>()
            .and_then(|admin| admin.0.clone());
        let Some(expected) = configured else {
            return ready(Err(ApiError::NotFound));
        };
        let ok = bearer(req).is_some_and(|given| {
            constant_time_eq(given.as_bytes(), expected.expose_secret().as_bytes())
        });
        ready(if ok {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        })
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The caller's role on the pet, if the caller may do `action`; `NotFound` when the caller
/// has no relation to the pet (or it does not exist), `Forbidden` when the role is too weak.
pub async fn pet_access(
    pg: &PgPool,
    user: UserId,
    pet: PetId,
    action: Action,
) -> Result<PetRole, ApiError> {
    let role = role_of(pg, user, pet).await?.ok_or(ApiError::NotFound)?;
    if role.may(action) {
        Ok(role)
    } else {
        Err(ApiError::Forbidden)
    }
}
