//! The server under trouble: its broker goes away and comes back; it is stopped with
//! SIGTERM while samples are in flight. Either way, nothing acknowledged is lost.

use std::time::Duration;

use pettysync::config::Settings;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{seqs, stored_samples, wait_for_samples};
use crate::collar::{now_ms, CollarLink, TestCollar, SETTLE};
use crate::fixtures::broker::PrivateBroker;
use crate::fixtures::process::{run_ok, ServerProcess as Server};
use crate::helpers::{
    mongo_database, mqtt_url_with_client_id, poll_until, random_string, read, spawn_app_with,
    unique_serial, Isolation, TestApp,
};

/// The server's longest reconnect backoff is 30 s.
const RECONNECT: Duration = Duration::from_secs(40);

/// Polls `/readyz` until its status and MQTT check are as given; returns the body.
async fn readyz_until(app: &TestApp, status: StatusCode, mqtt: &str, within: Duration) -> Value {
    poll_until(
        &format!("/readyz {status} with mqtt {mqtt}"),
        within,
        || async move {
            let (actual, _, text) = read(app.get("/readyz", None).await).await;
            match serde_json::from_str::<Value>(&text) {
                Ok(body) if actual == status && body["checks"]["mqtt"] == mqtt => Ok(body),
                _ => Err(format!("{actual}: {text}")),
            }
        },
    )
    .await
}

#[actix_web::test]
async fn the_server_rides_out_a_broker_outage_without_losing_acknowledged_samples() {
    let mut broker = PrivateBroker::start().await;
    let broker_url = broker.url(&format!("pettysync-test-{}", Uuid::new_v4().simple()));
    let app = spawn_app_with(|settings| settings.mqtt_url = SecretString::from(broker_url)).await;
    readyz_until(&app, StatusCode::OK, "ok", SETTLE).await;
    let owner = app.register_someone().await;
    let collar = TestCollar::paired(&app, &owner).await;
    let db = app.mongo().await;
    for seq in 1..=5 {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 90})))
            .await;
    }
    wait_for_samples(&db, &collar.serial, "5 samples", |s| s.len() >= 5).await;

    broker.kill().await;
    let body = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE, "unreachable", SETTLE).await;
    assert_eq!(body["checks"]["postgres"], "ok", "{body}");
    let (status, _, _) = read(app.get("/healthz", None).await).await;
    assert_eq!(status, StatusCode::OK, "HTTP answers without the broker");
    let state = app.pet_state(&owner, &collar.pet_id).await;
    assert_eq!(state["vitals"]["hr"], 90, "{state}");

    broker.run().await;
    readyz_until(&app, StatusCode::OK, "ok", RECONNECT).await;
    for seq in 6..=10 {
        collar
            .publish_sample(&collar.reading(seq, json!({"hr": 95})))
            .await;
    }
    // The test collar reconnects by itself; everything it published is at the broker now.
    collar.link.flushed().await;
    let stored = wait_for_samples(&db, &collar.serial, "10 samples", |s| s.len() >= 10).await;
    let mut stored_seqs = seqs(&stored);
    stored_seqs.sort_unstable();
    assert_eq!(stored_seqs, (1..=10).collect::<Vec<i64>>());
}

#[actix_web::test]
async fn samples_in_flight_at_sigterm_are_all_stored_and_none_acknowledged_is_lost() {
    const SAMPLES: i64 = 200;
    let base = Settings::load().expect("the test environment's settings load");
    let isolation = Isolation::new();
    let client_id = format!("pettysync-test-{}", isolation.id);
    let prefix = format!("pettysync-test/{}", isolation.id);
    let broker = base.mqtt_url.expose_secret().to_string();
    let env = [
        ("PETTYSYNC_DATABASE_URL", isolation.database_url(&base)),
        ("PETTYSYNC_MONGODB_URL", isolation.mongodb_url(&base)),
        (
            "PETTYSYNC_REDIS_PREFIX",
            format!("pettysync:test:{}:", isolation.id),
        ),
        ("PETTYSYNC_HTTP_ADDR", "127.0.0.1:0".to_string()),
        (
            "PETTYSYNC_MQTT_URL",
            mqtt_url_with_client_id(&broker, &client_id),
        ),
        ("PETTYSYNC_MQTT_TOPIC_PREFIX", prefix.clone()),
        ("PETTYSYNC_JWT_SECRET", random_string(48)),
        ("PETTYSYNC_LOG", "info".to_string()),
        ("NO_COLOR", "1".to_string()),
    ];
    run_ok(&env, &["migrate"]).await;
    let serial = unique_serial();
    let printed = run_ok(&env, &["provision-collar", &serial]).await;
    assert!(
        printed.trim().starts_with(&serial),
        "prints `SERIAL CODE`: {printed}"
    );

    let server = Server::start(&env).await;
    let collar = CollarLink::connect_to(&broker, &prefix, &serial, false).await;
    let db = mongo_database(&isolation.mongodb_url(&base), &isolation.database_name()).await;
    let start = now_ms();
    let sample = |seq: i64| json!({"v": 1, "seq": seq, "ts": start + seq, "hr": 90, "steps": 3});
    // The first one shows that the server's subscription is in place: none can miss it.
    collar.publish_sample(&sample(1)).await;
    wait_for_samples(&db, &serial, "the first sample", |s| !s.is_empty()).await;
    for seq in 2..=SAMPLES {
        collar.publish_sample(&sample(seq)).await;
    }
    server.terminate(Duration::from_secs(60)).await;

    collar.flushed().await;
    let before = stored_samples(&db, &serial).await.len();
    if before < SAMPLES as usize {
        // The rest were never acknowledged: the broker keeps them for the server's session.
        let again = Server::start(&env).await;
        let what = format!("all {SAMPLES} samples after a restart ({before} stored before)");
        wait_for_samples(&db, &serial, &what, |s| s.len() >= SAMPLES as usize).await;
        again.terminate(Duration::from_secs(60)).await;
    }
    let mut stored = seqs(&stored_samples(&db, &serial).await);
    stored.sort_unstable();
    assert_eq!(
        stored,
        (1..=SAMPLES).collect::<Vec<i64>>(),
        "every sample stored once; {before} were stored before the restart"
    );
}
