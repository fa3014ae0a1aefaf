//! Share links: `/v1/pets/{id}/share-links` and `/v1/share-links/{id}` for the pet's owner and
//! family (create, list, revoke), and the public `/v1/share/{token}` (REST) and
//! `/v1/share/{token}/ws` (live protocol) that show the pet as the link's scopes allow.
//!
//! An unknown, revoked or expired token gets one and the same 404. Failed lookups are
//! counted per client address ([`TOKEN_LIMIT`]); past the limit every token lookup from
//! that address, even a right one, gets 429 until the window ends, so a guesser learns
//! nothing from the answers. The address is the client's by [`ClientAddr`]'s rule: the
//! TCP peer, or behind a trusted proxy the address the proxy saw.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::actors::events::GetPetState;
use crate::actors::hub::{LiveHub, Party, RevokeShare, SharedLink};
use crate::actors::scope::{Precision, Scopes, ShareView, SharedState};
use crate::actors::session::{SessionLinks, ShareViewer, UserSession, Viewer};
use crate::auth::{random_token, token_hash};
use crate::cache::{FailureLimit, Redis};
use crate::config::Settings;
use crate::http::authz::{pet_access, Action, AuthUser};
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::live::{admit, start_session};
use crate::http::pagination::{Page, PageQuery, Paged};
use crate::ids::{PetId, UserId};
use crate::store::{millis, share};
use crate::validation::Violations;

/// Failed token lookups per client address and window, before it is refused for the window.
pub const TOKEN_LIMIT: FailureLimit = FailureLimit {
    namespace: "ratelimit:share:",
    max: 30,
    window_s: 60,
};
pub const MAX_LABEL_CHARS: usize = 100;
/// Longer strings are not tokens (ours are 43 characters); they are refused unhashed.
const MAX_TOKEN_CHARS: usize = 128;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_link)
        .service(list_links)
        .service(revoke_link)
        .service(connect)
        .service(view);
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

/// What a link's viewer sees of the pet's profile.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SharedPet {
    pub name: String,
    pub species: String,
}

/// The public answer of `GET /v1/share/{token}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SharedView {
    pub pet: SharedPet,
    pub scopes: Vec<String>,
    pub precision: Precision,
    pub expires_at: i64,
    pub state: SharedState,
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
fn precision_of(stored: &str) -> Precision {
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

/// The pet as the link shows it (public; the token is the credential).
#[utoipa::path(get, path = "/v1/share/{token}", operation_id = "view_share", tag = "share", params(("token" = String, Path, description = "The share link's token, as in its URL.")), responses(
    (status = 200, body = SharedView), crate::http::error::doc::Public, crate::http::error::doc::RateLimited,
    (status = 404, description = "`not_found`: the token is unknown, revoked or expired (one answer for all three)", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[get("/v1/share/{token}")]
async fn view(
    req: HttpRequest,
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    settings: web::Data<Settings>,
    states: web::Data<actix::Recipient<GetPetState>>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let link = open_link(&req, &pg, &redis, &path).await?;
    let viewer = share_viewer(&link.link, &settings)?;
    let state = states
        .send(GetPetState {
            pet_id: link.link.pet_id,
        })
        .await
        .map_err(|e| anyhow::anyhow!("collar registry: {e}"))?;
    Ok(HttpResponse::Ok().json(SharedView {
        pet: SharedPet {
            name: link.pet_name,
            species: link.pet_species,
        },
        scopes: link.link.scopes,
        precision: viewer.view.precision,
        expires_at: millis(link.link.expires_at),
        state: viewer.view.state(&state),
    }))
}

/// Opens the live protocol's WebSocket for a share link: subscribed to its pet from the
/// start. A bad token gets the same 404 as `GET /v1/share/{token}`, before any upgrade; a
/// link with as many open sessions as allowed (`PETTYSYNC_WS_MAX_SESSIONS_PER_LINK`) gets
/// 429 `too_many_sessions`.
#[utoipa::path(get, path = "/v1/share/{token}/ws", operation_id = "connect_share", tag = "share", params(("token" = String, Path, description = "The share link's token, as in its URL.")), responses(
    (status = 101, description = "switched to the live protocol"), crate::http::error::doc::Public,
    (status = 400, description = "`malformed_request`: not a WebSocket handshake", body = crate::http::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: the token is unknown, revoked or expired (one answer for all three)", body = crate::http::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "`rate_limited` (token guessing) or `too_many_sessions` (the link's sessions are at the cap)", body = crate::http::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds until it may be tried again")))))]
#[get("/v1/share/{token}/ws")]
async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    settings: web::Data<Settings>,
    links: web::Data<SessionLinks>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let link = open_link(&req, &pg, &redis, &path).await?;
    actix_web_actors::ws::handshake(&req).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let viewer = share_viewer(&link.link, &settings)?;
    let shared = SharedLink {
        link_id: viewer.link_id,
        pet_id: viewer.pet_id,
    };
    let admission = admit(&links.hub, Party::Link(shared)).await?;
    let session =
        UserSession::new(Viewer::Share(viewer), links.get_ref().clone()).admitted(admission);
    start_session(session, &req, payload).map_err(|e| ApiError::Malformed(e.to_string()))
}

/// The active link of a token, under the per-address limit on failed lookups.
async fn open_link(
    req: &HttpRequest,
    pg: &PgPool,
    redis: &Redis,
    token: &str,
) -> Result<share::ActiveLink, ApiError> {
    let client = ClientAddr::of(req).limit_key();
    if let Some(retry_after_s) = TOKEN_LIMIT.blocked_for(redis, &client).await? {
        return Err(ApiError::RateLimited { retry_after_s });
    }
    let found = if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        None
    } else {
        share::active_by_token(pg, &token_hash(token)).await?
    };
    match found {
        Some(link) => Ok(link),
        None => {
            TOKEN_LIMIT.record_failure(redis, &client).await?;
            Err(ApiError::NotFound)
        }
    }
}

/// What a session (or the REST answer) of this link needs to know.
fn share_viewer(link: &share::ShareLinkRow, settings: &Settings) -> Result<ShareViewer, ApiError> {
    let scopes = Scopes::parse(&link.scopes)
        .map_err(|e| anyhow::anyhow!("share link {} has bad scopes: {e}", link.id))?;
    // Checked at start-up (at most 15).
    let resolution = h3o::Resolution::try_from(settings.share_h3_resolution)
        .map_err(|e| anyhow::anyhow!("share_h3_resolution: {e}"))?;
    Ok(ShareViewer {
        link_id: link.id,
        pet_id: link.pet_id,
        view: ShareView {
            scopes,
            precision: precision_of(&link.precision),
            resolution,
        },
        created_at: millis(link.created_at),
        expires_at: link.expires_at,
    })
}
