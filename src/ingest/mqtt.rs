//! The server's MQTT connection. The event loop only polls and forwards: it hands each
//! collar message to the ingest pipeline over a bounded channel and never does the work
//! itself (rumqttc: "don't block this while iterating").
//!
//! The server speaks MQTT 5 so that the broker honours *our* Receive Maximum: a stock
//! Mosquitto lets an MQTT 3.1.1 subscriber have only 20 QoS 1 messages unacknowledged
//! (`max_inflight_messages`) and queues 1 000 more before it drops messages, which caps an
//! ack-after-store server far below its store's rate and loses bursts. With MQTT 5 the
//! window is `PETTYSYNC_MQTT_RECEIVE_MAXIMUM` (up to 65 535), and the session survives a
//! restart for `PETTYSYNC_MQTT_SESSION_EXPIRY_S`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{ConnectProperties, Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::Outgoing;
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::cluster::NodeId;
use crate::config::Settings;
pub use crate::domain::ack::{AckToken, Acknowledge};

/// Requests (publishes, acks, subscribes) queued for the event loop before callers wait.
const REQUEST_CHANNEL_CAPACITY: usize = 10_000;
/// Payload bytes taken from the broker and not yet handled (forwarded, parked or being
/// stored beside ingest). The broker's flow control bounds how many messages we hold (our
/// Receive Maximum); this bounds their bytes, so a run of voice clips cannot fill memory
/// where a run of samples would not. Only when it is spent does the event loop wait.
pub const INGEST_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// First wait after the broker is lost; doubled per failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest packet the broker may send us (MQTT 5 Maximum Packet Size). Above the largest
/// message the collar protocol allows (a 640 KiB voice clip), so a message that is too large
/// for its channel still arrives and is dead-lettered as `too_large`; the broker discards
/// what is larger still for this session, and never breaks our connection with it.
pub const MAX_PACKET_BYTES: u32 = 2 * 1024 * 1024;

/// A collar message taken from the broker. It holds its payload's share of
/// [`INGEST_QUEUE_BYTES`] until it is dropped.
pub struct Inbound {
    pub publish: Publish,
    _budget: OwnedSemaphorePermit,
}

impl Inbound {
    /// The topic, when it is UTF-8 (MQTT requires it; a broker could still pass junk).
    pub fn topic(&self) -> Option<&str> {
        std::str::from_utf8(&self.publish.topic).ok()
    }
}

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

    /// Sends the queued acknowledgements, then disconnects cleanly, waiting at most `wait`.
    pub async fn disconnect(&self, event_loop: JoinHandle<()>, wait: Duration) {
        let close = async {
            // Queued behind the acknowledgements, which go out first.
            let _ = self.client.disconnect().await;
            let _ = event_loop.await;
        };
        if tokio::time::timeout(wait, close).await.is_err() {
            tracing::warn!("MQTT disconnect timed out");
        }
    }
}

/// Acknowledges messages to the broker without making the caller wait: when the client's
/// request queue is full (the event loop is busy handing messages to ingest), the
/// acknowledgement waits for room in its own task. Those tasks are bounded by the messages
/// taken but not yet acknowledged, which the broker's window (our Receive Maximum) caps.
#[derive(Clone)]
pub struct Acker {
    client: AsyncClient,
}

impl Acker {
    pub fn new(client: AsyncClient) -> Self {
        Self { client }
    }

    /// Acknowledges the message this token stands for.
    pub fn ack(&self, token: AckToken) {
        Acknowledge::ack(self, token)
    }
}

impl Acknowledge for Acker {
    fn ack(&self, token: AckToken) {
        let mut stub = Publish::new("", token.qos, Vec::new(), None);
        stub.pkid = token.pkid;
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

/// Parses the broker URL. The session's client id is the URL's `client_id` and the node id
/// (`{client_id}-{node}`): it names this node to the broker, the same across restarts, so
/// its session is kept (QoS 1 messages that arrive while it is away wait at the broker), and
/// each node of a cluster has its own.
pub fn options(
    settings: &Settings,
    node: &NodeId,
) -> Result<MqttOptions, rumqttc::v5::OptionError> {
    let url = with_client_id(settings.mqtt_url.expose_secret(), node, "")
        .map_err(|_| rumqttc::v5::OptionError::ClientId)?;
    let mut options = MqttOptions::parse_url(url)?;
    options.set_keep_alive(Duration::from_secs(settings.mqtt_keep_alive_s));
    options.set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    options.set_clean_start(false);
    options.set_manual_acks(true);
    let mut properties = options
        .connect_properties()
        .unwrap_or_else(ConnectProperties::new);
    properties.receive_maximum = Some(settings.mqtt_receive_maximum);
    properties.max_packet_size = Some(MAX_PACKET_BYTES);
    // MQTT 5 ends a session with its connection unless it is given an expiry.
    properties.session_expiry_interval = Some(settings.mqtt_session_expiry_s);
    options.set_connect_properties(properties);
    Ok(options)
}

/// The broker URL with its `client_id` made this node's: `{client_id}-{node}{suffix}` (the
/// node id's `:` as `-`; `pettysync` when the URL names no client id).
pub fn with_client_id(raw: &str, node: &NodeId, suffix: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(raw)?;
    let base = url
        .query_pairs()
        .find(|(key, _)| key == "client_id")
        .map_or_else(|| "pettysync".to_owned(), |(_, id)| id.into_owned());
    let client_id = format!("{base}-{}{suffix}", node.as_str().replace(':', "-"));
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("client_id", &client_id);
    Ok(url.into())
}

/// The collar topics the server subscribes to: through the shared subscription `group`
/// (`$share/{group}/…`, so each message reaches one node of the cluster), or plainly when
/// `group` is empty.
pub fn subscriptions(prefix: &str, group: &str) -> Vec<String> {
    ["telemetry", "voice", "status", "cmd/ack"]
        .iter()
        .map(|channel| match group {
            "" => format!("{prefix}/collars/+/{channel}"),
            group => format!("$share/{group}/{prefix}/collars/+/{channel}"),
        })
        .collect()
}

/// Room for the messages the pipeline has not taken yet: the whole window the broker may
/// fill (our Receive Maximum). Sending into it then never waits, so the event loop keeps
/// reading the socket while the stores are slow: pings are answered, and the backlog waits
/// at the broker, under its flow control, rather than in the socket where a ping response
/// would queue behind it and the connection would be dropped as dead.
pub fn ingest_queue(settings: &Settings) -> usize {
    usize::from(settings.mqtt_receive_maximum)
}

/// Starts the connection; it reconnects with backoff until `disconnect`.
pub fn connect(
    settings: &Settings,
    node: &NodeId,
    forward: mpsc::Sender<Inbound>,
) -> anyhow::Result<(MqttLink, JoinHandle<()>)> {
    let (client, eventloop) = AsyncClient::new(options(settings, node)?, REQUEST_CHANNEL_CAPACITY);
    let (tx, rx) = watch::channel(false);
    let intake = Arc::new(AtomicBool::new(true));
    let driver = Driver {
        client: client.clone(),
        connected: tx,
        forward,
        budget: Arc::new(Semaphore::new(INGEST_QUEUE_BYTES)),
        intake: intake.clone(),
        topics: subscriptions(&settings.mqtt_topic_prefix, &settings.mqtt_share_group),
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
    forward: mpsc::Sender<Inbound>,
    budget: Arc<Semaphore>,
    intake: Arc<AtomicBool>,
    topics: Vec<String>,
}

impl Driver {
    async fn run(self, mut eventloop: EventLoop) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                    let window = connack.properties.as_ref().and_then(|p| p.receive_max);
                    tracing::info!(
                        session_present = connack.session_present,
                        broker_receive_maximum = ?window,
                        "connected to the MQTT broker"
                    );
                    metrics::counter!("pettysync_mqtt_connections_total").increment(1);
                    self.connected.send_replace(true);
                    backoff = MIN_BACKOFF;
                    self.subscribe();
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if !self.intake.load(Ordering::SeqCst) {
                        continue;
                    }
                    let bytes = publish.payload.len().clamp(1, INGEST_QUEUE_BYTES) as u32;
                    let Ok(budget) = self.budget.clone().acquire_many_owned(bytes).await else {
                        return;
                    };
                    let inbound = Inbound {
                        publish,
                        _budget: budget,
                    };
                    if self.forward.send(inbound).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    self.connected.send_replace(false);
                    return;
                }
                Ok(event) => count_event(&event),
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

/// Counts the packets that go by, so a stall shows where it is (acknowledgements that do
/// not go out, commands the broker does not take).
fn count_event(event: &Event) {
    let kind = match event {
        Event::Outgoing(Outgoing::PubAck(_)) => "puback_out",
        Event::Outgoing(Outgoing::Publish(_)) => "publish_out",
        Event::Outgoing(Outgoing::AwaitAck(_)) => "collision",
        Event::Incoming(Packet::PubAck(_)) => "puback_in",
        _ => return,
    };
    metrics::counter!("pettysync_mqtt_packets_total", "kind" => kind).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rumqttc_takes_the_least_keep_alive_the_settings_allow() {
        let settings = Settings::defaults_with("mqtt_keep_alive_s", 5).expect("5 s is valid");
        options(&settings, &node()).expect("rumqttc takes it");
    }

    fn node() -> NodeId {
        NodeId::parse("host-a:8080").unwrap()
    }

    #[test]
    fn each_node_has_its_own_session_named_after_it() {
        let settings = Settings::defaults_with("mqtt_keep_alive_s", 5).unwrap();
        let options = options(&settings, &node()).unwrap();
        assert_eq!(options.client_id(), "pettysync-1-host-a-8080");
        let url = "mqtt://broker:1883?keep_alive_secs=5&client_id=fleet";
        let command = with_client_id(url, &node(), "-cmd").unwrap();
        assert!(
            command.ends_with("keep_alive_secs=5&client_id=fleet-host-a-8080-cmd"),
            "{command}"
        );
    }

    #[test]
    fn nodes_read_collar_topics_through_one_shared_subscription() {
        let shared = subscriptions("ps", "pettysync");
        assert_eq!(shared[0], "$share/pettysync/ps/collars/+/telemetry");
        assert_eq!(shared.len(), 4);
        assert_eq!(subscriptions("ps", "")[3], "ps/collars/+/cmd/ack");
    }

    #[test]
    fn the_ingest_queue_holds_the_whole_broker_window() {
        let settings = Settings::defaults_with("mqtt_receive_maximum", 500).expect("a window");
        assert_eq!(ingest_queue(&settings), 500);
    }
}
