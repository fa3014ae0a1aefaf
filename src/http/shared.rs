//! What a share link shows: the public `/v1/share/{token}` (REST) and `/v1/share/{token}/ws`
//! (live protocol), the pet as the link's scopes allow.
//!
//! An unknown, revoked or expired token gets one and the same 404. Failed lookups are
//! counted per client address ([`TOKEN_LIMIT`]); past the limit every token lookup from
//! that address, even a right one, gets 429 until the window ends, so a guesser learns
//! nothing from the answers. The address is the client's by [`ClientAddr`]'s rule: the
//! TCP peer, or behind a trusted proxy the address the proxy saw.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use sqlx::PgPool;

use crate::actors::events::GetPetState;
use crate::actors::hub::{Party, SharedLink};
use crate::actors::scope::{Precision, Scopes, ShareView, SharedState};
use crate::actors::session::{SessionLinks, ShareViewer, UserSession, Viewer};
use crate::auth::token_hash;
use crate::cache::{FailureLimit, Redis};
use crate::config::Settings;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::live::{admit, start_session};
use crate::http::share::precision_of;
use crate::store::{millis, share};

/// Failed token lookups per client address and window, before it is refused for the window.
pub const TOKEN_LIMIT: FailureLimit = FailureLimit {
    namespace: "ratelimit:share:",
    max: 30,
    window_s: 60,
};
/// Longer strings are not tokens (ours are 43 characters); they are refused unhashed.
const MAX_TOKEN_CHARS: usize = 128;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(connect).service(view);
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
