//! An in-process client for session tests: it feeds WebSocket frames to one session and
//! reads its bytes back, on whatever clock the test runs (paused, for timers).

use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use actix::{Actor, Addr, Context, Handler, MessageResult};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web_actors::ws;
use futures_util::{stream, Stream, StreamExt};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::delivery::{wire_len, SendMeter, FLUSH_INTERVAL};
use super::{SessionLimits, SessionLinks, ShareViewer, SignedIn, UserSession, Viewer};
use crate::actors::events::{Alert, AlertKind, GetPetState, LiveState, SetLiveMode};
use crate::actors::hub::{LiveHub, SessionEvent, LIVE_GRACE};
use crate::auth::JwtKeys;
use crate::ids::{PetId, UserId};

/// Stands in for the collar registry: every pet is offline, live mode is ignored.
pub(crate) struct Registry;

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<GetPetState> for Registry {
    type Result = MessageResult<GetPetState>;

    fn handle(&mut self, _: GetPetState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(LiveState::default())
    }
}

impl Handler<SetLiveMode> for Registry {
    type Result = ();

    fn handle(&mut self, _: SetLiveMode, _: &mut Context<Self>) {}
}

pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;

/// A client driving one session in-process: it feeds frames in, and takes the session's
/// bytes out (counting them as sent only while `reading`).
pub(crate) struct Client {
    pub input: mpsc::UnboundedSender<Result<Bytes, PayloadError>>,
    pub output: Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>,
    pub session: Addr<UserSession>,
    pub meter: SendMeter,
    pub received: Vec<u8>,
    pub reading: bool,
}

/// The keys of the access tokens the sessions of these tests check.
pub(crate) static JWT: LazyLock<JwtKeys> =
    LazyLock::new(|| JwtKeys::new(&SecretString::from("test-secret-".repeat(4))));

/// A signed-in viewer whose token expires in `expires_in`.
pub(crate) fn signed_in_viewer(user: UserId, expires_in: Duration, family: Option<Uuid>) -> Viewer {
    Viewer::User(SignedIn {
        user,
        expires_at: chrono::Utc::now() + expires_in,
        family,
    })
}

impl Client {
    /// A session of some user, signed in for an hour.
    pub fn connect() -> Self {
        Self::signed_in(UserId::new(), Duration::from_secs(3600), None)
    }

    /// A session of `user`, whose token expires in `expires_in`.
    pub fn signed_in(user: UserId, expires_in: Duration, family: Option<Uuid>) -> Self {
        Self::connect_as(signed_in_viewer(user, expires_in, family))
    }

    /// A session of some user under these limits.
    pub fn limited(limits: SessionLimits) -> Self {
        let viewer = signed_in_viewer(UserId::new(), Duration::from_secs(3600), None);
        Self::start(viewer, limits)
    }

    pub fn connect_as(viewer: Viewer) -> Self {
        Self::start(viewer, SessionLimits::default())
    }

    fn start(viewer: Viewer, limits: SessionLimits) -> Self {
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
            jwt: JWT.clone(),
            limits,
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

    pub fn send_frame(&self, opcode: u8, payload: &[u8]) {
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

    pub fn send(&self, message: Value) {
        self.send_frame(TEXT, message.to_string().as_bytes());
    }

    /// Runs the session until it is idle; the frames it wrote meanwhile.
    pub async fn frames(&mut self) -> Vec<(u8, Vec<u8>)> {
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
    pub async fn messages(&mut self) -> Vec<Value> {
        let frames = self.frames().await;
        frames
            .into_iter()
            .filter(|(opcode, _)| *opcode == TEXT)
            .map(|(_, payload)| serde_json::from_slice(&payload).unwrap())
            .collect()
    }

    /// Lets the paused clock run `by`, in flush-sized steps so every timer gets its turn.
    pub async fn wait(&mut self, by: Duration) -> Vec<(u8, Vec<u8>)> {
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
pub(crate) fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
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

pub(crate) fn close_code(frames: &[(u8, Vec<u8>)]) -> Option<(u16, String)> {
    let (_, payload) = frames.iter().find(|(opcode, _)| *opcode == CLOSE)?;
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()))
}

/// An alert whose `details` make its frame about `bytes` long.
pub(crate) fn alert(at: i64, bytes: usize) -> SessionEvent {
    SessionEvent::Alert(Arc::new(Alert {
        id: Uuid::new_v4(),
        pet_id: PetId::new(),
        kind: AlertKind::HeartRateHigh,
        at,
        details: json!({ "note": "x".repeat(bytes) }),
        acknowledged_at: None,
    }))
}

/// A small stored alert of `pet_id`.
pub(crate) fn alert_of(pet_id: PetId) -> SessionEvent {
    SessionEvent::Alert(Arc::new(Alert {
        id: Uuid::new_v4(),
        pet_id,
        kind: AlertKind::BatteryLow,
        at: 1,
        details: json!({}),
        acknowledged_at: None,
    }))
}

pub(crate) fn alert_times(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .filter(|m| m["type"] == "alert")
        .map(|m| m["alert"]["at"].as_i64().unwrap())
        .collect()
}

pub(crate) fn share_viewer(expires_in: Duration) -> ShareViewer {
    ShareViewer {
        expires_at: chrono::Utc::now() + expires_in,
        ..share_link_of(PetId::new())
    }
}

/// A share link of `pet_id` with the `location` scope, valid for an hour.
pub(crate) fn share_link_of(pet_id: PetId) -> ShareViewer {
    ShareViewer {
        link_id: Uuid::new_v4(),
        pet_id,
        view: crate::actors::scope::ShareView {
            scopes: crate::actors::scope::Scopes::parse(&["location"]).unwrap(),
            precision: crate::actors::scope::Precision::Exact,
            resolution: h3o::Resolution::Eight,
        },
        created_at: 0,
        expires_at: chrono::Utc::now() + Duration::from_secs(3600),
    }
}

/// Runs the client until the session closes (or `rounds` of the paused clock pass).
pub(crate) async fn until_close(client: &mut Client, rounds: usize) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    for _ in 0..rounds {
        frames.extend(client.wait(FLUSH_INTERVAL).await);
        if close_code(&frames).is_some() {
            break;
        }
    }
    frames
}

pub(crate) fn texts(frames: &[(u8, Vec<u8>)]) -> Vec<Value> {
    frames
        .iter()
        .filter(|(opcode, _)| *opcode == TEXT)
        .map(|(_, payload)| serde_json::from_slice(payload).unwrap())
        .collect()
}
