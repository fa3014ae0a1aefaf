//! A burst against a broker at its default settings: a stock Mosquitto lets an MQTT 3.1.1
//! subscriber have 20 messages in flight and queues 1 000 more, then drops. The server must
//! take the whole burst without weakening "acknowledged only after stored".

use std::time::Duration;

use futures_util::future::join_all;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::wait_for_all_stored;
use crate::collar::TestCollar;
use crate::fixtures::broker::PrivateBroker;
use crate::helpers::spawn_app_with;
use crate::realtime::wait_for_samples;

const COLLARS: usize = 50;
const SAMPLES_PER_COLLAR: u64 = 100;

#[actix_web::test]
async fn a_burst_from_50_collars_through_a_stock_broker_is_stored_whole() {
    let broker = PrivateBroker::start().await;
    let client_id = format!("pettysync-test-{}", Uuid::new_v4().simple());
    let url = broker.url(&client_id);
    let app = spawn_app_with(|s| s.mqtt_url = SecretString::from(url)).await;
    let owner = app.register_someone().await;
    let mut collars = Vec::new();
    for _ in 0..COLLARS {
        collars.push(TestCollar::paired(&app, &owner).await);
    }
    let db = app.mongo().await;
    // A first sample shows the server's subscription is in place.
    let first = &collars[0];
    first.publish_sample(&first.reading(0, json!({}))).await;
    wait_for_samples(&db, &first.serial, "the first sample", |s| !s.is_empty()).await;

    // Every collar at once, as fast as the broker takes them.
    let last_ts = join_all(collars.iter().map(|collar| async move {
        let mut last = json!(null);
        for seq in 1..=SAMPLES_PER_COLLAR {
            let sample = collar.reading(seq, json!({"hr": 90, "steps": 3}));
            collar.publish_sample(&sample).await;
            last = sample["ts"].clone();
        }
        last
    }))
    .await;
    for collar in &collars {
        collar.link.flushed().await;
    }

    let serials: Vec<String> = collars.iter().map(|c| c.serial.clone()).collect();
    let expected = COLLARS * SAMPLES_PER_COLLAR as usize + 1;
    wait_for_all_stored(&db, &serials, expected, Duration::from_secs(120)).await;
    let log = broker.log();
    assert!(
        log.contains(&client_id),
        "the broker logged the server:\n{log}"
    );
    assert!(
        !log.contains("Outgoing messages are being dropped"),
        "the broker dropped messages for the server:\n{log}"
    );
    // Each collar's live state shows its last sample.
    for (collar, ts) in collars.iter().zip(&last_ts) {
        let state = app.pet_state(&owner, &collar.pet_id).await;
        assert_eq!(state["last_seen"], *ts, "{state}");
    }
}
