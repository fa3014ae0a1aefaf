//! `UserSession`, one actor per WebSocket connection of the live protocol: it answers the
//! client's messages, registers with the hub as a watcher of the pets it subscribes to (a
//! share-link session: of its link's pet, from the start, shown as the link's scopes allow),
//! and writes the hub's events to its socket without letting a slow client grow memory: past
//! [`SEND_BUFFER_HIGH`] unsent bytes, states are coalesced per pet in an [`Outbox`] and a
//! client that stays that far behind is closed.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::clock::Instant;
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Handler, Recipient, Running,
    SpawnHandle, StreamHandler, WrapFuture,
};
use actix_web_actors::ws;
use futures_util::{stream, StreamExt};
use serde::Deserialize;
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use super::events::{GetPetState, LiveState};
use super::hub::{Connect, Disconnect, LiveHub, SessionEvent, SharedLink, Unwatch, Watch};
use super::outbox::{state_frame, OutFrame, Outbox, ServerMessage};
use super::scope::ShareView;
use crate::http::authz::{self, Action};
use crate::ids::{PetId, UserId};
use crate::store::share;

/// How often the server pings the client (also announced in `hello`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
/// A client silent for this long (no frame, no pong) is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Most pet ids one `subscribe` may name.
pub const MAX_PETS_PER_SUBSCRIBE: usize = 100;
/// Largest frame a client may send; a `subscribe` of 100 ids is about 4 KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Unsent bytes above which frames are held back in the outbox instead of written.
pub const SEND_BUFFER_HIGH: usize = 64 * 1024;
/// How often held-back frames are retried while the client catches up.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A client whose unsent bytes stay above [`SEND_BUFFER_HIGH`] this long is closed.
pub const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Role checks of one `subscribe` run at most this many at a time (the pool is shared).
const CHECKS_IN_FLIGHT: usize = 8;
/// Longest client text (a pet id) quoted back in an error message.
const MAX_QUOTE_CHARS: usize = 64;
/// Longest parser complaint sent back; it may quote the client's text.
const MAX_COMPLAINT_CHARS: usize = 200;
/// WebSocket close code of a session whose share link was revoked or expired (live protocol).
pub const CLOSE_REVOKED: u16 = 4403;

/// Who is behind a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// A signed-in user: sees the pets they own or are a member of, and gets their alerts.
    User(UserId),
    /// A share-link viewer: sees the link's one pet as its scopes allow, and nothing else.
    Share(ShareViewer),
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
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Viewer {
    fn user(&self) -> Option<UserId> {
        match self {
            Self::User(user) => Some(*user),
            Self::Share(_) => None,
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
}

/// Bytes the HTTP layer has taken from a session's outgoing stream, counted by that stream
/// and read by the session: what it wrote minus this is what its client has not taken yet.
#[derive(Debug, Clone, Default)]
pub struct SendMeter(Arc<MeterInner>);

#[derive(Debug, Default)]
struct MeterInner {
    sent: AtomicUsize,
    slow: AtomicBool,
}

impl SendMeter {
    /// Counts bytes the HTTP layer took.
    pub fn add_sent(&self, bytes: usize) {
        self.0.sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes the HTTP layer took so far.
    pub fn sent(&self) -> usize {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// True once the session was closed for a too slow client: its connection may be cut.
    pub fn is_slow(&self) -> bool {
        self.0.slow.load(Ordering::Relaxed)
    }
}

/// A client → server message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Subscribe { pet_ids: Vec<String> },
    Unsubscribe { pet_ids: Vec<String> },
    Ping,
}

/// Something to send, as the outbox holds it.
enum Outgoing {
    Frame(OutFrame),
    Alert(OutFrame),
    State(PetId, Arc<LiveState>),
}

/// The answer for one id of a `subscribe`.
enum Answer {
    /// Watched now; its state, unless the registry did not answer.
    Watched(PetId, Option<LiveState>),
    /// Not a pet the viewer may see (or not a pet at all: the answer is the same).
    Forbidden(String),
    /// The check itself failed.
    Failed(String),
}

/// One WebSocket connection of the live protocol.
pub struct UserSession {
    id: Uuid,
    viewer: Viewer,
    links: SessionLinks,
    watching: HashSet<PetId>,
    last_heard: Instant,
    meter: SendMeter,
    /// Wire bytes of every frame written to the context.
    written: usize,
    outbox: Outbox,
    congested_since: Option<Instant>,
    flush_timer: Option<SpawnHandle>,
    closed: bool,
}

/// Wire size of a server frame (unmasked) with this payload, exactly as the codec writes it.
fn wire_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    header + payload
}

/// At most `max` characters of `text`, to quote it back.
fn quote(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn error(code: &'static str, message: String) -> Outgoing {
    Outgoing::Frame(ServerMessage::Error { code, message }.frame())
}

impl UserSession {
    /// A session for `viewer`; start it with `http::live`'s socket plumbing.
    pub fn new(viewer: Viewer, links: SessionLinks) -> Self {
        Self {
            id: Uuid::new_v4(),
            viewer,
            links,
            watching: HashSet::new(),
            last_heard: Instant::now(),
            meter: SendMeter::default(),
            written: 0,
            outbox: Outbox::new(viewer.share().map(|link| link.view)),
            congested_since: None,
            flush_timer: None,
            closed: false,
        }
    }

    /// The counter the session's outgoing stream must feed.
    pub fn meter(&self) -> SendMeter {
        self.meter.clone()
    }

    /// Bytes written but not yet taken by the HTTP layer.
    fn backlog(&self) -> usize {
        self.written.saturating_sub(self.meter.sent())
    }

    /// Notes whether the client is behind, and since when; returns the backlog.
    fn observe(&mut self) -> usize {
        let backlog = self.backlog();
        if backlog < SEND_BUFFER_HIGH {
            self.congested_since = None;
        } else if self.congested_since.is_none() {
            self.congested_since = Some(Instant::now());
        }
        backlog
    }

    fn write(&mut self, ctx: &mut ws::WebsocketContext<Self>, frame: OutFrame) {
        self.written = self.written.wrapping_add(wire_len(frame.text.len()));
        metrics::counter!("pettysync_ws_frames_sent_total", "type" => frame.kind).increment(1);
        ctx.text(frame.text);
    }

    /// Writes at once while the client keeps up; else holds back (states coalesced per pet)
    /// and makes sure the flush timer runs.
    fn deliver(&mut self, ctx: &mut ws::WebsocketContext<Self>, item: Outgoing) {
        if self.closed {
            return;
        }
        // Behind anything already held back, to keep the order.
        if self.outbox.is_empty() && self.observe() < SEND_BUFFER_HIGH {
            let frame = match item {
                Outgoing::Frame(frame) | Outgoing::Alert(frame) => frame,
                Outgoing::State(pet_id, state) => {
                    state_frame(pet_id, &state, self.viewer.share().map(|link| &link.view))
                }
            };
            self.write(ctx, frame);
        } else {
            match item {
                Outgoing::Frame(frame) => self.outbox.push_frame(frame),
                Outgoing::Alert(frame) => self.outbox.push_alert(frame),
                Outgoing::State(pet_id, state) => self.outbox.push_state(pet_id, state),
            }
            if self.outbox.is_overflowing() {
                return self.close_slow(ctx);
            }
        }
        if self.flush_timer.is_none()
            && (self.observe() >= SEND_BUFFER_HIGH || !self.outbox.is_empty())
        {
            self.flush_timer = Some(ctx.run_interval(FLUSH_INTERVAL, Self::flush));
        }
    }

    /// Writes held-back frames as the backlog falls; closes a client behind for too long.
    fn flush(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let backlog = self.observe();
        if backlog >= SEND_BUFFER_HIGH {
            if self
                .congested_since
                .is_some_and(|since| since.elapsed() >= SLOW_CLIENT_TIMEOUT)
            {
                self.close_slow(ctx);
            }
            return;
        }
        for frame in self.outbox.take_ready(SEND_BUFFER_HIGH - backlog) {
            self.write(ctx, frame);
        }
        if self.outbox.is_empty() && self.observe() < SEND_BUFFER_HIGH {
            if let Some(timer) = self.flush_timer.take() {
                ctx.cancel_future(timer);
            }
        }
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, reason: Option<ws::CloseReason>) {
        if self.closed {
            return;
        }
        self.closed = true;
        let payload = reason.as_ref().map_or(0, |reason| {
            2 + reason.description.as_ref().map_or(0, String::len)
        });
        self.written = self.written.wrapping_add(wire_len(payload));
        ctx.close(reason);
        ctx.stop();
    }

    fn close_slow(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let backlog = self.backlog();
        tracing::info!(session = %self.id, backlog, "closing a too slow client");
        metrics::counter!("pettysync_ws_slow_closed_total").increment(1);
        self.meter.0.slow.store(true, Ordering::Relaxed);
        let reason = (ws::CloseCode::Policy, "client too slow".to_owned());
        self.close(ctx, Some(reason.into()));
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() >= CLIENT_TIMEOUT {
            tracing::debug!(session = %self.id, "no answer to pings; closing");
            let reason = (ws::CloseCode::Policy, "no answer to pings".to_owned());
            return self.close(ctx, Some(reason.into()));
        }
        self.written = self.written.wrapping_add(wire_len(0));
        ctx.ping(b"");
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Subscribe { pet_ids }) => self.subscribe(pet_ids, ctx),
            Ok(ClientMessage::Unsubscribe { pet_ids }) => self.unsubscribe(&pet_ids),
            Ok(ClientMessage::Ping) => {
                self.deliver(ctx, Outgoing::Frame(ServerMessage::Pong.frame()))
            }
            Err(e) if e.is_data() => {
                self.bad_request(ctx, quote(&e.to_string(), MAX_COMPLAINT_CHARS))
            }
            Err(_) => self.bad_request(ctx, "not a JSON object".to_owned()),
        }
    }

    fn bad_request(&mut self, ctx: &mut ws::WebsocketContext<Self>, message: String) {
        self.deliver(ctx, error("bad_request", message));
    }

    fn subscribe(&mut self, mut pet_ids: Vec<String>, ctx: &mut ws::WebsocketContext<Self>) {
        if pet_ids.len() > MAX_PETS_PER_SUBSCRIBE {
            let message = format!("at most {MAX_PETS_PER_SUBSCRIBE} pet_ids per subscribe");
            return self.bad_request(ctx, message);
        }
        let mut seen = HashSet::new();
        pet_ids.retain(|id| seen.insert(id.clone()));
        let span = tracing::info_span!("ws_subscribe", session = %self.id, pets = pet_ids.len());
        let checks = check_pets(self.links.clone(), self.id, self.viewer, pet_ids).instrument(span);
        // `wait`: later client messages and events queue until every answer is written.
        ctx.wait(
            crate::rt::guarded(checks)
                .into_actor(self)
                .map(|answers, session, ctx| {
                    for answer in answers {
                        session.answer(answer, ctx);
                    }
                }),
        );
    }

    fn answer(&mut self, answer: Answer, ctx: &mut ws::WebsocketContext<Self>) {
        let item = match answer {
            Answer::Watched(pet_id, state) => {
                self.watching.insert(pet_id);
                match state {
                    Some(state) => Outgoing::State(pet_id, Arc::new(state)),
                    None => {
                        let message = format!("no state of pet {pet_id} yet; it follows");
                        error("internal_error", message)
                    }
                }
            }
            Answer::Forbidden(id) => error(
                "forbidden",
                format!(
                    "pet {} does not exist or you may not see it",
                    quote(&id, MAX_QUOTE_CHARS)
                ),
            ),
            Answer::Failed(id) => error(
                "internal_error",
                format!(
                    "could not subscribe to pet {}; try again",
                    quote(&id, MAX_QUOTE_CHARS)
                ),
            ),
        };
        self.deliver(ctx, item);
    }

    fn unsubscribe(&mut self, pet_ids: &[String]) {
        // A share link watches its pet for as long as it is open: nothing else to show.
        if self.viewer.share().is_some() {
            return;
        }
        let pets = pet_ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok().map(PetId));
        for pet_id in pets {
            if self.watching.remove(&pet_id) {
                self.outbox.discard_state(pet_id);
                self.links.hub.do_send(Unwatch {
                    session_id: self.id,
                    pet_id,
                });
            }
        }
    }
}

impl UserSession {
    /// Starts a share-link session: closes it when the link expires; checks the link again
    /// now that the hub knows the session (a revocation between the upgrade and `Connect`
    /// would otherwise be missed), then watches the pet and sends its state.
    fn open_share(&mut self, link: ShareViewer, ctx: &mut ws::WebsocketContext<Self>) {
        let left = (link.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        ctx.run_later(left, |session, ctx| session.revoke(ctx));
        let links = self.links.clone();
        let session_id = self.id;
        let opening = async move {
            match share::is_active(&links.pg, link.link_id).await {
                Ok(false) => return None,
                Ok(true) => {}
                // It was active at the upgrade a moment ago; expiry and revocation still close it.
                Err(error) => tracing::error!(error = ?error, "checking a share link again"),
            }
            Some(watch(&links, session_id, link.pet_id).await)
        };
        let span = tracing::info_span!("ws_share", session = %self.id, link = %link.link_id);
        // `wait`: client messages queue until the state is written.
        ctx.wait(
            crate::rt::guarded(opening.instrument(span))
                .into_actor(self)
                .map(|answer, session, ctx| match answer {
                    Some(answer) => session.answer(answer, ctx),
                    None => session.revoke(ctx),
                }),
        );
    }

    /// Tells the client its share link is gone and closes with [`CLOSE_REVOKED`] at once,
    /// dropping whatever was still held back: nothing more of the pet is shown.
    fn revoke(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.closed {
            return;
        }
        tracing::debug!(session = %self.id, "share link revoked or expired; closing");
        self.outbox = Outbox::default();
        self.write(ctx, ServerMessage::Revoked.frame());
        let reason = (ws::CloseCode::Other(CLOSE_REVOKED), "revoked".to_owned());
        self.close(ctx, Some(reason.into()));
    }
}

/// Checks each id in order, a few at a time; watches (before reading the state, so no
/// change falls between the two) and reads the state of each the viewer may see.
async fn check_pets(
    links: SessionLinks,
    session_id: Uuid,
    viewer: Viewer,
    ids: Vec<String>,
) -> Vec<Answer> {
    let links = &links;
    stream::iter(ids)
        .map(|id| check_pet(links, session_id, viewer, id))
        .buffered(CHECKS_IN_FLIGHT)
        .collect()
        .await
}

async fn check_pet(links: &SessionLinks, session_id: Uuid, viewer: Viewer, id: String) -> Answer {
    let Ok(pet_id) = Uuid::parse_str(&id).map(PetId) else {
        return Answer::Forbidden(id);
    };
    let user = match viewer {
        Viewer::User(user) => user,
        // A share link sees its own pet (already watched) and no other.
        Viewer::Share(link) if link.pet_id == pet_id => {
            return watch(links, session_id, pet_id).await
        }
        Viewer::Share(_) => return Answer::Forbidden(id),
    };
    match authz::pet_role(&links.pg, user, pet_id).await {
        Ok(Some(role)) if role.may(Action::View) => {}
        Ok(_) => return Answer::Forbidden(id),
        Err(error) => {
            tracing::error!(error = ?error, pet = %pet_id, "checking the right to watch a pet");
            return Answer::Failed(id);
        }
    }
    watch(links, session_id, pet_id).await
}

/// Watches a pet the viewer may see, then reads its state.
async fn watch(links: &SessionLinks, session_id: Uuid, pet_id: PetId) -> Answer {
    links.hub.do_send(Watch { session_id, pet_id });
    let state = links.states.send(GetPetState { pet_id }).await;
    if let Err(error) = &state {
        tracing::error!(error = ?error, pet = %pet_id, "reading a watched pet's state");
    }
    Answer::Watched(pet_id, state.ok())
}

impl Actor for UserSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(session = %self.id, "live session opened");
        let hello = ServerMessage::Hello {
            session_id: self.id,
            heartbeat_s: HEARTBEAT_INTERVAL.as_secs(),
        };
        self.deliver(ctx, Outgoing::Frame(hello.frame()));
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
            SessionEvent::Revoked => self.revoke(ctx),
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
            // A pong may be skipped (RFC 6455 §5.5.3): none for a client this far behind.
            ws::Message::Ping(payload) if self.observe() < SEND_BUFFER_HIGH => {
                self.written = self.written.wrapping_add(wire_len(payload.len()));
                ctx.pong(&payload);
            }
            ws::Message::Close(reason) => self.close(ctx, reason),
            ws::Message::Ping(_) | ws::Message::Pong(_) | ws::Message::Nop => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::Poll;

    use actix::{Context, MessageResult};
    use actix_web::error::PayloadError;
    use actix_web::web::Bytes;
    use futures_util::Stream;
    use serde_json::{json, Value};
    use sqlx::postgres::PgPoolOptions;
    use tokio::sync::mpsc;

    use super::*;
    use crate::actors::events::{Alert, AlertKind};
    use crate::actors::hub::LIVE_GRACE;

    /// Stands in for the collar registry: every pet is offline, live mode is ignored.
    struct Registry;

    impl Actor for Registry {
        type Context = Context<Self>;
    }

    impl Handler<GetPetState> for Registry {
        type Result = MessageResult<GetPetState>;

        fn handle(&mut self, _: GetPetState, _: &mut Context<Self>) -> Self::Result {
            MessageResult(LiveState::default())
        }
    }

    impl Handler<crate::actors::events::SetLiveMode> for Registry {
        type Result = ();

        fn handle(&mut self, _: crate::actors::events::SetLiveMode, _: &mut Context<Self>) {}
    }

    const TEXT: u8 = 0x1;
    const BINARY: u8 = 0x2;
    const CLOSE: u8 = 0x8;
    const PING: u8 = 0x9;

    /// A client driving one session in-process: it feeds frames in, and takes the session's
    /// bytes out (counting them as sent only while `reading`).
    struct Client {
        input: mpsc::UnboundedSender<Result<Bytes, PayloadError>>,
        output: Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>,
        session: Addr<UserSession>,
        meter: SendMeter,
        received: Vec<u8>,
        reading: bool,
    }

    impl Client {
        fn connect() -> Self {
            Self::connect_as(Viewer::User(UserId::new()))
        }

        fn connect_as(viewer: Viewer) -> Self {
            let registry = Registry.start();
            let hub = LiveHub::new(registry.clone().recipient(), LIVE_GRACE).start();
            // Never connected: these tests stay clear of the database.
            let pg = PgPoolOptions::new()
                .acquire_timeout(Duration::from_millis(100))
                .connect_lazy("postgres://nobody@127.0.0.1:9/none")
                .unwrap();
            let links = SessionLinks {
                hub,
                pg,
                states: registry.recipient(),
            };
            let session = UserSession::new(viewer, links);
            let meter = session.meter();
            let (input, mut rx) = mpsc::unbounded_channel();
            let payload = stream::poll_fn(move |cx| rx.poll_recv(cx));
            let (session, output) = ws::WebsocketContext::create_with_addr(session, payload);
            Self {
                input,
                output: Box::pin(output),
                session,
                meter,
                received: Vec::new(),
                reading: true,
            }
        }

        fn send_frame(&self, opcode: u8, payload: &[u8]) {
            let mut frame = vec![0x80 | opcode];
            match payload.len() {
                n @ 0..=125 => frame.push(0x80 | n as u8),
                n => {
                    frame.push(0x80 | 126);
                    frame.extend((n as u16).to_be_bytes());
                }
            }
            // A zero mask leaves the payload as it is.
            frame.extend([0; 4]);
            frame.extend(payload);
            self.input.send(Ok(Bytes::from(frame))).unwrap();
        }

        fn send(&self, message: Value) {
            self.send_frame(TEXT, message.to_string().as_bytes());
        }

        /// Runs the session until it is idle; the frames it wrote meanwhile.
        async fn frames(&mut self) -> Vec<(u8, Vec<u8>)> {
            let mut idle = 0;
            while idle < 20 {
                tokio::task::yield_now().await;
                match futures_util::poll!(self.output.next()) {
                    Poll::Ready(Some(Ok(bytes))) => {
                        if self.reading {
                            self.meter.add_sent(bytes.len());
                        }
                        self.received.extend_from_slice(&bytes);
                        idle = 0;
                    }
                    _ => idle += 1,
                }
            }
            take_frames(&mut self.received)
        }

        /// The JSON messages among the frames written since the last call.
        async fn messages(&mut self) -> Vec<Value> {
            let frames = self.frames().await;
            frames
                .into_iter()
                .filter(|(opcode, _)| *opcode == TEXT)
                .map(|(_, payload)| serde_json::from_slice(&payload).unwrap())
                .collect()
        }

        /// Lets the paused clock run `by`, in flush-sized steps so every timer gets its turn.
        async fn wait(&mut self, by: Duration) -> Vec<(u8, Vec<u8>)> {
            let mut frames = Vec::new();
            let mut waited = Duration::ZERO;
            while waited < by {
                tokio::time::advance(FLUSH_INTERVAL).await;
                waited += FLUSH_INTERVAL;
                frames.extend(self.frames().await);
            }
            frames
        }
    }

    /// Splits whole server frames off `buf`, checking each is as long as `wire_len` says.
    fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut at = 0;
        while buf.len() >= at + 2 {
            let (len, header) = match buf[at + 1] & 0x7F {
                126 => (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(buf[at + 2..at + 10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            assert_eq!(
                header + len,
                wire_len(len),
                "the backlog must count exactly"
            );
            frames.push((buf[at] & 0x0F, buf[at + header..at + header + len].to_vec()));
            at += header + len;
        }
        buf.drain(..at);
        frames
    }

    fn close_code(frames: &[(u8, Vec<u8>)]) -> Option<(u16, String)> {
        let (_, payload) = frames.iter().find(|(opcode, _)| *opcode == CLOSE)?;
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()))
    }

    /// An alert whose `details` make its frame about `bytes` long.
    fn alert(at: i64, bytes: usize) -> SessionEvent {
        SessionEvent::Alert(Arc::new(Alert {
            id: Uuid::new_v4(),
            pet_id: PetId::new(),
            kind: AlertKind::HeartRateHigh,
            at,
            details: json!({ "note": "x".repeat(bytes) }),
            acknowledged_at: None,
        }))
    }

    fn alert_times(messages: &[Value]) -> Vec<i64> {
        messages
            .iter()
            .filter(|m| m["type"] == "alert")
            .map(|m| m["alert"]["at"].as_i64().unwrap())
            .collect()
    }

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
    async fn an_id_that_is_not_a_uuid_is_forbidden_like_any_pet_not_ones_own() {
        let mut client = Client::connect();
        client.messages().await;
        client.send(json!({ "type": "subscribe", "pet_ids": ["not-a-pet"] }));
        let answer = client.messages().await;
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0]["code"], "forbidden");
        assert_eq!(
            answer[0]["message"],
            "pet not-a-pet does not exist or you may not see it"
        );
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

    #[actix::test]
    async fn alerts_for_a_client_that_stops_reading_are_held_back_then_sent_in_order() {
        tokio::time::pause();
        let mut client = Client::connect();
        client.messages().await;
        client.reading = false;
        for at in 0..12 {
            client.session.do_send(alert(at, 8 * 1024));
        }
        let before = alert_times(&client.messages().await);
        assert!(before.len() < 12, "held back past the high-water mark");
        client.meter.add_sent(usize::MAX / 2);
        client.reading = true;
        let frames = client.wait(FLUSH_INTERVAL * 2).await;
        let after: Vec<Value> = frames
            .iter()
            .map(|(_, payload)| serde_json::from_slice(payload).unwrap())
            .collect();
        let all: Vec<i64> = before.into_iter().chain(alert_times(&after)).collect();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
    }

    #[actix::test]
    async fn a_client_behind_for_too_long_is_closed_as_too_slow() {
        tokio::time::pause();
        let mut client = Client::connect();
        client.messages().await;
        client.reading = false;
        for at in 0..10 {
            client.session.do_send(alert(at, 8 * 1024));
        }
        client.frames().await;
        let early = client
            .wait(SLOW_CLIENT_TIMEOUT - Duration::from_secs(1))
            .await;
        assert_eq!(close_code(&early), None);
        let late = client.wait(Duration::from_secs(2)).await;
        assert_eq!(close_code(&late), Some((1008, "client too slow".into())));
        assert!(client.meter.is_slow());
    }

    #[actix::test]
    async fn too_many_held_back_alerts_close_the_session() {
        tokio::time::pause();
        let mut client = Client::connect();
        client.messages().await;
        client.reading = false;
        for at in 0..10 {
            client.session.do_send(alert(at, 8 * 1024));
        }
        for at in 0..=crate::actors::outbox::MAX_PENDING_ALERTS as i64 {
            client.session.do_send(alert(at, 0));
        }
        let frames = client.frames().await;
        assert_eq!(close_code(&frames), Some((1008, "client too slow".into())));
    }

    #[actix::test]
    async fn a_client_that_answers_no_ping_is_closed() {
        tokio::time::pause();
        let mut client = Client::connect();
        client.messages().await;
        // Timers fire on the millisecond after their deadline: a step more.
        let first = client.wait(HEARTBEAT_INTERVAL + FLUSH_INTERVAL).await;
        assert!(first.iter().any(|(opcode, _)| *opcode == PING));
        assert_eq!(close_code(&first), None);
        let later = client.wait(CLIENT_TIMEOUT - HEARTBEAT_INTERVAL).await;
        assert_eq!(close_code(&later).map(|(code, _)| code), Some(1008));
    }

    fn share_viewer(expires_in: Duration) -> ShareViewer {
        ShareViewer {
            link_id: Uuid::new_v4(),
            pet_id: PetId::new(),
            view: crate::actors::scope::ShareView {
                scopes: crate::actors::scope::Scopes::parse(&["location"]).unwrap(),
                precision: crate::actors::scope::Precision::Exact,
                resolution: h3o::Resolution::Eight,
            },
            created_at: 0,
            expires_at: chrono::Utc::now() + expires_in,
        }
    }

    /// Runs the client until the session closes (or `rounds` of the paused clock pass).
    async fn until_close(client: &mut Client, rounds: usize) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        for _ in 0..rounds {
            frames.extend(client.wait(FLUSH_INTERVAL).await);
            if close_code(&frames).is_some() {
                break;
            }
        }
        frames
    }

    fn texts(frames: &[(u8, Vec<u8>)]) -> Vec<Value> {
        frames
            .iter()
            .filter(|(opcode, _)| *opcode == TEXT)
            .map(|(_, payload)| serde_json::from_slice(payload).unwrap())
            .collect()
    }

    #[actix::test]
    async fn a_revoked_share_session_says_so_and_closes_with_4403() {
        tokio::time::pause();
        let viewer = share_viewer(Duration::from_secs(3600));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        client.session.do_send(SessionEvent::Revoked);
        let frames = until_close(&mut client, 200).await;
        assert!(texts(&frames).contains(&json!({ "type": "revoked" })));
        assert_eq!(close_code(&frames), Some((CLOSE_REVOKED, "revoked".into())));
    }

    #[actix::test]
    async fn a_share_session_closes_when_its_link_expires() {
        tokio::time::pause();
        let viewer = share_viewer(Duration::from_secs(2));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        let early = client.wait(Duration::from_secs(1)).await;
        assert_eq!(close_code(&early), None);
        let late = until_close(&mut client, 40).await;
        assert!(texts(&late).contains(&json!({ "type": "revoked" })));
        assert_eq!(close_code(&late).map(|(code, _)| code), Some(CLOSE_REVOKED));
    }

    #[actix::test]
    async fn a_share_session_may_not_subscribe_to_another_pet_or_get_its_alerts() {
        tokio::time::pause();
        let viewer = share_viewer(Duration::from_secs(3600));
        let mut client = Client::connect_as(Viewer::Share(viewer));
        client.send(json!({ "type": "subscribe", "pet_ids": [PetId::new().to_string()] }));
        client.session.do_send(alert(7, 0));
        let mut answers = Vec::new();
        for _ in 0..40 {
            answers.extend(texts(&client.wait(FLUSH_INTERVAL).await));
            if answers.iter().any(|m| m["type"] == "error") {
                break;
            }
        }
        let error = answers.iter().find(|m| m["type"] == "error").unwrap();
        assert_eq!(error["code"], "forbidden");
        assert!(answers.iter().all(|m| m["type"] != "alert"), "{answers:?}");
    }
}
