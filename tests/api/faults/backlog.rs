//! A backlog larger than the server buffers for MongoDB, built while MongoDB is away, through
//! a stock broker: the server's MQTT connection stays up all along (the backlog waits at the
//! broker, not in the socket in front of the ping responses), and once MongoDB returns every
//! sample is stored once. Found by the soak: the connection was dropped as dead ("Last
//! pingreq isn't acked") whenever the stores fell behind for longer than the keep-alive.

use std::time::Duration;

use pettysync::config::Settings;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::{wait_for_all_stored, Fleet};
use crate::collar::{now_ms, SETTLE};
use crate::fixtures::broker::PrivateBroker;
use crate::fixtures::switch::TcpSwitch;
use crate::helpers::{mongo_database, spawn_app_with, unique_serial};

const COLLARS: usize = 25;
/// 25 000 samples: more than the documents buffered for MongoDB (20 000) and the messages
/// forwarded to the pipeline before, so the whole path from broker to store fills up.
const SAMPLES_PER_COLLAR: i64 = 1_000;
const KEEP_ALIVE_S: u64 = 5;
/// Three keep-alives: the broker drops a client that sends nothing for one and a half.
const OUTAGE: Duration = Duration::from_secs(3 * KEEP_ALIVE_S);

#[actix_web::test]
async fn a_backlog_while_mongodb_is_away_keeps_the_broker_connection_up() {
    let base = Settings::load().expect("settings load");
    let broker = PrivateBroker::start().await;
    let (switch, _) = TcpSwitch::in_front_of(base.mongodb_url.expose_secret()).await;
    let client_id = format!("pettysync-test-{}", Uuid::new_v4().simple());
    let app = spawn_app_with(|s| {
        s.mqtt_url = SecretString::from(broker.url(&client_id));
        s.mongodb_url = SecretString::from(switch.route(s.mongodb_url.expose_secret()));
        s.mqtt_keep_alive_s = KEEP_ALIVE_S;
    })
    .await;
    let mut serials = Vec::new();
    for _ in 0..COLLARS {
        let serial = unique_serial();
        app.provision_collar(&serial).await;
        serials.push(serial);
    }
    let db = mongo_database(
        base.mongodb_url.expose_secret(),
        &app.settings.mongodb_database(),
    )
    .await;
    let fleet = Fleet::connect(&app).await;
    let start = now_ms() - 60_000;
    // A first sample shows the server's subscription is in place.
    let first = json!({"v": 1, "seq": 0, "ts": start, "steps": 1});
    fleet
        .publish(&serials[0], "telemetry", first.to_string())
        .await;
    wait_for_all_stored(&db, &serials, 1, SETTLE).await;

    switch.set(false);
    for seq in 1..=SAMPLES_PER_COLLAR {
        for serial in &serials {
            let sample = json!({"v": 1, "seq": seq, "ts": start + seq, "steps": 1});
            fleet.publish(serial, "telemetry", sample.to_string()).await;
        }
    }
    fleet.flushed(SETTLE * 6).await;
    actix_web::rt::time::sleep(OUTAGE).await;
    switch.set(true);

    let total = COLLARS * SAMPLES_PER_COLLAR as usize + 1;
    wait_for_all_stored(&db, &serials, total, Duration::from_secs(180)).await;
    let log = broker.log();
    // The node's session: the URL's client id, then its node id (`:` as `-`).
    let node = pettysync::cluster::node_id(&app.settings);
    let session = format!("{client_id}-{}", node.as_str().replace(':', "-"));
    let connects = log.matches(&format!(" as {session} (")).count();
    assert_eq!(
        connects, 1,
        "the server's connection never dropped while the stores were behind:\n{log}"
    );
    assert!(
        !log.contains("Outgoing messages are being dropped"),
        "the broker dropped messages for the server:\n{log}"
    );
}
