//! `/v1/invitations`: the invitations to pets' families addressed to the caller's email,
//! which the caller accepts (and becomes a family member) or declines. An invitation sent
//! before the address had an account is here once it registers.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::http::authz::AuthUser;
use crate::http::error::{ApiError, Problem};
use crate::http::members::MemberView;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::{accounts, invitations, millis};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_received).service(accept).service(decline);
}

/// The pet an invitation is for, as its invitee sees it before accepting.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitedPet {
    pub id: PetId,
    pub name: String,
    pub species: String,
}

/// Who sent an invitation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Inviter {
    pub id: UserId,
    pub display_name: String,
}

/// An invitation addressed to the caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReceivedInvitation {
    pub id: Uuid,
    pub pet: InvitedPet,
    pub role: String,
    pub invited_by: Inviter,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<invitations::ReceivedRow> for ReceivedInvitation {
    fn from(row: invitations::ReceivedRow) -> Self {
        let invitation = row.invitation;
        Self {
            id: invitation.id,
            pet: InvitedPet {
                id: invitation.pet_id,
                name: row.pet_name,
                species: row.pet_species,
            },
            role: invitation.role,
            invited_by: Inviter {
                id: invitation.invited_by,
                display_name: row.inviter_name,
            },
            created_at: millis(invitation.created_at),
            expires_at: millis(invitation.expires_at),
        }
    }
}

/// The caller's email; a valid token of a deleted account is as good as no token.
async fn email_of(pg: &PgPool, caller: AuthUser) -> Result<String, ApiError> {
    let user = accounts::user_by_id(pg, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(user.email)
}

/// The pending invitations addressed to the caller's email, oldest first.
#[utoipa::path(get, path = "/v1/invitations", tag = "pets", params(PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Paged<ReceivedInvitation>),
    (status = 401, body = Problem), (status = 422, body = Problem)))]
#[get("/v1/invitations")]
async fn list_received(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(query.into_inner())?;
    let email = email_of(&pg, caller).await?;
    let rows = invitations::for_email(&pg, &email, &page).await?;
    let paged = page.finish(rows, |row| (row.invitation.created_at, row.invitation.id));
    Ok(HttpResponse::Ok().json(paged.map(ReceivedInvitation::from)))
}

/// Accepts an invitation addressed to the caller: the caller becomes a member of the pet.
#[utoipa::path(post, path = "/v1/invitations/{id}/accept", tag = "pets",
    params(("id" = Uuid, Path, description = "the invitation")), security(("bearer" = [])),
    responses((status = 201, description = "a member now", body = MemberView),
    (status = 401, body = Problem),
    (status = 404, description = "no such pending invitation for the caller", body = Problem)))]
#[post("/v1/invitations/{id}/accept")]
async fn accept(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let email = email_of(&pg, caller).await?;
    let member = invitations::accept(&pg, path.into_inner(), caller.id, &email)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Created().json(MemberView::from(member)))
}

/// Declines an invitation addressed to the caller.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "pets",
    params(("id" = Uuid, Path, description = "the invitation")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
#[delete("/v1/invitations/{id}")]
async fn decline(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let email = email_of(&pg, caller).await?;
    if !invitations::decline(&pg, path.into_inner(), &email).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
