//! How a session writes to its socket without letting a slow client grow memory: while
//! fewer than [`SEND_BUFFER_HIGH`] bytes are untaken it writes at once; past that it holds
//! frames back in its [`Outbox`] (states coalesced per pet), flushes them as the client
//! catches up, and closes a client that stays behind for [`SLOW_CLIENT_TIMEOUT`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::clock::Instant;
use actix::{ActorContext, AsyncContext};
use actix_web_actors::ws;

use super::frames::{state_frame, OutFrame, ServerMessage};
use super::outbox::Outbox;
use super::UserSession;
use crate::actors::events::LiveState;
use crate::ids::PetId;

/// Unsent bytes above which frames are held back in the outbox instead of written.
pub const SEND_BUFFER_HIGH: usize = 64 * 1024;
/// How often held-back frames are retried while the client catches up.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A client whose unsent bytes stay above [`SEND_BUFFER_HIGH`] this long is closed.
pub const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

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

    fn mark_slow(&self) {
        self.0.slow.store(true, Ordering::Relaxed);
    }
}

/// Something to send, as the outbox holds it.
pub(super) enum Outgoing {
    Frame(OutFrame),
    Alert(OutFrame),
    State(PetId, Arc<LiveState>),
}

/// An `error` frame to send.
pub(super) fn error(code: &'static str, message: String) -> Outgoing {
    Outgoing::Frame(ServerMessage::error(code, message).frame())
}

/// Wire size of a server frame (unmasked) with this payload, exactly as the codec writes it.
pub(super) fn wire_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    header + payload
}

impl UserSession {
    /// The counter the session's outgoing stream must feed.
    pub fn meter(&self) -> SendMeter {
        self.meter.clone()
    }

    /// Bytes written but not yet taken by the HTTP layer.
    fn backlog(&self) -> usize {
        self.written.saturating_sub(self.meter.sent())
    }

    /// Notes whether the client is behind, and since when; returns the backlog.
    pub(super) fn observe(&mut self) -> usize {
        let backlog = self.backlog();
        if backlog < SEND_BUFFER_HIGH {
            self.congested_since = None;
        } else if self.congested_since.is_none() {
            self.congested_since = Some(Instant::now());
        }
        backlog
    }

    pub(super) fn write(&mut self, ctx: &mut ws::WebsocketContext<Self>, frame: OutFrame) {
        self.written = self.written.wrapping_add(wire_len(frame.text.len()));
        metrics::counter!("pettysync_ws_frames_sent_total", "type" => frame.kind).increment(1);
        ctx.text(frame.text);
    }

    /// Writes at once while the client keeps up; else holds back (states coalesced per pet)
    /// and makes sure the flush timer runs.
    pub(super) fn deliver(&mut self, ctx: &mut ws::WebsocketContext<Self>, item: Outgoing) {
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

    pub(super) fn close(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        reason: Option<ws::CloseReason>,
    ) {
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
        self.meter.mark_slow();
        let reason = (ws::CloseCode::Policy, "client too slow".to_owned());
        self.close(ctx, Some(reason.into()));
    }

    /// Pings the client, or closes it when it has been silent for too long.
    pub(super) fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() >= super::CLIENT_TIMEOUT {
            tracing::debug!(session = %self.id, "no answer to pings; closing");
            let reason = (ws::CloseCode::Policy, "no answer to pings".to_owned());
            return self.close(ctx, Some(reason.into()));
        }
        self.written = self.written.wrapping_add(wire_len(0));
        ctx.ping(b"");
    }

    /// Answers a client's ping, unless it is this far behind: a pong may be skipped
    /// (RFC 6455 §5.5.3).
    pub(super) fn pong(&mut self, ctx: &mut ws::WebsocketContext<Self>, payload: &[u8]) {
        if self.observe() < SEND_BUFFER_HIGH {
            self.written = self.written.wrapping_add(wire_len(payload.len()));
            ctx.pong(payload);
        }
    }

    /// Drops whatever is held back: nothing more of it may be shown.
    pub(super) fn drop_pending(&mut self) {
        self.outbox = Outbox::new(self.viewer.share().map(|link| link.view));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::actors::session::outbox::MAX_PENDING_ALERTS;
    use crate::actors::session::testing::{alert, alert_times, close_code, Client, PING};
    use crate::actors::session::{CLIENT_TIMEOUT, HEARTBEAT_INTERVAL};

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
        for at in 0..=MAX_PENDING_ALERTS as i64 {
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
}
