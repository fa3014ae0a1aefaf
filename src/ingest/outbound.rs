//! The connection commands go out on: a second MQTT client, apart from the ingest one.
//!
//! A client's outgoing QoS 1 publishes are flow-controlled by the broker (Mosquitto lets an
//! MQTT 5 client have 20 unacknowledged), and rumqttc takes no request, acknowledgements
//! included, while its publishes are at that limit. On the ingest connection a burst of
//! commands (every watched collar switching to live mode at once) therefore held back the
//! acknowledgements of collar messages until the broker, waiting for them, stopped sending.
//! Commands have their own connection, speaking MQTT 3.1.1 with its own in-flight window,
//! so nothing they do can hold an acknowledgement back.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::NodeId;
use crate::config::Settings;

/// Commands queued for the connection before senders wait.
const REQUEST_CHANNEL_CAPACITY: usize = 1_000;
/// Commands sent and not yet acknowledged by the broker.
const MAX_INFLIGHT: u16 = 100;
/// First wait after the broker is lost; doubled per failure up to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(30));

/// The command connection: a client to publish with, and whether it is connected.
#[derive(Clone)]
pub struct Outbound {
    pub client: AsyncClient,
    connected: Arc<watch::Receiver<bool>>,
}

impl Outbound {
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }
}

/// Connects (and keeps reconnecting) the command client, as `{client_id}-{node}-cmd` of the
/// broker URL, with a clean session: a command is recorded in PostgreSQL before it is
/// published, and one the collar never got is sent again by whoever wants it.
pub fn connect(settings: &Settings, node: &NodeId) -> anyhow::Result<(Outbound, JoinHandle<()>)> {
    let url = super::mqtt::with_client_id(settings.mqtt_url.expose_secret(), node, "-cmd")?;
    let mut options = MqttOptions::parse_url(url)?;
    options
        .set_keep_alive(Duration::from_secs(settings.mqtt_keep_alive_s))
        .set_clean_session(true)
        .set_inflight(MAX_INFLIGHT)
        .set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    let (client, eventloop) = AsyncClient::new(options, REQUEST_CHANNEL_CAPACITY);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(drive(eventloop, tx));
    Ok((
        Outbound {
            client,
            connected: Arc::new(rx),
        },
        task,
    ))
}

/// Polls the command connection until it is disconnected on purpose.
async fn drive(mut eventloop: EventLoop, connected: watch::Sender<bool>) {
    let mut backoff = BACKOFF.0;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected.send_replace(true);
                backoff = BACKOFF.0;
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                connected.send_replace(false);
                return;
            }
            Ok(_) => {}
            Err(error) => {
                if connected.send_replace(false) {
                    tracing::warn!(%error, "lost the MQTT broker (commands); reconnecting");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}
