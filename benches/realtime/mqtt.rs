//! The bench's MQTT publishers: QoS 1 connections that count their PUBACKs and CONNACKs,
//! and how a number of messages is shared out over them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use tokio::sync::oneshot;

/// Publisher connections (collars are dealt out over them).
pub(crate) const PUBLISHERS: usize = 4;
/// QoS 1 messages a bench publisher has in flight (rumqttc's default is 100).
pub(crate) const PUBLISHER_INFLIGHT: u16 = 1000;

/// A QoS 1 publisher connection and its count of PUBACKs.
pub(crate) struct Publisher {
    pub(crate) client: AsyncClient,
    pub(crate) acked: Arc<AtomicU64>,
    /// CONNACKs so far: it grows when the client reconnects to a restarted broker.
    pub(crate) connacks: Arc<AtomicU64>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

pub(crate) fn client_options(client_id: String, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_inflight(PUBLISHER_INFLIGHT)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    options
}

/// Connects and waits for the broker's CONNACK.
pub(crate) async fn publisher(port: u16, client_id: String) -> anyhow::Result<Publisher> {
    let (client, mut event_loop) = AsyncClient::new(client_options(client_id, port), 1000);
    let acked = Arc::new(AtomicU64::new(0));
    let connacks = Arc::new(AtomicU64::new(0));
    let (up_tx, up_rx) = oneshot::channel();
    let driver = tokio::spawn({
        let (acked, connacks) = (Arc::clone(&acked), Arc::clone(&connacks));
        async move {
            let mut up = Some(up_tx);
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connacks.fetch_add(1, Ordering::Relaxed);
                        if let Some(up) = up.take() {
                            let _ = up.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    // rumqttc reconnects on the next poll; the phase's deadline bounds the wait.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    let publisher = Publisher {
        client,
        acked,
        connacks,
        driver,
    };
    tokio::time::timeout(Duration::from_secs(10), up_rx)
        .await
        .context("no CONNACK from the broker within 10 s")?
        .context("the MQTT event loop stopped")?;
    Ok(publisher)
}

pub(crate) async fn publishers(port: u16, name: &str) -> anyhow::Result<Vec<Publisher>> {
    let mut connected = Vec::with_capacity(PUBLISHERS);
    for p in 0..PUBLISHERS {
        connected.push(publisher(port, format!("{name}-{p}")).await?);
    }
    Ok(connected)
}

/// This publisher's part of `total`.
pub(crate) fn share_of(total: usize, publisher: usize) -> usize {
    total / PUBLISHERS + usize::from(publisher < total % PUBLISHERS)
}
