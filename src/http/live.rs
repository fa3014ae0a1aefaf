//! `/v1/ws` and `/v1/ws/tickets`: the live protocol's WebSocket for signed-in users, and the
//! single-use tickets that let a browser (which cannot set headers on a WebSocket) open it.
//!
//! A session's actor runs inside the stream that becomes its response body, and actix-http
//! polls that stream only while its own write buffer has room: behind a slow client the actor
//! would stop, its mailbox would grow and its timers would not fire. So a task pumps the
//! stream into a channel the HTTP layer drains, and the bytes it takes are counted for the
//! session, which keeps what sits in the channel bounded.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodyStream, BoxBody, MessageBody};
use actix_web::web::Bytes;
use actix_web::{get, http::header, post, web, FromRequest, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use chrono::Utc;
use deadpool_redis::redis::AsyncCommands;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::actors::events::GetPetState;
use crate::actors::hub::LiveHub;
use crate::actors::session::{SendMeter, SessionLinks, UserSession, Viewer, MAX_FRAME_BYTES};
use crate::auth::{random_token, token_hash};
use crate::cache::Redis;
use crate::http::authz::AuthUser;
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

/// Issues a WebSocket ticket: single use, valid 60 s.
#[utoipa::path(post, path = "/v1/ws/tickets", tag = "live", security(("bearer" = [])), responses(
    (status = 201, body = WsTicket), crate::http::error::doc::Authenticated))]
#[post("/v1/ws/tickets")]
async fn create_ticket(
    redis: web::Data<Redis>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let ticket = random_token();
    let mut conn = redis.conn().await?;
    let key = ticket_key(&redis, &ticket);
    let _: () = conn
        .set_ex(key, caller.id.to_string(), TICKET_TTL_S)
        .await?;
    let expires_at = Utc::now().timestamp_millis() + 1000 * TICKET_TTL_S as i64;
    Ok(HttpResponse::Created().json(WsTicket { ticket, expires_at }))
}

/// Opens the live protocol's WebSocket (see `live-protocol.md`). Credentials are checked
/// before the upgrade: without valid ones the answer is 401, never a socket.
#[utoipa::path(get, path = "/v1/ws", tag = "live", params(ConnectQuery),
    security(("bearer" = []), ()), responses(
    (status = 101, description = "switched to the live protocol"), crate::http::error::doc::Authenticated, crate::http::error::doc::Query,
    (status = 400, description = "`malformed_request`: not a WebSocket handshake", body = crate::http::error::Problem, content_type = "application/problem+json")))]
#[get("/v1/ws")]
async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<ConnectQuery>,
    pg: web::Data<PgPool>,
    redis: web::Data<Redis>,
    hub: web::Data<actix::Addr<LiveHub>>,
    states: web::Data<actix::Recipient<GetPetState>>,
) -> Result<HttpResponse, ApiError> {
    // Checked first, so a request that cannot become a socket does not use up a ticket.
    ws::handshake(&req).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let user = authenticate(&req, query.ticket.as_deref(), &redis).await?;
    let links = SessionLinks {
        hub: hub.get_ref().clone(),
        pg: pg.get_ref().clone(),
        states: states.get_ref().clone(),
    };
    let session = UserSession::new(Viewer::User(user), links);
    start_session(session, &req, payload).map_err(|e| ApiError::Malformed(e.to_string()))
}

/// The user of a bearer token when the request has one, else of an unused ticket.
async fn authenticate(
    req: &HttpRequest,
    ticket: Option<&str>,
    redis: &Redis,
) -> Result<UserId, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(AuthUser::extract(req).await?.id);
    }
    let ticket = ticket.ok_or(ApiError::Unauthorized)?;
    redeem(redis, ticket).await?.ok_or(ApiError::Unauthorized)
}

fn ticket_key(redis: &Redis, ticket: &str) -> String {
    redis.key(&format!("{TICKET_KEYS}{}", hex::encode(token_hash(ticket))))
}

/// The ticket's user, deleting the ticket in the same command (single use).
async fn redeem(redis: &Redis, ticket: &str) -> Result<Option<UserId>, ApiError> {
    if ticket.is_empty() || ticket.len() > MAX_TICKET_CHARS {
        return Ok(None);
    }
    let mut conn = redis.conn().await?;
    let user: Option<String> = conn.get_del(ticket_key(redis, ticket)).await?;
    Ok(user.and_then(|id| Uuid::parse_str(&id).ok()).map(UserId))
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
