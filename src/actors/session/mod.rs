//! `UserSession`, one actor per WebSocket connection of the live protocol: it answers the
//! client's messages, registers with the hub as a watcher of the pets it subscribes to (a
//! share-link session: of its link's pet, from the start, shown as the link's scopes allow),
//! and writes the hub's events to its socket without letting a slow client grow memory.
//!
//! - `protocol`: client frames, parsed by the pure [`parse_client_frame`];
//! - `frames`: server frames, serialised once;
//! - `outbox` and `delivery`: writing, holding back and coalescing for slow clients;
//! - `credentials`: a session lives as long as its credentials (access token, extended by
//!   `auth`; or share link) and the sign-in behind them;
//! - `limits`: how fast a session may subscribe, and to how many pets;
//! - `subscriptions`: `subscribe` / `unsubscribe`, the right to watch a pet, losing one;
//! - `share`: the start of a share-link viewer's session.

mod credentials;
mod delivery;
mod frames;
mod limits;
mod outbox;
mod protocol;
mod share;
mod subscriptions;
#[cfg(test)]
mod testing;

use std::collections::HashSet;
use std::time::Duration;

use actix::clock::Instant;
use actix::{Actor, Addr, AsyncContext, Handler, Recipient, Running, SpawnHandle, StreamHandler};
use actix_web_actors::ws;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub use self::delivery::{SendMeter, FLUSH_INTERVAL, SEND_BUFFER_HIGH, SLOW_CLIENT_TIMEOUT};
pub use self::limits::SessionLimits;
pub use self::protocol::{parse_client_frame, AccessToken, ClientMessage, FrameError};
pub use self::subscriptions::MAX_PETS_PER_SUBSCRIBE;

use self::delivery::{error, Outgoing};
use self::frames::ServerMessage;
use self::limits::TokenBucket;
use self::outbox::Outbox;
use super::events::GetPetState;
use super::hub::{Admission, Connect, Disconnect, LiveHub, SessionEvent, SharedLink};
use super::scope::ShareView;
use crate::auth::JwtKeys;
use crate::ids::{PetId, UserId};

/// How often the server pings the client (also announced in `hello`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
/// A client silent for this long (no frame, no pong) is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest frame a client may send; a `subscribe` of 100 ids is about 4 KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// WebSocket close code of a session whose credentials were revoked or expired (live
/// protocol): a share link revoked or expired, an access token expired, a sign-in ended.
pub const CLOSE_REVOKED: u16 = 4403;

/// Who is behind a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// A signed-in user: sees the pets they own or are a member of, and gets their alerts.
    User(SignedIn),
    /// A share-link viewer: sees the link's one pet as its scopes allow, and nothing else.
    Share(ShareViewer),
}

/// A signed-in user's credentials, as the access token that opened the session (or the
/// newest one sent with `auth`) states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn {
    /// The user.
    pub user: UserId,
    /// When the token expires; the session closes then unless `auth` extends it.
    pub expires_at: DateTime<Utc>,
    /// The sign-in (refresh-token family) of the token; its logout closes the session.
    pub family: Option<Uuid>,
}

/// A share link as its session needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareViewer {
    /// The link, to be told of its revocation.
    pub link_id: Uuid,
    /// The one pet it shows.
    pub pet_id: PetId,
    /// Its scopes and precision.
    pub view: ShareView,
    /// Epoch ms of its creation: older alerts (a collar's backlog) are history, not shown.
    pub created_at: i64,
    /// When it expires; the session closes then.
    pub expires_at: DateTime<Utc>,
}

impl Viewer {
    fn user(&self) -> Option<UserId> {
        match self {
            Self::User(signed_in) => Some(signed_in.user),
            Self::Share(_) => None,
        }
    }

    /// When the session's credentials expire.
    fn expires_at(&self) -> DateTime<Utc> {
        match self {
            Self::User(signed_in) => signed_in.expires_at,
            Self::Share(link) => link.expires_at,
        }
    }

    fn share(&self) -> Option<&ShareViewer> {
        match self {
            Self::User(_) => None,
            Self::Share(link) => Some(link),
        }
    }
}

/// What a session talks to.
#[derive(Clone)]
pub struct SessionLinks {
    /// The live hub.
    pub hub: Addr<LiveHub>,
    /// For the right to see a pet.
    pub pg: PgPool,
    /// The current state of a pet (the collar registry).
    pub states: Recipient<GetPetState>,
    /// To check the access tokens of `auth` messages.
    pub jwt: JwtKeys,
    /// What one session may ask for.
    pub limits: SessionLimits,
}

/// One WebSocket connection of the live protocol.
pub struct UserSession {
    id: Uuid,
    viewer: Viewer,
    links: SessionLinks,
    /// The hub's place for this session, given back when it stops.
    admission: Option<Admission>,
    watching: HashSet<PetId>,
    /// Pets the viewer lost while the session was open: nothing more of them is shown
    /// unless a new `subscribe` finds the right to them again.
    lost: HashSet<PetId>,
    subscribes: TokenBucket,
    expiry_timer: Option<SpawnHandle>,
    last_heard: Instant,
    meter: SendMeter,
    /// Wire bytes of every frame written to the context.
    written: usize,
    outbox: Outbox,
    congested_since: Option<Instant>,
    flush_timer: Option<SpawnHandle>,
    closed: bool,
}

impl UserSession {
    /// A session for `viewer`; start it with `http::live`'s socket plumbing.
    pub fn new(viewer: Viewer, links: SessionLinks) -> Self {
        let limits = links.limits;
        Self {
            id: Uuid::new_v4(),
            viewer,
            links,
            admission: None,
            watching: HashSet::new(),
            lost: HashSet::new(),
            subscribes: TokenBucket::new(limits.subscribe_burst, limits.subscribes_per_minute),
            expiry_timer: None,
            last_heard: Instant::now(),
            meter: SendMeter::default(),
            written: 0,
            outbox: Outbox::new(viewer.share().map(|link| link.view)),
            congested_since: None,
            flush_timer: None,
            closed: false,
        }
    }

    /// The same session in the place `admission` holds for it at the hub.
    pub fn admitted(mut self, admission: Admission) -> Self {
        self.id = admission.session_id();
        self.admission = Some(admission);
        self
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match parse_client_frame(text) {
            Ok(ClientMessage::Subscribe { pet_ids }) => self.subscribe(pet_ids, ctx),
            Ok(ClientMessage::Unsubscribe { pet_ids }) => self.unsubscribe(&pet_ids),
            Ok(ClientMessage::Auth { access_token }) => self.authenticate(&access_token.0, ctx),
            Ok(ClientMessage::Ping) => {
                self.deliver(ctx, Outgoing::Frame(ServerMessage::Pong.frame()))
            }
            Err(e) => self.bad_request(ctx, e.to_string()),
        }
    }

    fn bad_request(&mut self, ctx: &mut ws::WebsocketContext<Self>, message: String) {
        self.deliver(ctx, error("bad_request", message));
    }
}

impl Actor for UserSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(session = %self.id, "live session opened");
        self.hello(ctx);
        self.arm_expiry(ctx);
        self.links.hub.do_send(Connect {
            session_id: self.id,
            user: self.viewer.user(),
            link: self.viewer.share().map(|link| SharedLink {
                link_id: link.link_id,
                pet_id: link.pet_id,
            }),
            addr: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT_INTERVAL, Self::heartbeat);
        if let Some(link) = self.viewer.share().copied() {
            self.open_share(link, ctx);
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        tracing::debug!(session = %self.id, "live session closed");
        self.links.hub.do_send(Disconnect {
            session_id: self.id,
        });
        if let Some(admission) = self.admission.take() {
            admission.disarm();
        }
        Running::Stop
    }
}

impl Handler<SessionEvent> for UserSession {
    type Result = ();

    fn handle(&mut self, event: SessionEvent, ctx: &mut Self::Context) {
        match event {
            // An event sent before an unsubscribe reached the hub is late: drop it.
            SessionEvent::State { pet_id, state } if self.watching.contains(&pet_id) => {
                self.deliver(ctx, Outgoing::State(pet_id, state));
            }
            SessionEvent::State { .. } => {}
            // One that raced the loss of its pet is not shown either.
            SessionEvent::Alert(alert) if self.lost.contains(&alert.pet_id) => {}
            SessionEvent::Alert(alert) => match self.viewer.share() {
                None => self.deliver(ctx, Outgoing::Alert(ServerMessage::alert(&alert).frame())),
                Some(link) => {
                    let shown = (alert.pet_id == link.pet_id && alert.at >= link.created_at)
                        .then(|| link.view.alert(&alert))
                        .flatten();
                    if let Some(shown) = shown {
                        self.deliver(ctx, Outgoing::Alert(ServerMessage::alert(&shown).frame()));
                    }
                }
            },
            SessionEvent::Mood(mood) if self.watching.contains(&mood.pet_id) => {
                // A share viewer sees a mood with the `mood` scope, and none from before
                // the link (a collar's backlog is history), like alerts.
                let shown = match self.viewer.share() {
                    None => Some(&*mood),
                    Some(link) => link
                        .view
                        .mood(&mood)
                        .filter(|m| m.pet_id == link.pet_id && m.mood.at >= link.created_at),
                };
                if let Some(shown) = shown {
                    let frame = ServerMessage::mood(shown).frame();
                    self.deliver(ctx, Outgoing::Frame(frame));
                }
            }
            SessionEvent::Mood(_) => {}
            SessionEvent::Revoked => self.end(ctx),
            SessionEvent::PetLost(pet_id) => self.lose_pet(pet_id, ctx),
            SessionEvent::SignInEnded(family) => self.sign_in_ended(family, ctx),
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for UserSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let message = match item {
            Ok(message) => message,
            Err(ws::ProtocolError::Overflow) => {
                let reason = (ws::CloseCode::Size, "frame too large".to_owned());
                return self.close(ctx, Some(reason.into()));
            }
            Err(error) => {
                tracing::debug!(session = %self.id, %error, "WebSocket protocol error");
                return self.close(ctx, Some(ws::CloseCode::Protocol.into()));
            }
        };
        self.last_heard = Instant::now();
        match message {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Binary(_) | ws::Message::Continuation(_) => {
                self.bad_request(ctx, "the live protocol uses whole text frames".to_owned());
            }
            ws::Message::Ping(payload) => self.pong(ctx, &payload),
            ws::Message::Close(reason) => self.close(ctx, reason),
            ws::Message::Pong(_) | ws::Message::Nop => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::testing::{alert, Client, BINARY, TEXT};

    #[actix::test]
    async fn a_session_says_hello_and_answers_ping_with_pong() {
        let mut client = Client::connect();
        let hello = client.messages().await;
        assert_eq!(hello.len(), 1);
        assert_eq!(hello[0]["type"], "hello");
        assert_eq!(hello[0]["heartbeat_s"], 20);
        assert!(Uuid::parse_str(hello[0]["session_id"].as_str().unwrap()).is_ok());
        client.send(json!({ "type": "ping" }));
        assert_eq!(client.messages().await, vec![json!({ "type": "pong" })]);
    }

    #[actix::test]
    async fn malformed_messages_get_bad_request_and_the_session_stays_open() {
        let mut client = Client::connect();
        client.messages().await;
        client.send_frame(TEXT, b"nonsense");
        client.send(json!({ "type": "dance" }));
        client.send(json!({ "type": "subscribe" }));
        client.send(json!({ "type": "subscribe", "pet_ids": vec!["x"; 101] }));
        client.send_frame(BINARY, b"\x00\x01");
        let errors = client.messages().await;
        assert_eq!(errors.len(), 5);
        for error in &errors {
            assert_eq!(error["type"], "error");
            assert_eq!(error["code"], "bad_request");
        }
        client.send(json!({ "type": "ping" }));
        assert_eq!(client.messages().await, vec![json!({ "type": "pong" })]);
    }

    #[actix::test]
    async fn an_alert_is_sent_as_the_protocol_shows_it() {
        let mut client = Client::connect();
        client.messages().await;
        client.session.do_send(alert(7, 0));
        let sent = client.messages().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["type"], "alert");
        assert!(sent[0]["pet_id"].is_string());
        let mut fields: Vec<_> = sent[0]["alert"].as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["at", "details", "id", "kind"]);
        assert_eq!(sent[0]["alert"]["kind"], "heart_rate_high");
    }
}
