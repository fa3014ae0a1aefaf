//! `/v1/ws` and `/v1/ws/tickets`: the live protocol's WebSocket for signed-in users, and the
//! single-use tickets that let a browser (which cannot set headers on a WebSocket) open it.
//! A session lives as long as the access token that opened it (a ticket carries the expiry
//! and sign-in of the token it was issued with), and each user and share link may hold only
//! so many sessions: past the cap the upgrade is refused with 429 `too_many_sessions`.
//!
//! A session's actor runs inside the stream that becomes its response body, and actix-http
//! polls that stream only while its own write buffer has room: behind a slow client the actor
//! would stop, its mailbox would grow and its timers would not fire. So a task pumps the
//! stream into a channel the HTTP layer drains, and the bytes it takes are counted for the
//! session, which keeps what sits in the channel bounded.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Addr;
use actix_web::body::{BodyStream, BoxBody, MessageBody};
use actix_web::web::Bytes;
use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use chrono::{DateTime, Utc};
use deadpool_redis::redis::AsyncCommands;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::actors::hub::{Admission, Admit, LiveHub, Party, Refused};
use crate::actors::session::{
    SendMeter, SessionLinks, SignedIn, UserSession, Viewer, CLIENT_TIMEOUT, MAX_FRAME_BYTES,
};
use crate::auth::{random_token, token_hash, AccessClaims, JwtKeys};
use crate::cache::Redis;
use crate::http::error::ApiError;
use crate::ids::UserId;

/// Seconds a WebSocket ticket stays valid.
pub const TICKET_TTL_S: u64 = 60;
/// Redis key namespace of tickets (followed by the hex SHA-256 of the ticket).
const TICKET_KEYS: &str = "ws:ticket:";
/// Longer strings are not tickets (ours are 43 characters); they are refused unhashed.
const MAX_TICKET_CHARS: usize = 128;
/// How long the connection of a session closed as too slow may drain before it is cut.
const SLOW_CLOSE_LINGER: Duration = Duration::from_secs(5);
/// How often a lingering connection is checked for having drained.
const LINGER_CHECK: Duration = Duration::from_millis(100);

/// A chunk of a session's outgoing byte stream.
type Chunk = Result<Bytes, Box<dyn std::error::Error>>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_ticket).service(connect);
}

/// A single-use credential for `GET /v1/ws?ticket=…`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WsTicket {
    pub ticket: String,
    /// Epoch milliseconds after which the ticket is refused.
    pub expires_at: i64,
}

/// Credentials for browsers, which cannot send `Authorization` on a WebSocket.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectQuery {
    /// A ticket from `POST /v1/ws/tickets`; used instead of the `Authorization` header.
    pub ticket: Option<String>,
}

/// What a ticket stands for: the access token it was issued with (its user, expiry and
/// sign-in), so the session it opens lives exactly as long as that token would.
#[derive(Serialize, Deserialize)]
struct TicketClaims {
    user: Uuid,
    /// Epoch seconds at which the token expires.
    exp: i64,
    /// The token's sign-in (refresh-token family).
    fam: Option<Uuid>,
}

/// Issues a WebSocket ticket: single use, valid 60 s. The session it opens takes the expiry
/// of the access token the ticket was issued with.
#[utoipa::path(post, path = "/v1/ws/tickets", tag = "live", security(("bearer" = [])), responses(
    (status = 201, body = WsTicket), crate::http::error::doc::Authenticated))]
#[post("/v1/ws/tickets")]
async fn create_ticket(
    req: HttpRequest,
    redis: web::Data<Redis>,
    jwt: web::Data<JwtKeys>,
) -> Result<HttpResponse, ApiError> {
    let claims = bearer_claims(&req, &jwt)?;
    let stored = TicketClaims {
        user: claims.user.0,
        exp: claims.expires_at.timestamp(),
        fam: claims.family,
    };
    let stored = serde_json::to_string(&stored).map_err(anyhow::Error::from)?;
    let ticket = random_token();
    let mut conn = redis.conn().await?;
    let key = ticket_key(&redis, &ticket);
    let _: () = conn.set_ex(key, stored, TICKET_TTL_S).await?;
    let expires_at = Utc::now().timestamp_millis() + 1000 * TICKET_TTL_S as i64;
    Ok(HttpResponse::Created().json(WsTicket { ticket, expires_at }))
}

/// Opens the live protocol's WebSocket (see `live-protocol.md`). Credentials are checked
/// before the upgrade: without valid ones the answer is 401, never a socket; a user with as
/// many open sessions as allowed (`PETTYSYNC_WS_MAX_SESSIONS_PER_USER`) gets 429.
#[utoipa::path(get, path = "/v1/ws", tag = "live", params(ConnectQuery),
    security(("bearer" = []), ()), responses(
    (status = 101, description = "switched to the live protocol"), crate::http::error::doc::Authenticated, crate::http::error::doc::Query,
    (status = 400, description = "`malformed_request`: not a WebSocket handshake", body = crate::http::error::Problem, content_type = "application/problem+json"),
    (status = 429, description = "`too_many_sessions`: the user's sessions are at the cap", body = crate::http::error::Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds until a session may be tried again")))))]
#[get("/v1/ws")]
async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<ConnectQuery>,
    redis: web::Data<Redis>,
    jwt: web::Data<JwtKeys>,
    links: web::Data<SessionLinks>,
) -> Result<HttpResponse, ApiError> {
    // Checked first, so a request that cannot become a socket does not use up a ticket.
    ws::handshake(&req).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let signed_in = authenticate(&req, query.ticket.as_deref(), &redis, &jwt).await?;
    let admission = admit(&links.hub, Party::User(signed_in.user)).await?;
    let session =
        UserSession::new(Viewer::User(signed_in), links.get_ref().clone()).admitted(admission);
    start_session(session, &req, payload).map_err(|e| ApiError::Malformed(e.to_string()))
}

/// A place at the hub for a new session of `party`, or the 429 that refuses it. A session
/// whose client vanished is closed within [`CLIENT_TIMEOUT`], hence the `Retry-After`.
pub(crate) async fn admit(hub: &Addr<LiveHub>, party: Party) -> Result<Admission, ApiError> {
    let answer = hub
        .send(Admit { party })
        .await
        .map_err(|e| anyhow::anyhow!("live hub: {e}"))?;
    match answer {
        Ok(session_id) => Ok(Admission::new(hub.clone(), session_id)),
        Err(Refused { limit, per }) => Err(ApiError::TooManySessions {
            limit,
            per,
            retry_after_s: CLIENT_TIMEOUT.as_secs(),
        }),
    }
}

/// The credentials of a bearer token when the request has one, else of an unused ticket.
async fn authenticate(
    req: &HttpRequest,
    ticket: Option<&str>,
    redis: &Redis,
    jwt: &JwtKeys,
) -> Result<SignedIn, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let claims = bearer_claims(req, jwt)?;
        return Ok(SignedIn {
            user: claims.user,
            expires_at: claims.expires_at,
            family: claims.family,
        });
    }
    let ticket = ticket.ok_or(ApiError::Unauthorized)?;
    redeem(redis, ticket).await?.ok_or(ApiError::Unauthorized)
}

/// What the request's valid bearer token says; 401 without one.
fn bearer_claims(req: &HttpRequest, jwt: &JwtKeys) -> Result<AccessClaims, ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| jwt.claims(token.trim()))
        .ok_or(ApiError::Unauthorized)
}

fn ticket_key(redis: &Redis, ticket: &str) -> String {
    redis.key(&format!("{TICKET_KEYS}{}", hex::encode(token_hash(ticket))))
}

/// The credentials a ticket stands for, deleting the ticket in the same command (single
/// use); `None` for an unknown ticket, or one whose token has expired meanwhile.
async fn redeem(redis: &Redis, ticket: &str) -> Result<Option<SignedIn>, ApiError> {
    if ticket.is_empty() || ticket.len() > MAX_TICKET_CHARS {
        return Ok(None);
    }
    let mut conn = redis.conn().await?;
    let stored: Option<String> = conn.get_del(ticket_key(redis, ticket)).await?;
    let Some(claims) = stored.and_then(|text| serde_json::from_str::<TicketClaims>(&text).ok())
    else {
        return Ok(None);
    };
    let expires_at = DateTime::from_timestamp(claims.exp, 0).filter(|at| *at > Utc::now());
    Ok(expires_at.map(|expires_at| SignedIn {
        user: UserId(claims.user),
        expires_at,
        family: claims.fam,
    }))
}

/// The 101 response whose body is the session's bytes, pumped by their own task.
pub(crate) fn start_session(
    session: UserSession,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let meter = session.meter();
    let response = ws::WsResponseBuilder::new(session, req, payload)
        .frame_size(MAX_FRAME_BYTES)
        .start()?;
    let (head, frames) = response.into_parts();
    let (tx, rx) = mpsc::unbounded_channel();
    actix_web::rt::spawn(pump(frames, tx, meter.clone()));
    let body = BodyStream::new(Counted { rx, meter });
    Ok(head.set_body(body).map_into_boxed_body())
}

/// Polls the session (and so runs its actor) whether or not the client reads, until the
/// session ends or the connection is gone. The channel is unbounded because the session
/// bounds it: it writes only while fewer than `SEND_BUFFER_HIGH` bytes are untaken.
async fn pump(mut frames: BoxBody, tx: mpsc::UnboundedSender<Chunk>, meter: SendMeter) {
    let mut pumped = 0;
    loop {
        let next = tokio::select! {
            next = std::future::poll_fn(|cx| Pin::new(&mut frames).poll_next(cx)) => next,
            () = tx.closed() => return,
        };
        match next {
            Some(Ok(bytes)) => {
                pumped += bytes.len();
                if tx.send(Ok(bytes)).is_err() {
                    return;
                }
            }
            Some(Err(error)) => {
                // Whether the connection is still there to see it does not matter now.
                let _ = tx.send(Err(error));
                return;
            }
            None => break,
        }
    }
    if meter.is_slow() {
        cut_if_undrained(&tx, &meter, pumped).await;
    }
}

/// Gives a slow client's connection a moment to take its close frame, then ends it with an
/// error, which makes actix-http drop the connection instead of waiting on it for ever.
async fn cut_if_undrained(tx: &mpsc::UnboundedSender<Chunk>, meter: &SendMeter, pumped: usize) {
    let deadline = tokio::time::Instant::now() + SLOW_CLOSE_LINGER;
    while meter.sent() < pumped && tokio::time::Instant::now() < deadline && !tx.is_closed() {
        tokio::time::sleep(LINGER_CHECK).await;
    }
    if meter.sent() < pumped {
        // The connection may have gone meanwhile; then there is nothing left to cut.
        let _ = tx.send(Err("closed a WebSocket client that reads too slowly".into()));
    }
}

/// The response body: the pumped chunks, counted as the HTTP layer takes them.
struct Counted {
    rx: mpsc::UnboundedReceiver<Chunk>,
    meter: SendMeter,
}

impl Stream for Counted {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        let next = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            self.meter.add_sent(bytes.len());
        }
        next
    }
}
