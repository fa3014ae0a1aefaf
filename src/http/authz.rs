//! Who is calling, and what they may do with a pet. Every pet route goes through
//! [`pet_access`]: a pet the caller has no relation to is `NotFound`, never `Forbidden`,
//! so nobody learns that another user's pet exists.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::auth::{constant_time_eq, JwtKeys};
use crate::http::error::ApiError;
use crate::ids::{PetId, UserId};
use crate::startup::AdminToken;

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

/// The caller's relation to a pet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PetRole {
    Owner,
    Family,
}

impl PetRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Family => "family",
        }
    }
}

/// What a route does to a pet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the pet, its members, live state, history and geofences.
    View,
    /// Create, change and delete geofences: family members keep a pet safe too.
    ManageGeofences,
    /// Send the collar a command (find me, lost mode, interval).
    Command,
    /// Create, list and revoke the pet's share links.
    Share,
    /// Change the pet's profile.
    Edit,
    /// Delete the pet, add or remove members, pair or unpair its collar.
    Administer,
}

impl PetRole {
    /// The rights table: the owner may do everything; family may look and manage fences.
    pub fn may(&self, action: Action) -> bool {
        match self {
            Self::Owner => true,
            Self::Family => matches!(
                action,
                Action::View | Action::ManageGeofences | Action::Command | Action::Share
            ),
        }
    }
}

/// The caller's role on the pet, if the caller may do `action`; `NotFound` when the caller
/// has no relation to the pet (or it does not exist), `Forbidden` when the role is too weak.
pub async fn pet_access(
    pg: &PgPool,
    user: UserId,
    pet: PetId,
    action: Action,
) -> Result<PetRole, ApiError> {
    let role = pet_role(pg, user, pet).await?.ok_or(ApiError::NotFound)?;
    if role.may(action) {
        Ok(role)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The caller's relation to the pet, if any.
pub async fn pet_role(
    pg: &PgPool,
    user: UserId,
    pet: PetId,
) -> Result<Option<PetRole>, sqlx::Error> {
    let role: Option<(String,)> = sqlx::query_as(
        "SELECT 'owner' FROM pets WHERE id = $1 AND owner_id = $2
         UNION ALL
         SELECT role FROM pet_members WHERE pet_id = $1 AND user_id = $2
         LIMIT 1",
    )
    .bind(pet)
    .bind(user)
    .fetch_optional(pg)
    .await?;
    Ok(role.map(|(role,)| {
        if role == "owner" {
            PetRole::Owner
        } else {
            PetRole::Family
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_may_view_and_manage_fences_but_not_administer() {
        assert!(PetRole::Family.may(Action::View));
        assert!(PetRole::Family.may(Action::ManageGeofences));
        assert!(!PetRole::Family.may(Action::Edit));
        assert!(!PetRole::Family.may(Action::Administer));
        assert!(PetRole::Owner.may(Action::Administer));
    }
}
