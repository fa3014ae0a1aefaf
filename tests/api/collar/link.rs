//! One MQTT connection acting as a collar: it publishes at QoS 1, counts the broker's
//! PUBACKs, and collects the commands the server sends on its `cmd` topic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::rt::task::JoinHandle;
use actix_web::rt::time::timeout;
use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::{poll_until, TestApp};

use super::*;

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
