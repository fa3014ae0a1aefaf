//! Collars: provisioning (admin), pairing with the one-time code, unpairing.

use actix_web::{delete, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::actors::Actors;
use crate::cache::{FailureLimit, Redis};
use crate::http::authz::{pet_access, Action, Admin, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::ids::{CollarSerial, PetId};
use crate::store::collars::{self, PairError};
use crate::store::millis;

/// Wrong pairing attempts per user before pairing is refused for a while: the codes are
/// short enough to type, so guessing must be slow.
pub const PAIRING_LIMIT: FailureLimit = FailureLimit {
    namespace: "ratelimit:pairing:",
    max: 10,
    window_s: 15 * 60,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(provision).service(pair).service(unpair);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProvisionRequest {
    /// 4 to 64 characters of `A-Z a-z 0-9 - _`.
    #[schema(pattern = "^[A-Za-z0-9_-]{4,64}$")]
    pub serial: String,
}

/// A provisioned collar; the pairing code is shown only here.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Provisioned {
    pub serial: CollarSerial,
    pub pairing_code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PairRequest {
    pub serial: String,
    pub pairing_code: String,
}

/// A collar paired to a pet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PairingView {
    pub serial: String,
    pub pet_id: PetId,
    pub paired_at: i64,
    /// Seconds between the collar's reports when nobody watches live.
    pub interval_s: i32,
    /// The collar's new pairing code: the one just used no longer works. Shown only here,
    /// so the owner can hand the collar on.
    pub pairing_code: String,
}

/// Provisions a collar (admin token).
#[utoipa::path(post, path = "/v1/admin/collars", tag = "collars", request_body = ProvisionRequest, security(("admin" = [])),
    responses((status = 201, body = Provisioned), crate::http::error::doc::Admin, crate::http::error::doc::JsonBody,
        (status = 409, description = "`collar_exists`: this serial is provisioned already", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/collars")]
async fn provision(
    pg: web::Data<PgPool>,
    _admin: Admin,
    body: ApiJson<ProvisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let serial =
        CollarSerial::parse(&body.serial).map_err(|message| ApiError::field("serial", message))?;
    let pairing_code = collars::provision(&pg, &serial).await?.ok_or_else(|| {
        ApiError::conflict(
            "collar_exists",
            "a collar with this serial is provisioned already",
        )
    })?;
    tracing::info!(collar = %serial, "collar provisioned");
    Ok(HttpResponse::Created().json(Provisioned {
        serial,
        pairing_code,
    }))
}

/// Pairs a collar to the pet with the code from its box (owner only). The code is used up:
/// the answer carries the collar's next one.
#[utoipa::path(post, path = "/v1/pets/{id}/collar", tag = "collars", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), request_body = PairRequest, security(("bearer" = [])),
    responses((status = 200, body = PairingView), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound, crate::http::error::doc::RateLimited,
        (status = 409, description = "`collar_already_paired`: the collar wears another pet; `pet_has_collar`: the pet wears another collar", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`pairing_failed`: unknown serial or wrong code (indistinguishable)", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[post("/v1/pets/{id}/collar")]
async fn pair(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    redis: web::Data<Redis>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<PairRequest>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Administer).await?;
    let subject = caller.id.to_string();
    if let Some(retry_after_s) = PAIRING_LIMIT.blocked_for(&redis, &subject).await? {
        return Err(ApiError::RateLimited { retry_after_s });
    }
    match collars::pair(&pg, pet_id, &body.serial, &body.pairing_code).await? {
        Ok(paired) => {
            // The collar's actor is on the new pet before the answer goes out.
            actors.pairing_changed(pet_id).await;
            let pairing = paired.pairing;
            Ok(HttpResponse::Ok().json(PairingView {
                serial: pairing.serial,
                pet_id: pairing.pet_id,
                paired_at: millis(pairing.paired_at),
                interval_s: pairing.interval_s,
                pairing_code: paired.pairing_code,
            }))
        }
        Err(PairError::BadCredentials) => {
            PAIRING_LIMIT.record_failure(&redis, &subject).await?;
            Err(ApiError::PairingFailed)
        }
        Err(PairError::CollarTaken) => Err(ApiError::conflict(
            "collar_already_paired",
            "this collar is paired to another pet; unpair it there first",
        )),
        Err(PairError::PetHasCollar) => Err(ApiError::conflict(
            "pet_has_collar",
            "this pet wears another collar; unpair it first",
        )),
    }
}

/// Unpairs the pet's collar (owner only).
#[utoipa::path(delete, path = "/v1/pets/{id}/collar", tag = "collars", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::Forbidden,
        (status = 404, description = "`not_found`: no such pet, or it wears no collar", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[delete("/v1/pets/{id}/collar")]
async fn unpair(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<PetId>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Administer).await?;
    if !collars::unpair(&pg, pet_id).await? {
        return Err(ApiError::NotFound);
    }
    actors.pairing_changed(pet_id).await;
    Ok(HttpResponse::NoContent().finish())
}
