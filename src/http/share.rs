//! Share links as their makers see them: `/v1/pets/{id}/share-links` and
//! `/v1/share-links/{id}` for the pet's owner and family (create, list, revoke). What a link
//! shows its viewer is `http::shared`.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::hub::{LiveHub, RevokeShare};
use crate::actors::scope::{Precision, Scopes};
use crate::auth::{random_token, token_hash};
use crate::config::Settings;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::{millis, share};
use crate::validation::Violations;

pub const MAX_LABEL_CHARS: usize = 100;
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_link)
        .service(list_links)
        .service(revoke_link);
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateShareLink {
    /// Up to 100 characters, for the owner's list (`Dr. Vega`, `sitter, August`).
    #[schema(max_length = 100)]
    pub label: Option<String>,
    /// Seconds until the link stops working: 1 to `PETTYSYNC_SHARE_MAX_EXPIRY_S` (30 days
    /// unless the server says otherwise).
    #[schema(minimum = 1)]
    pub expires_in_s: i64,
    /// A non-empty subset of `location`, `vitals`, `mood`, `alerts`.
    #[schema(schema_with = scopes)]
    pub scopes: Vec<String>,
    /// `exact` or `approximate`.
    #[schema(schema_with = precision)]
    pub precision: String,
}

fn scopes() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::http::docs::one_of(&[
            "location", "vitals", "mood", "alerts",
        ]))
        .min_items(Some(1))
        .unique_items(true)
        .build()
}

fn precision() -> utoipa::openapi::schema::Object {
    crate::http::docs::one_of(&["exact", "approximate"])
}

/// A new link: the only time its token is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedShareLink {
    pub id: Uuid,
    pub token: String,
    /// `{PETTYSYNC_PUBLIC_URL}/s/{token}`: the page that shows the link.
    pub url: String,
    pub expires_at: i64,
    pub label: Option<String>,
    pub scopes: Vec<String>,
    pub precision: Precision,
    pub created_at: i64,
}

/// A link as its pet's owner and family see it (never with its token).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ShareLinkView {
    pub id: Uuid,
    pub label: Option<String>,
    pub scopes: Vec<String>,
    pub precision: Precision,
    pub expires_at: i64,
    pub created_at: i64,
    /// The owner or family member who created it; their links are revoked when they leave.
    pub created_by: UserId,
    pub revoked_at: Option<i64>,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl ShareLinkView {
    fn new(row: share::ShareLinkRow, now: DateTime<Utc>) -> Self {
        Self {
            id: row.id,
            active: row.revoked_at.is_none() && row.expires_at > now,
            label: row.label,
            scopes: row.scopes,
            precision: precision_of(&row.precision),
            expires_at: millis(row.expires_at),
            created_at: millis(row.created_at),
            created_by: row.created_by,
            revoked_at: row.revoked_at.map(millis),
        }
    }
}

/// The stored precision; the table's check allows only the two names.
pub(super) fn precision_of(stored: &str) -> Precision {
    Precision::parse(stored).unwrap_or(Precision::Approximate)
}

/// A checked create request.
struct LinkRequest {
    label: Option<String>,
    expires_in_s: i64,
    scopes: Scopes,
    precision: Precision,
}

impl LinkRequest {
    fn parse(body: CreateShareLink, max_expiry_s: u64) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let label = body
            .label
            .map(|label| label.trim().to_owned())
            .filter(|label| !label.is_empty());
        v.check(
            label
                .as_ref()
                .is_none_or(|label| label.chars().count() <= MAX_LABEL_CHARS),
            "label",
            "must be at most 100 characters",
        );
        let max = i64::try_from(max_expiry_s).unwrap_or(i64::MAX);
        v.check(
            (1..=max).contains(&body.expires_in_s),
            "expires_in_s",
            &format!("must be from 1 to {max} seconds"),
        );
        let scopes = Scopes::parse(&body.scopes);
        if let Err(message) = scopes {
            v.check(false, "scopes", message);
        }
        let precision = Precision::parse(&body.precision);
        v.check(
            precision.is_some(),
            "precision",
            "must be exact or approximate",
        );
        v.finish()?;
        match (scopes, precision) {
            (Ok(scopes), Some(precision)) => Ok(Self {
                label,
                expires_in_s: body.expires_in_s,
                scopes,
                precision,
            }),
            // `finish` returned the violations of both.
            _ => Err(ApiError::field("body", "is invalid")),
        }
    }
}

/// Creates a share link of the pet (owner or family). The token is in this answer only.
#[utoipa::path(post, path = "/v1/pets/{id}/share-links", tag = "share", params(("id" = uuid::Uuid, Path, description = "The pet's id.")), request_body = CreateShareLink,
    security(("bearer" = [])), responses((status = 201, body = CreatedShareLink),
    crate::http::error::doc::Authenticated, crate::http::error::doc::JsonBody, crate::http::error::doc::NotFound))]
#[post("/v1/pets/{id}/share-links")]
async fn create_link(
    pg: web::Data<PgPool>,
    settings: web::Data<Settings>,
    caller: AuthUser,
    path: web::Path<PetId>,
    body: ApiJson<CreateShareLink>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Share).await?;
    let request = LinkRequest::parse(body.into_inner(), settings.share_max_expiry_s)?;
    let token = random_token();
    let new = share::NewShareLink {
        pet_id,
        created_by: caller.id,
        label: request.label,
        token_hash: token_hash(&token),
        scopes: request.scopes.names(),
        precision: request.precision.as_str().to_owned(),
        expires_at: Utc::now() + Duration::seconds(request.expires_in_s),
    };
    let row = share::create(&pg, &new).await?;
    let url = format!("{}/s/{token}", settings.public_url.trim_end_matches('/'));
    Ok(HttpResponse::Created().json(CreatedShareLink {
        id: row.id,
        token,
        url,
        expires_at: millis(row.expires_at),
        label: row.label,
        scopes: row.scopes,
        precision: request.precision,
        created_at: millis(row.created_at),
    }))
}

/// The pet's share links, oldest first, revoked and expired ones included (owner or family),
/// each with who created it.
#[utoipa::path(get, path = "/v1/pets/{id}/share-links", tag = "share", params(("id" = uuid::Uuid, Path, description = "The pet's id."), PageQuery),
    security(("bearer" = [])), responses((status = 200, body = Paged<ShareLinkView>),
    crate::http::error::doc::Authenticated, crate::http::error::doc::Query, crate::http::error::doc::NotFound))]
#[get("/v1/pets/{id}/share-links")]
async fn list_links(
    pg: web::Data<PgPool>,
    caller: AuthUser,
    path: web::Path<PetId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let pet_id = path.into_inner();
    pet_access(&pg, caller.id, pet_id, Action::Share).await?;
    let page = Page::try_from(query.into_inner())?;
    let rows = share::list(&pg, pet_id, &page).await?;
    let now = Utc::now();
    let paged = page.finish(rows, |row| (row.created_at, row.id));
    Ok(HttpResponse::Ok().json(paged.map(|row| ShareLinkView::new(row, now))))
}

/// Revokes a share link (owner or family of its pet): its open viewers get `revoked` and
/// are closed at once. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/v1/share-links/{id}", tag = "share", params(("id" = uuid::Uuid, Path, description = "The share link's id.")), security(("bearer" = [])),
    responses((status = 204), crate::http::error::doc::Authenticated, crate::http::error::doc::NotFound))]
#[delete("/v1/share-links/{id}")]
async fn revoke_link(
    pg: web::Data<PgPool>,
    hub: web::Data<actix::Addr<LiveHub>>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let link_id = path.into_inner();
    let pet_id = share::pet_of(&pg, link_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Someone who may not share the pet must not learn that the link exists.
    pet_access(&pg, caller.id, pet_id, Action::Share)
        .await
        .map_err(|error| match error {
            ApiError::Forbidden => ApiError::NotFound,
            other => other,
        })?;
    share::revoke(&pg, link_id).await?;
    // After the update: a session opening now either sees the revocation in the database
    // or is known to the hub when this arrives.
    hub.do_send(RevokeShare { link_id });
    Ok(HttpResponse::NoContent().finish())
}
