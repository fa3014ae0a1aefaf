//! The guarantees tested the way they break in production (issue: "Nothing lost, nothing
//! leaked"): a burst against a broker at its default settings, stores cut off behind a TCP
//! proxy, an oversized message, SIGTERM while a store is away, and `kill -9` mid-ingest.
//!
//! - `burst`: 50 collars publishing as fast as they can through a stock Mosquitto;
//! - `backlog`: 25 000 samples held up while MongoDB is away, through a stock Mosquitto;
//! - `postgres`: lookups and alerts while PostgreSQL is away;
//! - `s3`: voice clips and telemetry while S3 is away;
//! - `hostile`: a 1 MiB message among other collars' telemetry, and topics no collar may use;
//! - `mongo`: a 30 s MongoDB outage with a SIGTERM in it;
//! - `crash`: `kill -9` during ingest of 20 000 samples, and an alert raised at SIGTERM.

mod backlog;
mod burst;
mod crash;
mod hostile;
mod mongo;
mod postgres;
mod redis;
mod s3;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{doc, Document};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use uuid::Uuid;

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::collar::{TestCollar, SETTLE};
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{expect_json, poll_until, string_at, TestApp, TestUser};
use crate::realtime::{documents, int_field, park, wait_for_state, PARK_CENTRE};

/// One MQTT connection publishing for many collars (the server does not care which
/// connection a collar's topic comes from), so a test can drive hundreds of collars cheaply.
pub struct Fleet {
    client: AsyncClient,
    prefix: String,
    published: AtomicUsize,
    acked: Arc<AtomicUsize>,
}

impl Fleet {
    /// Connects to the broker of `app`.
    pub async fn connect(app: &TestApp) -> Fleet {
        use secrecy::ExposeSecret;
        let url = url::Url::parse(app.settings.mqtt_url.expose_secret()).expect("a broker URL");
        let mut options = MqttOptions::new(
            format!("test-fleet-{}", Uuid::new_v4().simple()),
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(1883),
        );
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_inflight(1000);
        let (client, mut event_loop) = AsyncClient::new(options, 10_000);
        let acked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&acked);
        actix_web::rt::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => actix_web::rt::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Fleet {
            client,
            prefix: app.settings.mqtt_topic_prefix.clone(),
            published: AtomicUsize::new(0),
            acked,
        }
    }

    /// Publishes `payload` at QoS 1 on a collar's channel.
    pub async fn publish(&self, serial: &str, channel: &str, payload: String) {
        let topic = format!("{}/collars/{serial}/{channel}", self.prefix);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("the MQTT client queues a publish");
        self.published.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until the broker acknowledged everything published so far.
    pub async fn flushed(&self, within: Duration) {
        poll_until("the broker to take every publish", within, || async {
            let (acked, published) = (
                self.acked.load(Ordering::SeqCst),
                self.published.load(Ordering::SeqCst),
            );
            if acked >= published {
                Ok(())
            } else {
                Err(format!("{acked} of {published} acknowledged"))
            }
        })
        .await;
    }
}

/// The `(serial, seq)` of every stored sample of these collars.
pub async fn stored_pairs(db: &mongodb::Database, serials: &[String]) -> Vec<(String, i64)> {
    let filter = doc! { "meta.collar": { "$in": serials } };
    documents(db, "telemetry", filter)
        .await
        .iter()
        .map(|d: &Document| {
            let meta = d.get_document("meta").expect("a sample has meta");
            (
                meta.get_str("collar")
                    .expect("meta has the collar")
                    .to_owned(),
                int_field(d, "seq").expect("a sample has a seq"),
            )
        })
        .collect()
}

/// Waits until `expected` samples of these collars are stored; fails if any is stored twice.
pub async fn wait_for_all_stored(
    db: &mongodb::Database,
    serials: &[String],
    expected: usize,
    within: Duration,
) {
    let pairs = poll_until(&format!("{expected} samples stored"), within, || async {
        let pairs = stored_pairs(db, serials).await;
        if pairs.len() >= expected {
            Ok(pairs)
        } else {
            Err(format!("{} stored", pairs.len()))
        }
    })
    .await;
    let unique: HashSet<_> = pairs.iter().collect();
    assert_eq!(
        unique.len(),
        pairs.len(),
        "every sample stored once ({} stored, {} distinct)",
        pairs.len(),
        unique.len()
    );
    assert_eq!(pairs.len(), expected, "no sample more than sent");
}

/// The documents of the alert outbox.
pub async fn outbox(db: &mongodb::Database) -> Vec<Document> {
    documents(db, "alert_outbox", doc! {}).await
}

/// Waits until the alert outbox holds `count` alerts (durable, not yet in PostgreSQL).
pub async fn wait_for_outbox(db: &mongodb::Database, count: usize) {
    poll_until(
        &format!("{count} alerts in the outbox"),
        SETTLE,
        || async move {
            let held = outbox(db).await.len();
            if held >= count {
                Ok(())
            } else {
                Err(format!("{held} held"))
            }
        },
    )
    .await;
}

/// A switch in front of the test environment's PostgreSQL.
pub async fn postgres_switch() -> TcpSwitch {
    let base = Settings::load().expect("the test environment's settings load");
    TcpSwitch::in_front_of(base.database_url.expose_secret())
        .await
        .0
}

impl TcpSwitch {
    /// Points a server's PostgreSQL at this switch (which fronts PostgreSQL).
    pub fn route_postgres(&self, settings: &mut Settings) {
        let routed = self.route(settings.database_url.expose_secret());
        settings.database_url = SecretString::from(routed);
    }
}

/// Gives the collar's pet a safe zone (a park) and puts the pet inside it.
pub async fn inside_the_park(app: &TestApp, owner: &TestUser, collar: &TestCollar) {
    let fence = json!({"name": "Park", "kind": "safe", "geometry": park()});
    let path = format!("/v1/pets/{}/geofences", collar.pet_id);
    let created = app.post(&path, owner.bearer(), &fence).await;
    let fence_id = string_at(&expect_json(created, StatusCode::CREATED).await, "/id");
    let (lat, lon) = PARK_CENTRE;
    collar
        .publish_sample(&collar.sample(1, lat, lon, 5.0, json!({})))
        .await;
    wait_for_state(app, owner, &collar.pet_id, "inside the park", |state| {
        state["geofences"]["inside"] == json!([fence_id])
    })
    .await;
}
