//! One live-protocol WebSocket, and the upgrades a server refuses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use awc::error::{WsClientError, WsProtocolError};
use awc::ws::{Frame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};

use super::*;

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

/// One live-protocol WebSocket. Frames that a `next_*` call passes over are kept for the
/// next calls, so nothing the server sent is lost to the order in which a test asks.
pub struct LiveSocket {
    framed: Box<dyn Frames>,
    pending: VecDeque<Value>,
    /// The server's first frame.
    pub hello: Value,
}

impl LiveSocket {
    /// Opens `/v1/ws` with `user`'s bearer token and reads the `hello`.
    pub async fn open(app: &TestApp, user: &TestUser) -> LiveSocket {
        let request = awc::Client::new()
            .ws(app.url("/v1/ws"))
            .bearer_auth(&user.access_token);
        Self::opened(request.connect().await).await
    }

    /// Opens `/v1/ws?ticket=…` and reads the `hello`.
    pub async fn open_with_ticket(app: &TestApp, ticket: &str) -> LiveSocket {
        let request = awc::Client::new().ws(ticket_url(app, ticket));
        Self::opened(request.connect().await).await
    }

    async fn opened(
        connected: Result<(awc::ClientResponse, impl Frames + 'static), WsClientError>,
    ) -> LiveSocket {
        let (response, framed) = connected.unwrap_or_else(|e| panic!("the WebSocket opens: {e}"));
        assert_eq!(response.status().as_u16(), 101, "the upgrade is accepted");
        let mut socket = LiveSocket {
            framed: Box::new(framed),
            pending: VecDeque::new(),
            hello: Value::Null,
        };
        socket.hello = socket.next_of_type("hello", SETTLE).await;
        socket
    }

    pub async fn send_json(&mut self, message: &Value) {
        self.send_text(message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("the socket takes a frame");
    }

    /// Subscribes to `pet_ids`.
    pub async fn subscribe(&mut self, pet_ids: &[&str]) {
        self.send_json(&json!({"type": "subscribe", "pet_ids": pet_ids}))
            .await;
    }

    /// The next JSON frame, answering pings on the way; `None` once `until` has passed.
    async fn read(&mut self, until: Instant) -> Option<Value> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let frame = match timeout(left, self.framed.next()).await {
                Err(_) => return None,
                Ok(None) => panic!(
                    "the server closed the WebSocket; unread: {:?}",
                    self.pending
                ),
                Ok(Some(Err(e))) => panic!("WebSocket protocol error: {e}"),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Frame::Text(bytes) => {
                    return Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        panic!("a frame is JSON ({e}): {}", String::from_utf8_lossy(&bytes))
                    }))
                }
                Frame::Ping(payload) => self
                    .framed
                    .send(Message::Pong(payload))
                    .await
                    .expect("the socket takes a pong"),
                Frame::Close(reason) => panic!("the server closed the WebSocket: {reason:?}"),
                Frame::Binary(_) | Frame::Continuation(_) | Frame::Pong(_) => {}
            }
        }
    }

    /// The first frame, kept or new, that `matches`; kept frames that `skip` says are
    /// superseded are dropped on the way.
    async fn take(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
        skip: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(at) = self.pending.iter().position(&matches) {
            let frame = self.pending.remove(at).expect("the position is valid");
            self.pending.retain(|f| !skip(f));
            return frame;
        }
        self.pending.retain(|f| !skip(f));
        let until = Instant::now() + within;
        while let Some(frame) = self.read(until).await {
            if matches(&frame) {
                return frame;
            }
            if !skip(&frame) {
                self.pending.push_back(frame);
            }
        }
        panic!(
            "no {what} within {within:?}; other frames: {:?}",
            self.pending
        )
    }

    /// The next frame of `kind` (`state`, `alert`, `error`, `pong`, …).
    pub async fn next_of_type(&mut self, kind: &str, within: Duration) -> Value {
        self.take(
            &format!("`{kind}` frame"),
            within,
            |f| f["type"] == kind,
            |_| false,
        )
        .await
    }

    /// The next `state` of `pet_id` that `accept` likes; older states of it are skipped.
    pub async fn next_state(
        &mut self,
        pet_id: &str,
        what: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let of_pet = |f: &Value| f["type"] == "state" && f["pet_id"] == pet_id;
        self.take(what, SETTLE, |f| of_pet(f) && accept(&f["state"]), of_pet)
            .await
    }

    /// The next state of `pet_id` that shows `sample` as the newest one applied.
    pub async fn next_state_with(&mut self, pet_id: &str, sample: &Value) -> Value {
        let ts = sample["ts"].as_i64().expect("a sample has a ts");
        self.next_state(pet_id, &format!("a state with sample ts {ts}"), |state| {
            state["last_seen"].as_i64() == Some(ts)
        })
        .await
    }

    /// The next `alert` frame of `kind` for `pet_id`.
    pub async fn next_alert(&mut self, pet_id: &str, kind: &str) -> Value {
        self.take(
            &format!("`{kind}` alert"),
            SETTLE,
            |f| f["type"] == "alert" && f["pet_id"] == pet_id && f["alert"]["kind"] == kind,
            |_| false,
        )
        .await
    }

    /// Fails if a frame of `kind` is kept or arrives within `window`.
    pub async fn expect_no_frame_of_type(&mut self, kind: &str, window: Duration) {
        self.expect_no_frame(&format!("`{kind}` frame"), window, |f| f["type"] == kind)
            .await;
    }

    /// Fails if an alert of one of `kinds` for `pet_id` is kept or arrives within `window`.
    pub async fn expect_no_alert(&mut self, pet_id: &str, kinds: &[&str], window: Duration) {
        let unwanted = |f: &Value| {
            f["type"] == "alert"
                && f["pet_id"] == pet_id
                && kinds.iter().any(|kind| f["alert"]["kind"] == *kind)
        };
        self.expect_no_frame(&format!("{kinds:?} alert"), window, unwanted)
            .await;
    }

    /// Fails if a frame that `unwanted` picks is kept or arrives within `window`.
    pub async fn expect_no_frame(
        &mut self,
        what: &str,
        window: Duration,
        unwanted: impl Fn(&Value) -> bool,
    ) {
        let until = Instant::now() + window;
        loop {
            if let Some(frame) = self.pending.iter().find(|f| unwanted(f)) {
                panic!("unexpected {what}: {frame}");
            }
            match self.read(until).await {
                Some(frame) => self.pending.push_back(frame),
                None => return,
            }
        }
    }
}

/// `/v1/ws?ticket=…` with the ticket escaped.
pub fn ticket_url(app: &TestApp, ticket: &str) -> String {
    let mut url = url::Url::parse(&app.url("/v1/ws")).expect("the app's address is a URL");
    url.query_pairs_mut().append_pair("ticket", ticket);
    url.to_string()
}

/// The HTTP status with which the server refused a WebSocket upgrade.
pub async fn refused_upgrade(request: awc::ws::WebsocketsRequest) -> u16 {
    match request.connect().await {
        Err(WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok((response, _)) => panic!("the upgrade went through: {}", response.status()),
    }
}
