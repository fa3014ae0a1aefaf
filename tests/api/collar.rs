//! A test collar (an MQTT client that publishes like a collar and receives its commands) and
//! a live-protocol WebSocket client, both talking to a real server through real transports.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::rt::task::JoinHandle;
use actix_web::rt::time::timeout;
use awc::error::{WsClientError, WsProtocolError};
use awc::ws::{Frame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use reqwest::StatusCode;
use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::{
    expect_json, poll_until, string_at, unique_serial, unique_suffix, TestApp, TestUser,
};

/// Long enough for anything asynchronous to happen on a loaded test machine.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(500);

/// The Last Will every real collar sets on its status topic.
pub const WILL: &str = r#"{"v":1,"online":false}"#;

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One MQTT connection acting as the collar `serial`: it publishes at QoS 1, counts the
/// broker's PUBACKs, and collects the commands the server sends on its `cmd` topic.
pub struct CollarLink {
    pub serial: String,
    prefix: String,
    client: AsyncClient,
    published: AtomicUsize,
    acked: Arc<AtomicUsize>,
    commands: mpsc::UnboundedReceiver<Value>,
    event_loop: JoinHandle<()>,
}

impl CollarLink {
    /// Connects to the broker of `app` as `serial`, under the app's topic prefix.
    pub async fn connect(app: &TestApp, serial: &str, will: bool) -> CollarLink {
        Self::connect_to(
            app.settings.mqtt_url.expose_secret(),
            &app.settings.mqtt_topic_prefix,
            serial,
            will,
        )
        .await
    }

    /// Connects to the broker at `broker_url` (the server's setting: only host and port
    /// are used) with a clean session and a client id of its own, subscribes to the
    /// collar's `cmd` topic and waits until the broker confirmed that subscription.
    /// With `will`, the connection carries the collar's retained Last Will.
    pub async fn connect_to(
        broker_url: &str,
        prefix: &str,
        serial: &str,
        will: bool,
    ) -> CollarLink {
        let broker = url::Url::parse(broker_url)
            .unwrap_or_else(|e| panic!("the broker setting is a URL ({e}): {broker_url}"));
        let host = broker.host_str().unwrap_or("127.0.0.1").to_string();
        let port = broker.port().unwrap_or(1883);
        let client_id = format!("test-collar-{}", Uuid::new_v4().simple());
        let mut options = MqttOptions::new(client_id, host, port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(true)
            .set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
        let status_topic = format!("{prefix}/collars/{serial}/status");
        if will {
            options.set_last_will(LastWill::new(
                status_topic,
                WILL.as_bytes().to_vec(),
                QoS::AtLeastOnce,
                true,
            ));
        }
        let (client, mut event_loop) = AsyncClient::new(options, 1000);
        let acked = Arc::new(AtomicUsize::new(0));
        let subscribed = Arc::new(AtomicUsize::new(0));
        let (command_tx, commands) = mpsc::unbounded_channel();
        let cmd_topic = format!("{prefix}/collars/{serial}/cmd");
        let task = {
            let (acked, subscribed, cmd_topic) = (
                Arc::clone(&acked),
                Arc::clone(&subscribed),
                cmd_topic.clone(),
            );
            actix_web::rt::spawn(async move {
                loop {
                    match event_loop.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            subscribed.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::Publish(publish)))
                            if publish.topic == cmd_topic =>
                        {
                            let command =
                                serde_json::from_slice(&publish.payload).unwrap_or_else(|_| {
                                    Value::String(
                                        String::from_utf8_lossy(&publish.payload).into_owned(),
                                    )
                                });
                            let _ = command_tx.send(command);
                        }
                        Ok(_) => {}
                        Err(ConnectionError::RequestsDone) => return,
                        // The broker is away: rumqttc reconnects on the next poll.
                        Err(_) => actix_web::rt::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        client
            .subscribe(cmd_topic, QoS::AtLeastOnce)
            .await
            .expect("the MQTT client takes a subscription");
        let subscribed = &subscribed;
        poll_until(
            "the broker to confirm the cmd subscription",
            SETTLE,
            || async move {
                match subscribed.load(Ordering::SeqCst) {
                    0 => Err("no SUBACK yet".to_string()),
                    _ => Ok(()),
                }
            },
        )
        .await;
        CollarLink {
            serial: serial.to_string(),
            prefix: prefix.to_string(),
            client,
            published: AtomicUsize::new(0),
            acked,
            commands,
            event_loop: task,
        }
    }

    /// `{prefix}/collars/{serial}/{channel}`.
    pub fn topic(&self, channel: &str) -> String {
        format!("{}/collars/{}/{channel}", self.prefix, self.serial)
    }

    /// Publishes raw bytes at QoS 1 on one of the collar's channels (`telemetry`, `voice`,
    /// `status`, `cmd/ack`). Returns once the message is queued for the broker.
    pub async fn send_raw(&self, channel: &str, payload: impl Into<Vec<u8>>) {
        self.publish(channel, false, payload.into()).await;
    }

    /// Publishes a retained message (the collar's status).
    pub async fn send_retained(&self, channel: &str, payload: impl Into<Vec<u8>>) {
        self.publish(channel, true, payload.into()).await;
    }

    async fn publish(&self, channel: &str, retain: bool, payload: Vec<u8>) {
        self.client
            .publish(self.topic(channel), QoS::AtLeastOnce, retain, payload)
            .await
            .expect("the MQTT client queues a publish");
        self.published.fetch_add(1, Ordering::SeqCst);
    }

    /// Publishes one JSON document on the telemetry topic.
    pub async fn publish_sample(&self, sample: &Value) {
        self.send_raw("telemetry", sample.to_string()).await;
    }

    /// Waits until the broker acknowledged (PUBACK) everything published so far.
    pub async fn flushed(&self) {
        let link = self;
        poll_until(
            "the broker to acknowledge every publish",
            SETTLE,
            || async move {
                let (acked, published) = (
                    link.acked.load(Ordering::SeqCst),
                    link.published.load(Ordering::SeqCst),
                );
                if acked >= published {
                    Ok(())
                } else {
                    Err(format!("{acked} of {published} acknowledged"))
                }
            },
        )
        .await;
    }

    /// The next command the server sent to this collar.
    pub async fn next_command(&mut self, within: Duration) -> Value {
        match timeout(within, self.commands.recv()).await {
            Ok(Some(command)) => command,
            Ok(None) => panic!("the collar's MQTT event loop stopped"),
            Err(_) => panic!(
                "no command reached collar {} within {within:?}",
                self.serial
            ),
        }
    }

    /// Fails if the server sends this collar a command within `window`.
    pub async fn expect_no_command(&mut self, window: Duration) {
        if let Ok(Some(command)) = timeout(window, self.commands.recv()).await {
            panic!(
                "collar {} got a command it should not have: {command}",
                self.serial
            );
        }
    }

    /// Kills the connection without an MQTT DISCONNECT, as a collar that loses power or
    /// signal: the socket closes and the broker publishes the Last Will.
    pub fn drop_connection(&self) {
        self.event_loop.abort();
    }
}

impl Drop for CollarLink {
    fn drop(&mut self) {
        self.event_loop.abort();
    }
}

/// A provisioned collar paired to a new pet of its owner, connected to the broker.
pub struct TestCollar {
    pub serial: String,
    pub pet_id: String,
    pub link: CollarLink,
    last_ts: AtomicI64,
}

impl TestCollar {
    /// Provisions a collar, pairs it to a new dog of `owner` and connects it.
    pub async fn paired(app: &TestApp, owner: &TestUser) -> TestCollar {
        Self::paired_with(app, owner, false).await
    }

    /// As [`TestCollar::paired`], with the collar's Last Will set on its connection.
    pub async fn paired_with_will(app: &TestApp, owner: &TestUser) -> TestCollar {
        Self::paired_with(app, owner, true).await
    }

    async fn paired_with(app: &TestApp, owner: &TestUser, will: bool) -> TestCollar {
        let pet = app
            .create_pet(owner, &format!("Rex-{}", unique_suffix()))
            .await;
        let pet_id = string_at(&pet, "/id");
        let serial = unique_serial();
        let code = app.provision_collar(&serial).await;
        let pairing = app.pair_collar(owner, &pet_id, &serial, &code).await;
        expect_json(pairing, StatusCode::OK).await;
        TestCollar {
            link: CollarLink::connect(app, &serial, will).await,
            serial,
            pet_id,
            last_ts: AtomicI64::new(0),
        }
    }

    /// A sample time that is now and later than every one this collar gave before, so
    /// each sample is the newest (a sample no newer than the newest is a late one).
    pub fn next_ts(&self) -> i64 {
        let now = now_ms();
        let previous = self
            .last_ts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always succeeds");
        now.max(previous + 1)
    }

    /// A sample with a fix, taken now; `extra` (an object) adds or overrides fields.
    pub fn sample(&self, seq: u64, lat: f64, lon: f64, acc: f64, extra: Value) -> Value {
        let mut sample = self.reading(seq, extra.clone());
        for (key, value) in [
            ("lat", json!(lat)),
            ("lon", json!(lon)),
            ("acc", json!(acc)),
        ] {
            if extra.get(key).is_none() {
                sample[key] = value;
            }
        }
        sample
    }

    /// A sample without a fix, taken now; `extra` (an object) adds or overrides fields.
    pub fn reading(&self, seq: u64, extra: Value) -> Value {
        let mut sample = json!({"v": 1, "seq": seq, "ts": self.next_ts()});
        if let Value::Object(fields) = extra {
            for (key, value) in fields {
                sample[key] = value;
            }
        }
        sample
    }

    pub async fn publish_sample(&self, sample: &Value) {
        self.link.publish_sample(sample).await;
    }

    pub async fn send_raw(&self, channel: &str, payload: impl Into<Vec<u8>>) {
        self.link.send_raw(channel, payload).await;
    }
}

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
