//! `/v1/invitations`: an invitee's side of joining a pet's family. An owner who adds an
//! address without an account gets a code to pass on; once the invitee has an account with
//! that address, they claim the invitation with it. The code, not the registration, proves
//! the owner meant them: nobody verifies that whoever registers an address owns it.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::http::authz::AuthUser;
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::ids::PetId;
use crate::store::{accounts, invitations};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(claim_invitation);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClaimInvitation {
    /// The `code` the owner's add answered.
    #[schema(max_length = 64)]
    pub code: String,
}

/// The pet the caller joined.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Joined {
    pub pet_id: PetId,
    pub role: String,
}

/// Claims an invitation addressed to the caller's email with its code: the caller is a
/// member of the pet from now on. An unknown or expired code, or one addressed to another
/// email, is 404, all alike.
#[utoipa::path(post, path = "/v1/invitations/claim", tag = "pets", request_body = ClaimInvitation,
    security(("bearer" = [])), responses(
    (status = 200, body = Joined), crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody,
    crate::http::error::doc::NotFound))]
#[post("/v1/invitations/claim")]
async fn claim_invitation(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    body: ApiJson<ClaimInvitation>,
) -> Result<HttpResponse, ApiError> {
    let user = accounts::user_by_id(&pg, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let code_hash = crate::auth::token_hash(body.code.trim());
    let (pet_id, role) = invitations::claim(&pg, user.id, &user.email, &code_hash)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(Joined { pet_id, role }))
}
