//! Share links end to end: a test collar publishes through the real broker, and a viewer
//! with nothing but the link's token reads the pet over REST and the live WebSocket.
//!
//! - `links`: create, list, revoke; tokens; who may share;
//! - `scopes`: what each scope combination and precision shows, and nothing more;
//! - `revocation`: expiry and revocation close sessions; identical 404s; brute force;
//!   share viewers switch live mode on.

mod links;
mod revocation;
mod scopes;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use awc::error::WsProtocolError;
use awc::ws::{Frame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::collar::{TestCollar, SETTLE};
use crate::helpers::{expect_json, poll_until, TestApp, TestUser};

/// awc's framed connection, named by what it does (its type is not exported).
trait Frames:
    Stream<Item = Result<Frame, WsProtocolError>> + Sink<Message, Error = WsProtocolError> + Unpin
{
}

impl<T> Frames for T where
    T: Stream<Item = Result<Frame, WsProtocolError>>
        + Sink<Message, Error = WsProtocolError>
        + Unpin
{
}

/// What the server sent next on a share socket.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    /// The close frame's code.
    Closed(Option<u16>),
}

/// A share-link viewer's WebSocket (`/v1/share/{token}/ws`). Frames a `next_*` call passes
/// over are kept for later calls.
pub struct ShareSocket {
    framed: Box<dyn Frames>,
    pending: VecDeque<Value>,
    /// The close code, once the server closed.
    pub closed: Option<Option<u16>>,
    /// The server's first frame.
    pub hello: Value,
}

impl ShareSocket {
    /// Opens the link's WebSocket and reads the `hello`.
    pub async fn open(app: &TestApp, token: &str) -> ShareSocket {
        let request = awc::Client::new().ws(app.url(&format!("/v1/share/{token}/ws")));
        ShareSocket::connect(request).await
    }

    /// Opens any live-protocol WebSocket (a signed-in `/v1/ws` too, to watch it close) and
    /// reads the `hello`.
    pub async fn connect(request: awc::ws::WebsocketsRequest) -> ShareSocket {
        let (response, framed) = request
            .connect()
            .await
            .unwrap_or_else(|e| panic!("the share WebSocket opens: {e}"));
        assert_eq!(response.status().as_u16(), 101, "the upgrade is accepted");
        let mut socket = ShareSocket {
            framed: Box::new(framed),
            pending: VecDeque::new(),
            closed: None,
            hello: Value::Null,
        };
        socket.hello = socket.next_of_type("hello", SETTLE).await;
        socket
    }

    pub async fn send_json(&mut self, message: &Value) {
        self.framed
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("the socket takes a frame");
    }

    /// The next JSON frame or the close, answering pings on the way; `None` once `until`
    /// has passed.
    async fn read(&mut self, until: Instant) -> Option<Received> {
        if let Some(code) = self.closed {
            return Some(Received::Closed(code));
        }
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let frame = match timeout(left, self.framed.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(self.close_with(None)),
                Ok(Some(Err(e))) => panic!("WebSocket protocol error: {e}"),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Frame::Text(bytes) => {
                    return Some(Received::Json(
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                            panic!("a frame is JSON ({e}): {}", String::from_utf8_lossy(&bytes))
                        }),
                    ))
                }
                Frame::Ping(payload) => {
                    // The server may already be gone; the next read says so.
                    let _ = self.framed.send(Message::Pong(payload)).await;
                }
                Frame::Close(reason) => {
                    let code = reason.map(|reason| u16::from(reason.code));
                    return Some(self.close_with(code));
                }
                Frame::Binary(_) | Frame::Continuation(_) | Frame::Pong(_) => {}
            }
        }
    }

    fn close_with(&mut self, code: Option<u16>) -> Received {
        self.closed = Some(code);
        Received::Closed(code)
    }

    /// The next frame of `kind`, kept or new.
    pub async fn next_of_type(&mut self, kind: &str, within: Duration) -> Value {
        if let Some(at) = self.pending.iter().position(|f| f["type"] == kind) {
            return self.pending.remove(at).expect("the position is valid");
        }
        let until = Instant::now() + within;
        while let Some(received) = self.read(until).await {
            match received {
                Received::Json(frame) if frame["type"] == kind => return frame,
                Received::Json(frame) => self.pending.push_back(frame),
                Received::Closed(code) => panic!(
                    "closed ({code:?}) before a `{kind}` frame; unread: {:?}",
                    self.pending
                ),
            }
        }
        panic!(
            "no `{kind}` frame within {within:?}; other frames: {:?}",
            self.pending
        )
    }

    /// Fails if a frame of `kind` is kept or arrives within `window`.
    pub async fn expect_no_frame_of_type(&mut self, kind: &str, window: Duration) {
        if let Some(frame) = self.pending.iter().find(|f| f["type"] == kind) {
            panic!("unexpected `{kind}` frame: {frame}");
        }
        let until = Instant::now() + window;
        while let Some(received) = self.read(until).await {
            match received {
                Received::Json(frame) if frame["type"] == kind => {
                    panic!("unexpected `{kind}` frame: {frame}")
                }
                Received::Json(frame) => self.pending.push_back(frame),
                Received::Closed(_) => return,
            }
        }
    }

    /// The frames kept so far (passed over by earlier calls), taken out.
    pub fn take_kept(&mut self) -> Vec<Value> {
        self.pending.drain(..).collect()
    }

    /// Reads until the server closes (within `within`); the frames before the close, and
    /// its code.
    pub async fn until_closed(&mut self, within: Duration) -> (Vec<Value>, Option<u16>) {
        let until = Instant::now() + within;
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        while let Some(received) = self.read(until).await {
            match received {
                Received::Json(frame) => frames.push(frame),
                Received::Closed(code) => return (frames, code),
            }
        }
        panic!("the server did not close within {within:?}; frames: {frames:?}")
    }

    /// Sends `ping` and waits for the `pong`: the session is open and answering.
    pub async fn assert_answers_ping(&mut self) {
        self.send_json(&json!({"type": "ping"})).await;
        self.next_of_type("pong", SETTLE).await;
    }
}

/// The close code of a revoked or expired share link (live protocol).
pub const CLOSE_REVOKED: u16 = 4403;

/// The keys of a JSON object, sorted.
pub fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("an object: {object}"))
        .keys()
        .cloned()
        .collect()
}

/// A sample with a fix and every reading, published, and applied to the pet's state (as its
/// owner reads it). Returns the sample.
pub async fn publish_full_sample(
    app: &TestApp,
    owner: &TestUser,
    collar: &TestCollar,
    seq: u64,
    (lat, lon): (f64, f64),
) -> Value {
    let extra = json!({"hr": 96, "temp": 38.6, "bat": 83, "steps": 41, "act": "walk"});
    let sample = collar.sample(seq, lat, lon, 4.5, extra);
    collar.publish_sample(&sample).await;
    let ts = sample["ts"].clone();
    let (app, pet_id) = (app, collar.pet_id.as_str());
    poll_until("the sample to be applied", SETTLE, || {
        let ts = ts.clone();
        async move {
            let state = app.pet_state(owner, pet_id).await;
            if state["last_seen"] == ts {
                Ok(())
            } else {
                Err(format!("state {state}"))
            }
        }
    })
    .await;
    sample
}

/// `GET /v1/share/{token}`, expecting 200.
pub async fn shared_view(app: &TestApp, token: &str) -> Value {
    expect_json(app.shared(token).await, StatusCode::OK).await
}
