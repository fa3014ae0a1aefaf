//! `/v1/pets/{id}/members`: a pet's family, as its owner manages it.
//!
//! Adding a member by email answers the same whether or not an account has that address
//! (nothing tells an owner, or anyone who creates a pet to probe, which emails have
//! accounts). An address with an account joins at once, as the HTTP contract has it; one
//! without is claimed, once it has an account, with the code the add answered
//! (`POST /v1/invitations/claim`, see `http::invitations`): registering an address proves
//! nothing, so the owner passes the code on. The invitation waits `INVITATION_TTL_DAYS`, and
//! the owner may withdraw it with the id the add answered. Removing a member (or a member
//! leaving) ends their access at once: the share links they made of the pet are revoked,
//! and their live sessions lose the pet.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::hub::{PetAccessLost, RevokeShare};
use crate::actors::Actors;
use crate::http::accounts::is_plausible_email;
use crate::http::authz::{pet_access, Action, AuthUser, PetRole};
use crate::http::error::{ApiError, Problem};
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::{accounts, invitations, millis, pets, share};

/// Days an invitation waits for its invitee.
pub const INVITATION_TTL_DAYS: i64 = 14;
/// Pending invitations one pet may have at once; past it, 409 `too_many_invitations`.
pub const MAX_PENDING_INVITATIONS: i64 = 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(add_member)
        .service(list_members)
        .service(remove_member)
        .service(withdraw_invitation);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddMember {
    /// Any email address but the owner's: an account with it joins at once; an address
    /// without one claims the invitation with its code once it has an account.
    #[schema(max_length = 254)]
    pub email: String,
    /// `family`.
    #[schema(schema_with = member_role)]
    pub role: String,
}

fn member_role() -> utoipa::openapi::schema::Object {
    crate::http::docs::one_of(&["family"])
}

/// A family member of a pet.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub pet_id: PetId,
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: i64,
}

impl From<pets::MemberRow> for MemberView {
    fn from(row: pets::MemberRow) -> Self {
        Self {
            pet_id: row.pet_id,
            user_id: row.user_id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            created_at: millis(row.created_at),
        }
    }
}

/// The answer to an add: the same shape for every address (no user id, no name).
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub pet_id: PetId,
    /// The address as the owner typed it.
    pub email: String,
    pub role: String,
    pub created_at: i64,
    /// Until then an account with the address may claim the invitation with `code`.
    pub expires_at: i64,
    /// Shown once, in the answer to the add: the owner passes it to the invitee, who claims
    /// the invitation with it (`POST /v1/invitations/claim`) once they have an account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl From<invitations::InvitationRow> for InvitationView {
    fn from(row: invitations::InvitationRow) -> Self {
        Self {
            id: row.id,
            pet_id: row.pet_id,
            email: row.email,
            role: row.role,
            created_at: millis(row.created_at),
            expires_at: millis(row.expires_at),
            code: None,
        }
    }
}

/// A checked add request.
struct Invitee {
    email: String,
    role: String,
}

impl TryFrom<AddMember> for Invitee {
    type Error = ApiError;

    fn try_from(body: AddMember) -> Result<Self, ApiError> {
        let email = body.email.trim().to_owned();
        let mut v = crate::validation::Violations::new();
        v.check(
            is_plausible_email(&email),
            "email",
            "must be an email address",
        );
        v.check(body.role == "family", "role", "must be family");
        v.finish()?;
        Ok(Self {
            email,
            role: body.role,
        })
    }
}

/// Adds an email address to the pet's family (owner only). The answer is the same whether
/// or not an account has that address: an account with it is a member at once; an address
/// without one becomes a member when an account with it claims the invitation with the
/// answer's `code`. Adding an address again renews it with a new code.
#[utoipa::path(post, path = "/v1/pets/{id}/members", tag = "pets", request_body = AddMember,
    params(("id" = uuid::Uuid, Path, description = "The pet's id.")), security(("bearer" = [])), responses(
    (status = 201, description = "added (the same answer for any address)", body = InvitationView),
    crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound,
    (status = 409, description = "`already_member`, or `too_many_invitations` pending", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`validation_failed`: not an email address, a role other than `family`, or the owner's own address", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/pets/{id}/members")]
async fn add_member(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Administer).await?;
    let invitee = Invitee::try_from(body.into_inner())?;
    // The same queries for every address, known or not: the timing tells nothing either.
    let owner = accounts::user_by_id(&pg, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if owner.email.eq_ignore_ascii_case(&invitee.email) {
        return Err(ApiError::field(
            "email",
            "the owner cannot also be a member",
        ));
    }
    if invitations::is_member_email(&pg, pet_id, &invitee.email).await? {
        return Err(ApiError::conflict(
            "already_member",
            "this address is a member already",
        ));
    }
    if invitations::pending_count_besides(&pg, pet_id, &invitee.email).await?
        >= MAX_PENDING_INVITATIONS
    {
        return Err(ApiError::conflict(
            "too_many_invitations",
            "the pet has as many pending invitations as allowed; withdraw one first",
        ));
    }
    let new = invitations::NewInvitation {
        pet_id,
        email: &invitee.email,
        role: &invitee.role,
        invited_by: caller.id,
        expires_at: Utc::now() + Duration::days(INVITATION_TTL_DAYS),
    };
    let code = crate::auth::random_token();
    let invitation = invitations::invite(&pg, &new, &crate::auth::token_hash(&code)).await?;
    if let Some(account) = accounts::user_by_email(&pg, &invitee.email).await? {
        invitations::join_now(&pg, pet_id, account.id, &account.email).await?;
    }
    let view = InvitationView {
        code: Some(code),
        ..InvitationView::from(invitation)
    };
    Ok(HttpResponse::Created().json(view))
}

/// The pet's family members.
#[utoipa::path(get, path = "/v1/pets/{id}/members", tag = "pets", params(
    ("id" = uuid::Uuid, Path, description = "The pet's id."), PageQuery), security(("bearer" = [])), responses(
    (status = 200, body = Paged<MemberView>), crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/members")]
async fn list_members(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::View).await?;
    let page = Page::try_from(query.into_inner())?;
    let rows = pets::list_members(&pg, pet_id, &page).await?;
    let paged = page.finish(rows, |row| (row.created_at, row.user_id.0));
    Ok(HttpResponse::Ok().json(paged.map(MemberView::from)))
}

/// Removes a member: the owner may remove anyone, a member only themselves. Their access
/// ends at once: the share links they made of the pet are revoked (open viewers get
/// `revoked`), their live sessions get `revoked` with the pet's id and stop watching it,
/// and a pending invitation to their address is withdrawn. Removing someone who is not a
/// member changes nothing and answers the same.
#[utoipa::path(delete, path = "/v1/pets/{id}/members/{user_id}", tag = "pets", params(
    ("id" = uuid::Uuid, Path, description = "The pet's id."),
    ("user_id" = uuid::Uuid, Path, description = "The member's user id.")), security(("bearer" = [])), responses(
    (status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound,
    (status = 422, description = "`validation_failed`: the owner is not a member and cannot be removed", body = Problem, content_type = "application/problem+json")))]
#[delete("/v1/pets/{id}/members/{user_id}")]
async fn remove_member(
    pg: web::Data<PgPool>,
    actors: web::Data<Actors>,
    caller: AuthUser,
    path: web::Path<(PetId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (pet_id, member) = path.into_inner();
    let action = if member == caller.id {
        Action::View
    } else {
        Action::Administer
    };
    let role = pet_access(&pg, caller.id, pet_id, action).await?;
    if role == PetRole::Owner && member == caller.id {
        return Err(ApiError::field("user_id", "the owner is not a member"));
    }
    let mut tx = pg.begin().await?;
    let was_member = pets::remove_member(&mut *tx, pet_id, member).await?;
    invitations::withdraw_for_user(&mut *tx, pet_id, member).await?;
    let links = share::revoke_created_by(&mut *tx, pet_id, member).await?;
    tx.commit().await?;
    // After the commit: a session or link check that starts now sees the change.
    for link_id in links {
        actors.hub.do_send(RevokeShare { link_id });
    }
    if was_member {
        actors.hub.do_send(PetAccessLost {
            pet_id,
            users: vec![member],
        });
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Withdraws an addition to the family that has not joined yet (owner only): answers 204
/// whether or not the address had joined already (which the owner sees in the member list).
#[utoipa::path(delete, path = "/v1/pets/{id}/invitations/{invitation_id}", tag = "pets", params(
    ("id" = uuid::Uuid, Path, description = "The pet's id."),
    ("invitation_id" = uuid::Uuid, Path, description = "The id the addition answered.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::Forbidden, crate::http::error::doc::NotFound))]
#[delete("/v1/pets/{id}/invitations/{invitation_id}")]
async fn withdraw_invitation(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<(PetId, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (pet_id, invitation) = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Administer).await?;
    invitations::withdraw(&pg, pet_id, invitation).await?;
    Ok(HttpResponse::NoContent().finish())
}
