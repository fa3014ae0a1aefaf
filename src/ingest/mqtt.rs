//! The server's MQTT connection. The event loop only polls and reports; it never does work
//! that would stall the connection's keep-alive.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;

/// Requests (publishes, subscribes) queued for the event loop before `publish` waits.
const REQUEST_CHANNEL_CAPACITY: usize = 1024;
/// First wait after the broker is lost; doubled per failure up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// The cloneable side of the connection, and whether the broker is reachable now.
#[derive(Clone)]
pub struct MqttLink {
    pub client: AsyncClient,
    connected: watch::Receiver<bool>,
}

impl MqttLink {
    /// True while the broker has acknowledged our connection.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }
}

/// Parses the broker URL (its `client_id` query parameter names this server to the broker).
pub fn options(settings: &Settings) -> Result<MqttOptions, rumqttc::OptionError> {
    let mut options = MqttOptions::parse_url(settings.mqtt_url.expose_secret())?;
    options.set_keep_alive(KEEP_ALIVE);
    options.set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    Ok(options)
}

/// Starts the connection; it keeps reconnecting with backoff until the task is aborted.
pub fn connect(settings: &Settings) -> anyhow::Result<(MqttLink, JoinHandle<()>)> {
    let (client, eventloop) = AsyncClient::new(options(settings)?, REQUEST_CHANNEL_CAPACITY);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(drive(eventloop, tx));
    Ok((
        MqttLink {
            client,
            connected: rx,
        },
        task,
    ))
}

async fn drive(mut eventloop: EventLoop, connected: watch::Sender<bool>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!("connected to the MQTT broker");
                connected.send_replace(true);
                backoff = MIN_BACKOFF;
            }
            Ok(_) => {}
            Err(error) => {
                if connected.send_replace(false) {
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
