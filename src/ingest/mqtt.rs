//! The server's MQTT connection. The event loop only polls and forwards: it hands each
//! collar message to the ingest pipeline over a bounded channel and never does the work
//! itself (rumqttc: "don't block this while iterating").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Settings;

/// Requests (publishes, acks, subscribes) queued for the event loop before callers wait.
/// Larger than any broker's in-flight window, so acknowledgements always find room.
const REQUEST_CHANNEL_CAPACITY: usize = 10_000;
/// Messages forwarded to the pipeline and not yet taken; when full, the event loop waits,
/// stops reading the socket, and the broker holds the rest.
pub const INGEST_QUEUE: usize = 1024;
/// First wait after the broker is lost; doubled per failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Largest packet accepted from the broker: a 500-sample batch or a voice clip, with room.
const MAX_PACKET_BYTES: usize = 512 * 1024;
/// How long shutdown waits for the broker to take our last acknowledgements.
const DISCONNECT_WAIT: Duration = Duration::from_secs(5);

/// The cloneable side of the connection, and whether the broker is reachable now.
#[derive(Clone)]
pub struct MqttLink {
    pub client: AsyncClient,
    connected: watch::Receiver<bool>,
    intake: Arc<AtomicBool>,
}

impl MqttLink {
    /// True while the broker has acknowledged our connection.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Stops forwarding new messages (shutdown): what is not forwarded is not acknowledged,
    /// so the broker keeps it for the next start.
    pub fn stop_intake(&self) {
        self.intake.store(false, Ordering::SeqCst);
    }

    /// Sends the queued acknowledgements, then disconnects cleanly.
    pub async fn disconnect(&self, event_loop: JoinHandle<()>) {
        let _ = self.client.disconnect().await;
        if tokio::time::timeout(DISCONNECT_WAIT, event_loop)
            .await
            .is_err()
        {
            tracing::warn!("MQTT disconnect timed out");
        }
    }
}

/// Acknowledges messages to the broker without making the caller wait: when the client's
/// request queue is full (the event loop is busy handing messages to ingest), the
/// acknowledgement waits for room in its own task. Those tasks are bounded by the messages
/// taken but not yet acknowledged, which ingest back-pressure caps (persistence's
/// `MAX_BUFFERED` plus `INGEST_QUEUE`); brokers' in-flight windows do not reliably bound
/// them (Mosquitto 2.0 sent 12 000 unacknowledged messages with a window of 1 000).
#[derive(Clone)]
pub struct Acker {
    client: AsyncClient,
}

impl Acker {
    pub fn new(client: AsyncClient) -> Self {
        Self { client }
    }

    /// Acknowledges the message with this packet id.
    pub fn ack(&self, pkid: u16, qos: QoS) {
        let mut stub = Publish::new("", qos, Vec::new());
        stub.pkid = pkid;
        if self.client.try_ack(&stub).is_ok() {
            return;
        }
        metrics::counter!("pettysync_mqtt_ack_deferred_total").increment(1);
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.ack(&stub).await {
                // The client is gone (shutdown): the broker redelivers after the next
                // connect, and the duplicate is skipped.
                metrics::counter!("pettysync_mqtt_ack_failures_total").increment(1);
                tracing::warn!(%error, "could not acknowledge a message");
            }
        });
    }
}

/// Parses the broker URL (its `client_id` names this server to the broker, and keeps its
/// session: QoS 1 messages that arrive while it is away wait at the broker).
pub fn options(settings: &Settings) -> Result<MqttOptions, rumqttc::OptionError> {
    let mut options = MqttOptions::parse_url(settings.mqtt_url.expose_secret())?;
    options.set_keep_alive(KEEP_ALIVE);
    options.set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    options.set_clean_session(false);
    options.set_manual_acks(true);
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    Ok(options)
}

/// The collar topics the server subscribes to.
pub fn subscriptions(prefix: &str) -> Vec<String> {
    ["telemetry", "voice", "status", "cmd/ack"]
        .iter()
        .map(|channel| format!("{prefix}/collars/+/{channel}"))
        .collect()
}

/// Starts the connection; it reconnects with backoff until `disconnect`.
pub fn connect(
    settings: &Settings,
    forward: mpsc::Sender<Publish>,
) -> anyhow::Result<(MqttLink, JoinHandle<()>)> {
    let (client, eventloop) = AsyncClient::new(options(settings)?, REQUEST_CHANNEL_CAPACITY);
    let (tx, rx) = watch::channel(false);
    let intake = Arc::new(AtomicBool::new(true));
    let driver = Driver {
        client: client.clone(),
        connected: tx,
        forward,
        intake: intake.clone(),
        topics: subscriptions(&settings.mqtt_topic_prefix),
    };
    let task = tokio::spawn(driver.run(eventloop));
    Ok((
        MqttLink {
            client,
            connected: rx,
            intake,
        },
        task,
    ))
}

struct Driver {
    client: AsyncClient,
    connected: watch::Sender<bool>,
    forward: mpsc::Sender<Publish>,
    intake: Arc<AtomicBool>,
    topics: Vec<String>,
}

impl Driver {
    async fn run(self, mut eventloop: EventLoop) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("connected to the MQTT broker");
                    self.connected.send_replace(true);
                    backoff = MIN_BACKOFF;
                    self.subscribe();
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if self.intake.load(Ordering::SeqCst)
                        && self.forward.send(publish).await.is_err()
                    {
                        return;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    self.connected.send_replace(false);
                    return;
                }
                Ok(_) => {}
                Err(error) => {
                    if self.connected.send_replace(false) {
                        tracing::warn!(%error, "lost the MQTT broker; reconnecting");
                    } else {
                        tracing::debug!(%error, ?backoff, "MQTT broker still unreachable");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// (Re)subscribes after every connect: harmless when the session kept the subscriptions.
    fn subscribe(&self) {
        for topic in &self.topics {
            if let Err(error) = self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                tracing::error!(%error, topic, "could not subscribe");
            }
        }
    }
}
