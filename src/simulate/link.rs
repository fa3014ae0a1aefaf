//! One collar's MQTT connection: its topics, its broker options (client id, Last Will), and
//! [`Link`], the client to publish with plus the task that only polls the event loop and
//! forwards what matters ([`drive`]), reconnecting with bounded backoff.

use std::time::Duration;

use anyhow::Context as _;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions};
use rumqttc::{Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use url::Url;

use super::wire::OFFLINE_STATUS;

/// Requests a collar may queue for its event loop; when full, samples wait in the backlog.
const REQUEST_CHANNEL_CAPACITY: usize = 32;
/// QoS 1 publishes the broker has not acknowledged yet, at most: past it the event loop
/// takes no more requests, so a backfill goes at the pace the broker (and the server
/// behind it) acknowledges.
const MAX_IN_FLIGHT: u16 = 8;
/// Connection events (up, down, commands) queued from an event loop to its collar.
const LINK_EVENT_CAPACITY: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Batches and voice clips exceed rumqttc's 10 KiB default; the protocol allows 256 KiB.
const MAX_OUTGOING_PACKET: usize = 256 * 1024;
const MAX_INCOMING_PACKET: usize = 16 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a clean stop waits for DISCONNECT to be written before giving up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

/// Topics of one collar.
pub(super) struct Topics {
    pub(super) telemetry: String,
    pub(super) voice: String,
    pub(super) status: String,
    pub(super) cmd: String,
    pub(super) ack: String,
}

impl Topics {
    pub(super) fn new(prefix: &str, serial: &str) -> Topics {
        let base = format!("{prefix}/collars/{serial}");
        Topics {
            telemetry: format!("{base}/telemetry"),
            voice: format!("{base}/voice"),
            status: format!("{base}/status"),
            cmd: format!("{base}/cmd"),
            ack: format!("{base}/cmd/ack"),
        }
    }
}

/// Broker options for one collar: the broker URL with the serial as client id, and the
/// collar's Last Will (per connection, hence one connection per collar).
pub(super) fn mqtt_options(
    broker: &Url,
    serial: &str,
    status_topic: &str,
) -> anyhow::Result<MqttOptions> {
    let mut url = broker.clone();
    let query: Vec<(String, String)> = broker
        .query_pairs()
        .filter(|(key, _)| key != "client_id")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(query)
        .append_pair("client_id", serial);
    // The error names the setting, not the URL: it may hold a password.
    let mut options = MqttOptions::try_from(url).context("broker URL is not a usable MQTT URL")?;
    options
        .set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY)
        .set_inflight(MAX_IN_FLIGHT)
        .set_last_will(LastWill::new(
            status_topic,
            OFFLINE_STATUS,
            QoS::AtLeastOnce,
            true,
        ));
    Ok(options)
}

/// What an event loop tells its collar.
pub(super) enum LinkEvent {
    Up,
    Down,
    Command(Vec<u8>),
}

/// One MQTT connection: the client to publish with and the task polling its event loop.
pub(super) struct Link {
    pub(super) client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
    task: JoinHandle<()>,
}

impl Link {
    pub(super) fn open(options: &MqttOptions) -> Link {
        let (client, eventloop) = AsyncClient::new(options.clone(), REQUEST_CHANNEL_CAPACITY);
        let (sender, events) = mpsc::channel(LINK_EVENT_CAPACITY);
        let task = tokio::spawn(drive(eventloop, sender).in_current_span());
        Link {
            client,
            events,
            task,
        }
    }

    /// Dropping the event loop closes the socket without DISCONNECT: the broker then
    /// publishes the Last Will, as for a collar that walked out of coverage.
    pub(super) fn drop_abruptly(self) {
        self.task.abort();
    }

    /// Sends DISCONNECT (so no Last Will) and waits briefly for the event loop to write it;
    /// without a connection (`connected` false) there is nothing to wait for.
    pub(super) async fn close(mut self, connected: bool) {
        if connected && self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(DISCONNECT_GRACE, &mut self.task).await;
        }
        self.task.abort();
    }
}

/// Polls one connection and forwards what matters, reconnecting with bounded backoff. The
/// awaits on `events` are short: a collar never waits on the network (it only `try_publish`es),
/// so it always drains them.
async fn drive(mut eventloop: EventLoop, events: mpsc::Sender<LinkEvent>) {
    let mut backoff = MIN_BACKOFF;
    let mut up = false;
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = MIN_BACKOFF;
                up = true;
                LinkEvent::Up
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                LinkEvent::Command(publish.payload.to_vec())
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(ConnectionError::RequestsDone) => {
                return
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(%error, ?backoff, "collar lost the broker");
                if std::mem::take(&mut up) && events.send(LinkEvent::Down).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// The next event of the current connection; never resolves while there is none.
pub(super) async fn next_event(link: &mut Option<Link>) -> Option<LinkEvent> {
    match link {
        Some(link) => link.events.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_collar_connects_under_its_own_serial_with_a_last_will() {
        let broker = Url::parse("mqtt://127.0.0.1:1883?client_id=other&keep_alive_secs=5").unwrap();
        let options = mqtt_options(&broker, "SIM-0001", "p/collars/SIM-0001/status").unwrap();
        assert_eq!(options.client_id(), "SIM-0001");
        assert_eq!(options.broker_address(), ("127.0.0.1".to_owned(), 1883));
        assert_eq!(options.keep_alive(), KEEP_ALIVE);
        let will = options.last_will().unwrap();
        assert_eq!(
            (will.topic.as_str(), will.retain),
            ("p/collars/SIM-0001/status", true)
        );
        assert_eq!(&will.message[..], OFFLINE_STATUS.as_bytes());
    }
}
